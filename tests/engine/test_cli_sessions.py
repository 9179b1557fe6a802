"""``python -m coach fork|replay|resume|compare`` through a real subprocess on a SQLite file:
output, exit status, and refusals that change nothing. An exact replay that differs exits 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coach.persistence.factory import create_database_from_url
from devtools.fake_openai import FakeOpenAIServer, FakeReply
from tests.engine.test_cli import coach, stored
from tests.engine.test_cli_prompts import demo_session
from tests.records import stopped_replay


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'sessions.db'}"
    assert coach(url, "init-db").returncode == 0
    return url


def ok(url: str, *args: str, **env: str) -> str:
    done = coach(url, *args, **env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_exact_replay_fork_and_compare(db_url: str) -> None:
    source = demo_session(db_url)
    replayed = json.loads(ok(db_url, "replay", source, "--exact", "--json"))
    assert (replayed["status"], replayed["kind"], replayed["differences"]) == (
        "done",
        "replay_exact",
        [],
    )
    assert replayed["turns_done"] == replayed["turns_total"] == 10
    text = ok(db_url, "replay", source, "--exact")
    assert "no difference from the source" in text

    forked = json.loads(ok(db_url, "fork", source, "--at", "4", "--json"))
    assert (forked["kind"], forked["at_turn"], forked["source_session_id"]) == ("fork", 4, source)

    same = json.loads(ok(db_url, "fork", source, "--at", "3", "--same-client", "--json"))
    assert (same["status"], same["at_turn"], same["turns_done"]) == ("done", 3, 3)

    compared = json.loads(ok(db_url, "compare", source, forked["session_id"], "--json"))
    assert compared["first_divergence"] == 5  # the fork has no turn 5
    assert (compared["a"]["turns"], compared["b"]["turns"]) == (10, 4)
    same = ok(db_url, "compare", source, replayed["session_id"])
    assert "no divergence" in same and "cost $0.0000" in same  # scripted and replayed: free


def test_refusals_say_what_to_fix_and_change_nothing(db_url: str) -> None:
    source = demo_session(db_url)
    before = stored(db_url)
    for args, problem in (
        (("fork", source, "--at", "11"), "there is no turn 11"),
        (("fork", "nope", "--at", "1"), "session nope does not exist"),
        (("replay", source, "--exact", "--label", "draft"), "choose a live replay"),
        (("compare", source, "nope"), "session nope does not exist"),
    ):
        done = coach(db_url, *args)
        assert done.returncode == 1, (args, done.stdout)
        assert problem in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert stored(db_url) == before
    missing_mode = coach(db_url, "replay", source)
    assert missing_mode.returncode == 2 and "--exact" in missing_mode.stderr


def test_a_live_replay_asks_the_model_through_the_openai_sdk(
    db_url: str, fake_openai: FakeOpenAIServer
) -> None:
    source = demo_session(db_url)
    fake_openai.default = FakeReply(content=json.dumps({"message": "Live.", "actions": []}))
    env = {"COACH_OPENAI_API_KEY": "sk-test", "COACH_OPENAI_BASE_URL": fake_openai.base_url}
    live = json.loads(
        ok(db_url, "replay", source, "--live", "--provider", "openai", "--json", **env)
    )
    assert (live["kind"], live["status"], live["turns_done"]) == ("replay_live", "done", 10)
    assert live["model"].startswith("openai/")
    assert len(fake_openai.requests) == 10
    assert live["differences"]  # the live model did none of the recorded actions


async def test_a_stopped_replay_is_resumed(db_url: str) -> None:
    source = demo_session(db_url)
    db = create_database_from_url(db_url)
    await db.initialize()
    try:
        made = await stopped_replay(db, source, 4)
    finally:
        await db.close()
    resumed = json.loads(ok(db_url, "resume", made, "--json"))
    assert (resumed["status"], resumed["turns_done"], resumed["differences"]) == ("done", 10, [])
    again = coach(db_url, "resume", made)
    assert again.returncode == 1
    assert "is made already; only a stopped one is resumed" in again.stderr
