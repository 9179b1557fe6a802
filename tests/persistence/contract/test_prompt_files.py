"""Contract: the prompt files load as versions; loading again stores nothing, a changed file
stores exactly one version, and a coach's activation survives file changes."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from coach.persistence import DatabaseInterface
from coach.prompts import DEFAULT_PROMPT_DIR, PromptError
from coach.prompts.loader import load_prompt_folder
from coach.prompts.store import ACTIVE, DEFAULT, load_prompt_files, version_of

PARTS = sorted(load_prompt_folder(DEFAULT_PROMPT_DIR))


@pytest.fixture
def files(tmp_path: Path) -> Path:
    folder = tmp_path / "prompts"
    shutil.copytree(DEFAULT_PROMPT_DIR, folder)
    return folder


def edit(folder: Path, part: str, old: str, new: str) -> None:
    path = folder / f"{part}.md"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


async def versions(db: DatabaseInterface) -> dict[str, list[int]]:
    return {p: [v.version or 0 for v in await db.list_prompt_versions(p)] for p in PARTS}


async def labels(db: DatabaseInterface) -> dict[tuple[str, str], tuple[int, int]]:
    return {(x.part, x.label): (x.version, x.revision) for x in await db.list_prompt_labels()}


async def test_every_file_becomes_version_1_active_and_default(
    db: DatabaseInterface, files: Path
) -> None:
    loaded = await load_prompt_files(db, files)
    assert [x.part for x in loaded] == PARTS
    assert all((x.version, x.changed, x.active) == (1, True, 1) for x in loaded)
    assert await versions(db) == {p: [1] for p in PARTS}
    assert await labels(db) == {(p, x): (1, 1) for p in PARTS for x in (ACTIVE, DEFAULT)}
    intro = await db.get_prompt_version("introduction", 1)
    assert intro is not None and intro.author == "prompt files"
    assert intro.front_matter["allowed_actions"] == ["save_user_info", "transition_state"]
    assert "introduction.md" in intro.note


async def test_loading_twice_stores_nothing(db: DatabaseInterface, files: Path) -> None:
    await load_prompt_files(db, files)
    before = (await versions(db), await labels(db))
    again = await load_prompt_files(db, files)
    assert not any(x.changed for x in again)
    assert (await versions(db), await labels(db)) == before


async def test_loading_at_once_stores_each_file_once(db: DatabaseInterface, files: Path) -> None:
    await asyncio.gather(load_prompt_files(db, files), load_prompt_files(db, files))
    assert await versions(db) == {p: [1] for p in PARTS}
    assert {v for v, _ in (await labels(db)).values()} == {1}


async def test_a_changed_file_is_exactly_one_new_version_and_active(
    db: DatabaseInterface, files: Path
) -> None:
    await load_prompt_files(db, files)
    edit(files, "introduction", "# Right now: getting started", "# Right now: first steps")
    loaded = {x.part: x for x in await load_prompt_files(db, files)}
    assert (loaded["introduction"].version, loaded["introduction"].changed) == (2, True)
    assert not any(x.changed for p, x in loaded.items() if p != "introduction")
    assert (await versions(db))["introduction"] == [1, 2]
    first = await db.get_prompt_version("introduction", 1)
    assert first is not None and "# Right now: getting started" in first.body  # never changed
    assert (await labels(db))[("introduction", ACTIVE)] == (2, 2)
    await load_prompt_files(db, files)
    assert (await versions(db))["introduction"] == [1, 2]


async def test_a_coachs_activation_survives_a_changed_file(
    db: DatabaseInterface, files: Path
) -> None:
    await load_prompt_files(db, files)
    persona = load_prompt_folder(files)["persona"]
    mine = await db.add_prompt_version(
        version_of(persona, author="ana", note="mine").model_copy(update={"body": "Be brief."})
    )
    await db.set_prompt_label("persona", ACTIVE, 2, expected_revision=1, by="ana")
    assert mine.version == 2
    edit(files, "persona", "You are", "You are truly")
    [loaded] = [x for x in await load_prompt_files(db, files) if x.part == "persona"]
    assert (loaded.version, loaded.active) == (3, 2)
    assert "version 2 stays active" in loaded.describe()
    assert (await labels(db))[("persona", DEFAULT)] == (3, 2)
    assert (await labels(db))[("persona", ACTIVE)] == (2, 2)


async def test_an_invalid_folder_stores_nothing(db: DatabaseInterface, files: Path) -> None:
    edit(files, "introduction", "{{ client_name }}", "{{ client_nmae }}")
    with pytest.raises(PromptError, match="client_nmae"):
        await load_prompt_files(db, files)
    assert await versions(db) == {p: [] for p in PARTS}
    assert await db.list_prompt_labels() == []
