"""``python -m coach export|import`` through a real subprocess: a session and a user round trip
between two SQLite files; bad bundles and taken ids are refused with a message and change
nothing; a 50 MB file is refused before it is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coach.demo import DEMO_STEPS, play_demo
from coach.persistence.factory import create_database_from_url
from tests.engine.test_cli import coach, stored
from tests.engine.test_cli_prompts import TITLE, demo_session, edited, ok


def database(tmp_path: Path, name: str) -> str:
    url = f"sqlite:///{tmp_path / name}"
    assert coach(url, "init-db").returncode == 0
    return url


@pytest.fixture
def source(tmp_path: Path) -> str:
    return database(tmp_path, "source.db")


def run_ok(url: str, *args: str) -> str:
    done = coach(url, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_session_and_a_user_round_trip_between_databases(tmp_path: Path, source: str) -> None:
    session = demo_session(source)
    text = run_ok(source, "export", session)
    bundle = json.loads(text)
    assert bundle["format"] == "identity-coach-bundle" and bundle["format_version"] == 2
    user_id = bundle["records"]["users"][0]["id"]
    path = tmp_path / "session.bundle.json"
    path.write_text(text)
    target = database(tmp_path, "target.db")
    out = run_ok(target, "import", str(path), "--keep-ids")
    assert "imported 1 user(s) and 1 session(s) (with their own ids)" in out
    again = json.loads(run_ok(target, "export", session))
    # Equal, whole; but the prompt versions: both databases loaded the same prompt files
    # (init-db), each at its own time, and the import left the target's as they were.
    prompts = [b["records"].pop("prompt_versions") for b in (again, bundle)]
    assert again["records"] == bundle["records"]
    contents = [[(v["part"], v["version"], v["body"]) for v in p] for p in prompts]
    assert contents[0] == contents[1] and contents[0]
    # A second import: the same ids are taken now; under new ids it goes in.
    before = stored(target)
    taken = coach(target, "import", str(path), "--keep-ids")
    assert taken.returncode == 1 and "these ids are stored already" in taken.stderr
    assert stored(target) == before
    assert "under new ids" in run_ok(target, "import", str(path))
    user = json.loads(run_ok(source, "export", "--user", user_id))
    assert [s["session_id"] for s in user["records"]["sessions"]] == [session]


def test_a_prompt_version_numbered_otherwise_here_is_renumbered_and_said(
    tmp_path: Path, source: str
) -> None:
    """Each database saved an introduction of its own as version 2: the import stores the
    bundle's as version 3 and says so."""
    for folder in ("a", "c"):
        (tmp_path / folder).mkdir()
    mine = edited(tmp_path / "a", source, TITLE, "# Right now: version A")
    assert ok(source, "new", "introduction", "--file", str(mine), "--note", "A").strip() == (
        "saved introduction@2"
    )
    ok(source, "activate", "introduction", "2")
    path = tmp_path / "session.bundle.json"
    path.write_text(run_ok(source, "export", demo_session(source)))
    target = database(tmp_path, "target.db")
    theirs = edited(tmp_path / "c", target, TITLE, "# Right now: version C")
    ok(target, "new", "introduction", "--file", str(theirs), "--note", "C")
    out = run_ok(target, "import", str(path))
    assert "prompt version introduction@2 is introduction@3 here" in out
    assert "# Right now: version A" in ok(target, "show", "introduction", "--version", "3")


async def test_the_size_limit_is_a_setting_and_export_warns_past_it(
    tmp_path: Path, source: str
) -> None:
    db = create_database_from_url(source)
    await db.initialize()
    try:
        long = await play_demo(db, steps=DEMO_STEPS * 8)  # 80 turns: a bundle of 1-2 MB
    finally:
        await db.close()
    exported = coach(source, "export", long.session_id, COACH_MAX_BUNDLE_MB="1")
    assert exported.returncode == 0, exported.stderr
    assert 1_000_000 < len(exported.stdout.encode()) < 2_000_000
    assert "warning: this bundle cannot be imported as things are" in exported.stderr
    path = tmp_path / "long.bundle.json"
    path.write_text(exported.stdout)
    target = database(tmp_path, "target.db")
    refused = coach(target, "import", str(path), COACH_MAX_BUNDLE_MB="1")
    assert refused.returncode == 1
    assert "at most 1 MB can be imported. Raise COACH_MAX_BUNDLE_MB" in refused.stderr
    assert "imported 1 user(s)" in run_ok(target, "import", str(path))  # 25 MB by default
    assert "warning" not in coach(source, "export", long.session_id).stderr


def test_bad_files_are_refused_with_a_message_and_change_nothing(
    tmp_path: Path, source: str
) -> None:
    session = demo_session(source)
    text = run_ok(source, "export", session)
    target = database(tmp_path, "target.db")
    before = stored(target)
    cut = tmp_path / "cut.json"
    cut.write_text(text[:1000])
    huge = tmp_path / "huge.json"
    with huge.open("wb") as out:  # 50 MB, sparse: refused by its size, never read
        out.truncate(50_000_000)
    for args, problem in (
        (("import", str(cut)), "not JSON"),
        (("import", str(huge)), "the bundle is 50.0 MB; at most 25 MB"),
        (("import", str(tmp_path / "missing.json")), "cannot read"),
        (("export",), "name a session, or a user with --user"),
        (("export", "nope"), "session nope does not exist"),
    ):
        done = coach(target, *args)
        assert done.returncode == 1, (args, done.stdout)
        assert problem in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert stored(target) == before
