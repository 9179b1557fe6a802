"""A replay whose process is killed (SIGKILL) mid-run: nothing is ended while its owner lives;
then the replay is ended "interrupted" with the turns it made, the turn that waited for the
model is failed "interrupted" with its message kept (and can be retried), the source is
untouched, and the source replays again to the end. On each SQL backend, with a real worker
process (``replay_worker.py``)."""

from __future__ import annotations

import signal

import pytest

from coach.assembly import build_service, open_database
from coach.config import Settings
from coach.demo import DEMO_STEPS
from coach.enums import JobStatus, MessageRole, TurnStatus
from coach.llm.scripted import ScriptedLLMClient
from coach.service import TurnResult
from coach.sessions.jobs import INTERRUPTED
from coach.turns.recovery import INTERRUPTED as TURN_INTERRUPTED
from tests import processes
from tests.records import stored_turns

ANSWERED = 3


@pytest.fixture(params=["sqlite", "postgres"])
def crash_url(request: pytest.FixtureRequest) -> str:
    """A migrated SQLite file or PostgreSQL database (the app never migrates on its own)."""
    return str(request.getfixturevalue(f"migrated_{request.param}_url"))


async def test_a_killed_replay_keeps_its_turns_and_loses_no_message(crash_url: str) -> None:
    worker = processes.spawn(
        "tests.engine.replay_worker",
        "--url",
        crash_url,
        "--answered",
        str(ANSWERED),
        clean_env=True,
    )
    report = await processes.read_report(worker, reached="reach its hung turn")
    settings = Settings(database_url=crash_url, llm_provider="scripted")
    db = await open_database(settings)  # recovery runs here: the worker still lives
    service = build_service(settings, ScriptedLLMClient([{"message": "Answered at last."}]), db)
    try:
        running = await db.get_session_origin(report["session"])
        assert running is not None and running.status is JobStatus.RUNNING
        assert running.owner == report["owner"]
        assert await service.sessions.recover() == []  # a live owner's replay is never ended
        assert await service.recover_interrupted() == []

        processes.kill(worker)
        assert worker.returncode == -signal.SIGKILL
        [ended] = await service.sessions.recover()
        assert (ended.session_id, ended.status, ended.error) == (
            report["session"],
            JobStatus.FAILED,
            INTERRUPTED,
        )
        assert ended.turns_done <= ANSWERED  # stored progress never claims more than was made
        [cut] = await service.recover_interrupted()
        assert (cut.session_id, cut.seq) == (report["session"], ANSWERED + 1)

        turns = await stored_turns(db, report["session"])
        assert [(t.status, t.error) for t in turns] == [(TurnStatus.OK, None)] * ANSWERED + [
            (TurnStatus.FAILED, TURN_INTERRUPTED)
        ]
        source = await stored_turns(db, report["source"])
        assert len(source) == len(DEMO_STEPS)  # the source is untouched
        sent = [
            m.content
            for m in await db.list_messages(report["session"], limit=100)
            if m.role is MessageRole.USER
        ]
        originals = [
            m.content
            for m in await db.list_messages(report["source"], limit=100)
            if m.role is MessageRole.USER
        ]
        assert sent == originals[: ANSWERED + 1]  # the cut turn's message is kept

        # The cut turn is answered by a retry, like any interrupted turn.
        replayed = await db.get_session(report["session"])
        assert replayed is not None
        events = [e async for e in service.retry_turn(replayed.user_id, report["session"])]
        result = events[-1]
        assert isinstance(result, TurnResult)
        assert (result.ok, result.turn_seq, result.reply) == (
            True,
            ANSWERED + 2,
            "Answered at last.",
        )

        # And the source replays exactly to its end again.
        again = await service.sessions.replay(report["source"])
        handle = service.sessions.handle(again.session_id)
        assert handle is not None
        await handle.ended()
        stored = await db.get_session_origin(again.session_id)
        assert stored is not None
        assert (stored.status, stored.turns_done, stored.differences) == (
            JobStatus.DONE,
            len(DEMO_STEPS),
            [],
        )
    finally:
        if worker.poll() is None:
            processes.kill(worker)
        await service.aclose()
        await db.close()
