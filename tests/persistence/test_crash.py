"""A process killed in the middle of a turn loses nothing, and its turn is answered later.

Real app processes (``crash_worker``) on one SQLite file or one PostgreSQL database each send a
message to a model that never answers. One is killed with SIGKILL: its message stays with a
``pending`` turn that names it as owner, and nothing else. Recovery, as the app runs it when it
opens the database, marks that turn failed ("interrupted") and changes nothing else; a retry
answers the message once. A turn whose process still runs is never marked, whoever looks.
"""

from __future__ import annotations

import signal
import subprocess
from dataclasses import dataclass
from typing import Any

import pytest

from coach.enums import MessageRole, TurnStatus
from coach.llm.base import TextDelta
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseInterface, DatabaseType, create_database
from coach.persistence.records import new_id
from coach.process import ProcessId
from coach.service import CoachService, TurnResult
from coach.turns import INTERRUPTED, recover_interrupted
from tests import processes
from tests.records import stored_turns

TEXT = "I want to feel creative again"
REPLY = "Then let us find the creative person you already are."
#: Seconds a worker gets to open the database and reach the model.
START_TIMEOUT_S = 60


@dataclass
class Worker:
    """A worker process blocked in its model call, with the turn it left pending."""

    process: subprocess.Popen[str]
    user_id: str
    session_id: str
    message_id: str
    owner: str
    seq: int


@pytest.fixture(params=["sqlite", "postgres"])
def crash_url(request: pytest.FixtureRequest) -> str:
    """A migrated SQLite file or PostgreSQL database (the app never migrates on its own)."""
    return str(request.getfixturevalue(f"migrated_{request.param}_url"))


async def start_worker(url: str, user_id: str) -> Worker:
    """A worker that has stored its message and pending turn and is waiting for the model."""
    session_id, message_id = new_id(), new_id()
    # The worker's settings come from its arguments only (COACH_* variables would override them).
    process = processes.spawn(
        "tests.persistence.crash_worker",
        *("--url", url, "--user", user_id, "--session", session_id),
        *("--message-id", message_id, "--text", TEXT),
        clean_env=True,
    )
    report = await processes.read_report(
        process, reached="reach its model call", timeout_s=START_TIMEOUT_S
    )
    return Worker(process, user_id, session_id, message_id, report["owner"], report["seq"])


def kill(worker: Worker) -> None:
    processes.kill(worker.process)
    assert worker.process.returncode == -signal.SIGKILL


async def snapshot(db: DatabaseInterface, worker: Worker) -> dict[str, Any]:
    """Everything stored of the worker's user and session."""
    context = await db.get_context(worker.user_id, worker.session_id)
    session = await db.get_session(worker.session_id)
    assert context is not None and session is not None
    return {
        "context": context,
        "state": await db.get_state(worker.user_id, worker.session_id),
        "user": await db.get_user(worker.user_id),
        "identities": await db.get_identities(worker.user_id),
        "turns": await stored_turns(db, worker.session_id),
        # Any commit of a session's records counts as activity (a turn marked interrupted too).
        "session": session.model_dump(exclude={"last_activity_at"}),
    }


async def test_a_killed_turn_is_kept_marked_interrupted_and_answered_by_a_retry(
    crash_url: str,
) -> None:
    db = create_database(DatabaseType.SQL, connection_string=crash_url)
    await db.check_schema()
    workers: list[Worker] = []
    try:
        crashed = await start_worker(crash_url, "ana")
        workers.append(crashed)
        # The second app opens the database while the first is mid-turn: its start-up recovery
        # must leave the first one's turn alone.
        alive = await start_worker(crash_url, "ben")
        workers.append(alive)
        assert alive.owner != crashed.owner
        for worker in workers:
            turn = await db.get_turn(worker.session_id, worker.seq)
            assert turn is not None and turn.status is TurnStatus.PENDING
        assert await recover_interrupted(db) == [], "a turn of a live process was marked"

        kill(crashed)

        # What the dead process left: the welcome, the message, its pending turn; no reply.
        left = await snapshot(db, crashed)
        messages = left["context"].messages
        assert [(m.role, m.id) for m in messages] == [
            (MessageRole.COACH, messages[0].id),
            (MessageRole.USER, crashed.message_id),
        ]
        assert messages[1].content == TEXT
        [turn] = left["turns"]
        assert (turn.seq, turn.status, turn.user_message_id) == (
            crashed.seq,
            TurnStatus.PENDING,
            crashed.message_id,
        )
        assert turn.owner == crashed.owner
        owner = ProcessId.parse(turn.owner)
        assert owner is not None and owner.pid == crashed.process.pid
        assert turn.coach_message_id is None and turn.error is None and turn.raw_output == ""
        counts = await db.count_records()
        # Two users, each with one session: welcome + message and one pending turn apiece.
        assert counts == {
            "users": 2,
            "sessions": 2,
            "states": 2,
            "contexts": 2,
            "messages": 4,
            "identities": 0,
            "turns": 2,
        }

        # Recovery as the app runs it on open: only the dead process's turn is marked.
        marked = await recover_interrupted(db)
        assert [(t.session_id, t.seq, t.status) for t in marked] == [
            (crashed.session_id, crashed.seq, TurnStatus.FAILED)
        ]
        after = await snapshot(db, crashed)
        expected_turn = turn.model_copy(update={"status": TurnStatus.FAILED, "error": INTERRUPTED})
        assert after == {**left, "turns": [expected_turn]}, "recovery changed more than the turn"
        assert "interrupted" in (after["turns"][0].error or "")
        assert await db.count_records() == counts
        [still_pending] = await db.list_pending_turns()
        assert (still_pending.session_id, still_pending.owner) == (alive.session_id, alive.owner)

        # A retry answers the message: a new ok turn, the reply stored once.
        client = ScriptedLLMClient([{"message": REPLY, "actions": []}])
        service = CoachService(client, db)
        events = [e async for e in service.retry_turn(crashed.user_id, crashed.session_id)]
        result = events[-1]
        assert isinstance(result, TurnResult) and result.ok, result
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == REPLY
        assert result.user_message_id == crashed.message_id and result.reply == REPLY
        [request] = client.requests
        assert request.messages[-1].content == TEXT
        answered = await snapshot(db, crashed)
        stored = answered["context"].messages
        assert stored[:2] == messages and len(stored) == 3
        assert (stored[2].role, stored[2].content, stored[2].reply_to) == (
            MessageRole.COACH,
            REPLY,
            crashed.message_id,
        )
        assert [(t.seq, t.status, t.coach_message_id) for t in answered["turns"]] == [
            (crashed.seq, TurnStatus.FAILED, None),
            (crashed.seq + 1, TurnStatus.OK, stored[2].id),
        ]
        assert await db.count_records() == {**counts, "messages": 5, "turns": 3}

        # The page of the other session opens: its live turn is not marked; once its process
        # is killed, it is.
        assert await service.recover_interrupted(session_id=alive.session_id) == []
        kill(alive)
        marked = await service.recover_interrupted(session_id=alive.session_id)
        assert [(t.session_id, t.seq) for t in marked] == [(alive.session_id, alive.seq)]
        assert await db.list_pending_turns() == []
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                processes.kill(worker.process)
        await db.close()
