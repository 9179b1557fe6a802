"""``python -m coach``: init-db, demo-data and chat, run as the user runs them (a subprocess with
the real settings, database and model clients)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from coach.enums import TurnStatus
from coach.persistence.sql import SQLDatabase
from devtools.fake_openai import FakeOpenAIServer, FakeReply

REPO_ROOT = Path(__file__).resolve().parents[2]


def coach(
    database_url: str, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    return subprocess.run(
        [sys.executable, "-m", "coach", "--database-url", database_url, *args],
        cwd=REPO_ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        env={**clean, **env},
        check=False,
    )


def chat(
    database_url: str, provider: str, text: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """A chat as Sam: ``text`` is typed, then ``/quit``."""
    return coach(
        database_url,
        "chat",
        "--name",
        "Sam",
        "--provider",
        provider,
        stdin=f"{text}\n/quit\n",
        **env,
    )


def stored(database_url: str) -> tuple[dict[str, int], list[TurnStatus]]:
    async def read() -> tuple[dict[str, int], list[TurnStatus]]:
        db = SQLDatabase(database_url)
        try:
            counts = await db.count_records()
            sessions = (await db.list_sessions()).items
            turns = [t for s in sessions for t in await db.list_turns(s.session_id)]
            return counts, [t.status for t in turns]
        finally:
            await db.close()

    return asyncio.run(read())


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_init_db_creates_then_keeps_the_database(database_url: str) -> None:
    for _ in range(2):
        done = coach(database_url, "init-db")
        assert done.returncode == 0, done.stderr
        assert "database ready" in done.stdout and "users: 0" in done.stdout


def test_demo_data_loads_once_with_if_empty(database_url: str) -> None:
    done = coach(database_url, "demo-data")
    assert done.returncode == 0, done.stderr
    assert "demo session loaded" in done.stdout
    again = coach(database_url, "demo-data", "--if-empty")
    assert again.returncode == 0, again.stderr
    counts, statuses = stored(database_url)
    assert counts["users"] == 1 and counts["sessions"] == 1
    assert len(statuses) == 10 and set(statuses) == {TurnStatus.OK}


def test_chat_streams_replies_and_lists_each_action_once(
    database_url: str, fake_openai: FakeOpenAIServer
) -> None:
    """Against an OpenAI-compatible server on loopback: the reply streams to the terminal, and a
    refused phase change shows once, as a rejected transition_state with the guard's reason."""
    fake_openai.enqueue(
        FakeReply(
            content=json.dumps(
                {
                    "message": "Glad you are here, Sam.",
                    "actions": [
                        {"type": "save_user_info", "params": {"key": "name", "value": "Sam"}},
                        {"type": "transition_state", "params": {"to_state": "accountability"}},
                    ],
                }
            )
        )
    )
    done = chat(
        database_url,
        "openai",
        "Hi, I want to feel confident at work.",
        COACH_OPENAI_API_KEY="sk-test",
        COACH_OPENAI_BASE_URL=fake_openai.base_url,
    )
    assert done.returncode == 0, done.stderr
    assert "coach> Glad you are here, Sam." in done.stdout
    assert "  ✓ save_user_info" in done.stdout
    assert done.stdout.count("accountability") == 1
    assert "  ✗ transition_state phase change refused: no move from introduction" in done.stdout
    counts, statuses = stored(database_url)
    assert statuses == [TurnStatus.OK]
    assert counts["messages"] == 3  # welcome, the client's message, the reply


@pytest.mark.slow
def test_chat_talks_offline_with_the_bundled_model(database_url: str) -> None:
    done = chat(database_url, "local", "Hi, I am Sam. I want to feel more confident at work.")
    assert done.returncode == 0, done.stderr
    assert "model: local / SmolLM2-135M-Instruct" in done.stdout
    assert "the bundled SmolLM2-135M model is tiny" in done.stdout
    replies = [
        line
        for line in done.stdout.splitlines()
        if line.startswith("[1/6 introduction] you> coach> ")
    ]
    assert replies and len(replies[0]) > len("[1/6 introduction] you> coach> ")
    counts, statuses = stored(database_url)
    # The tiny model's reply is schema-constrained, so the turn is stored as answered.
    assert statuses == [TurnStatus.OK]
    assert counts["messages"] == 3
