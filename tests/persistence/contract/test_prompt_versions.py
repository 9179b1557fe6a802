"""Contract: prompt parts have immutable numbered versions, and labels that move atomically."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from coach.errors import ConcurrencyError, NotFoundError
from coach.persistence import DatabaseInterface, PromptVersion
from coach.persistence.base import MAX_PAGE_SIZE

from . import builders as b


def draft(part: str = "persona", body: str = "You are a coach.", **fields: object) -> PromptVersion:
    return PromptVersion(part=part, body=body, **fields)  # type: ignore[arg-type]


async def test_versions_are_numbered_from_1_per_part_and_round_trip(db: DatabaseInterface) -> None:
    """Each part numbers its own versions 1, 2, 3; every field comes back as saved."""
    full = draft(
        "introduction",
        "Hello {{ client_name }}",
        front_matter={"kind": "phase", "allowed_actions": ["save_user_info"], "variables": {}},
        author="ana",
        note="warmer opening",
        created_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    )
    first = await db.add_prompt_version(full)
    second = await db.add_prompt_version(draft("introduction", "Hi"))
    other = await db.add_prompt_version(draft("persona"))
    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert first == full.model_copy(update={"version": 1})
    assert await db.get_prompt_version("introduction", 1) == first
    assert await db.get_prompt_version("introduction", 3) is None
    assert await db.get_prompt_version("no-such-part", 1) is None
    assert first.ref == "introduction@1"


async def test_versions_list_in_pages_oldest_first(db: DatabaseInterface) -> None:
    for i in range(5):
        await db.add_prompt_version(draft(body=f"text {i}"))
    listed = await db.list_prompt_versions("persona")
    assert [(v.version, v.body) for v in listed] == [(i + 1, f"text {i}") for i in range(5)]
    assert [v.version for v in await db.list_prompt_versions("persona", after_version=3)] == [4, 5]
    page = await db.list_prompt_versions("persona", after_version=1, limit=2)
    assert [v.version for v in page] == [2, 3]
    assert await db.list_prompt_versions("no-such-part") == []
    for limit in (0, MAX_PAGE_SIZE + 1):
        with b.raises(ValueError):
            await db.list_prompt_versions("persona", limit=limit)
    with b.raises(ValueError):
        await db.list_prompt_versions("persona", after_version=-1)


async def test_a_version_is_immutable(db: DatabaseInterface) -> None:
    """There is no way to change a version: changing a returned copy changes nothing stored,
    and other content is a new version."""
    saved = await db.add_prompt_version(draft(body="one"))
    saved.body = "changed in the caller's copy"
    assert (await db.get_prompt_version("persona", 1)).body == "one"  # type: ignore[union-attr]
    assert (await db.add_prompt_version(draft(body="two"))).version == 2


async def test_the_same_content_is_one_version(db: DatabaseInterface) -> None:
    """Saving the content of an existing version returns that version, as it was saved, even
    when saved several times at once; other front matter is other content."""
    first = await db.add_prompt_version(draft(body="one", note="first", author="ana"))
    await db.add_prompt_version(draft(body="two"))
    again = await db.add_prompt_version(draft(body="one", note="again", author="bo"))
    assert again == first
    at_once = await asyncio.gather(*(db.add_prompt_version(draft(body="three")) for _ in range(4)))
    assert {v.version for v in at_once} == {3}
    other = await db.add_prompt_version(draft(body="one", front_matter={"kind": "part"}))
    assert other.version == 4
    assert [v.version for v in await db.list_prompt_versions("persona")] == [1, 2, 3, 4]


async def test_bad_versions_are_refused_and_change_nothing(db: DatabaseInterface) -> None:
    with b.raises(ValueError, match="numbered by the store"):
        await db.add_prompt_version(draft(version=7))
    for body in ("", "   \n"):
        with b.raises(ValueError, match="needs a body"):
            await db.add_prompt_version(draft(body=body))
    assert await db.list_prompt_versions("persona") == []


async def test_labels_move_with_the_revision_they_saw(db: DatabaseInterface) -> None:
    for body in ("one", "two"):
        await db.add_prompt_version(draft(body=body))
    created = await db.set_prompt_label("persona", "active", 1, expected_revision=None, by="ana")
    assert (created.version, created.revision, created.updated_by) == (1, 1, "ana")
    moved = await db.set_prompt_label("persona", "active", 2, expected_revision=1, by="bo")
    assert (moved.version, moved.revision) == (2, 2)
    back = await db.set_prompt_label("persona", "active", 1, expected_revision=2)
    assert (back.version, back.revision) == (1, 3)
    assert await db.list_prompt_labels("persona") == [back]


async def test_stale_label_moves_are_refused_and_change_nothing(db: DatabaseInterface) -> None:
    for body in ("one", "two", "three"):
        await db.add_prompt_version(draft(body=body))
    await db.set_prompt_label("persona", "active", 1, expected_revision=None)
    await db.set_prompt_label("persona", "active", 2, expected_revision=1, by="bo")
    with b.raises(ConcurrencyError, match="points at version 2 .*bo"):
        await db.set_prompt_label("persona", "active", 3, expected_revision=1)
    with b.raises(ConcurrencyError):  # created already
        await db.set_prompt_label("persona", "active", 3, expected_revision=None)
    with b.raises(ConcurrencyError, match="does not exist"):
        await db.set_prompt_label("persona", "draft", 3, expected_revision=1)
    [label] = await db.list_prompt_labels()
    assert (label.label, label.version, label.revision) == ("active", 2, 2)


async def test_a_label_points_only_at_a_version_of_its_own_part(db: DatabaseInterface) -> None:
    """Version 3 exists for ``welcome``, not for ``persona``: the label of persona cannot
    point at it; nor at any version of a part without versions."""
    await db.add_prompt_version(draft("persona"))
    for _ in range(3):
        await db.add_prompt_version(draft("welcome"))
    with b.raises(NotFoundError, match="'persona' has no version 3"):
        await db.set_prompt_label("persona", "active", 3, expected_revision=None)
    with b.raises(NotFoundError):
        await db.set_prompt_label("no-such-part", "active", 1, expected_revision=None)
    with b.raises(ValueError):
        await db.set_prompt_label("persona", " ", 1, expected_revision=None)
    assert await db.list_prompt_labels() == []


async def test_labels_list_by_part_and_label(db: DatabaseInterface) -> None:
    for part in ("welcome", "persona"):
        await db.add_prompt_version(draft(part))
        for label in ("draft", "active"):
            await db.set_prompt_label(part, label, 1, expected_revision=None)
    listed = [(x.part, x.label) for x in await db.list_prompt_labels()]
    assert listed == [
        ("persona", "active"),
        ("persona", "draft"),
        ("welcome", "active"),
        ("welcome", "draft"),
    ]
    assert [x.label for x in await db.list_prompt_labels("welcome")] == ["active", "draft"]


async def test_two_coaches_activating_at_once_give_one_winner(db: DatabaseInterface) -> None:
    for body in ("one", "two", "three"):
        await db.add_prompt_version(draft(body=body))
    await db.set_prompt_label("persona", "active", 1, expected_revision=None)
    results = await asyncio.gather(
        db.set_prompt_label("persona", "active", 2, expected_revision=1, by="ana"),
        db.set_prompt_label("persona", "active", 3, expected_revision=1, by="bo"),
        return_exceptions=True,
    )
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1 and [type(e) for e in lost] == [ConcurrencyError]
    [label] = await db.list_prompt_labels()
    assert (label.version, label.revision, label.updated_by) == (
        won[0].version,
        2,
        won[0].updated_by,
    )


async def test_versions_saved_at_once_get_distinct_numbers(db: DatabaseInterface) -> None:
    saved = await asyncio.gather(*(db.add_prompt_version(draft(body=f"v{i}")) for i in range(8)))
    assert sorted(v.version or 0 for v in saved) == list(range(1, 9))
    listed = await db.list_prompt_versions("persona")
    assert {v.body for v in listed} == {f"v{i}" for i in range(8)}
