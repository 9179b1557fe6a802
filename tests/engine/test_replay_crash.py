"""A replay whose process is killed (SIGKILL) mid-run, on each SQL backend with a real worker
process (``replay_worker.py``): nothing is ended while its owner lives; then the replay is
ended "interrupted" with the turns it made, the turn that waited for the model is failed
"interrupted" with its message kept, and the source is untouched. Resumed, it goes on from the
first turn it had not made, answers the cut turn again without sending its message twice, and
ends as if it had never stopped: a live replay with every message once, an exact one with no
difference from its source."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from coach.assembly import build_service, open_database
from coach.config import Settings
from coach.demo import DEMO_STEPS
from coach.enums import JobStatus, MessageRole, TurnStatus
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseInterface
from coach.service import CoachService
from coach.sessions.jobs import INTERRUPTED
from coach.turns.recovery import INTERRUPTED as TURN_INTERRUPTED
from tests import processes
from tests.records import stored_turns

ANSWERED = 3
#: The exact replay's source: the demo played this many times over.
REPEATS = 10


@pytest.fixture(params=["sqlite", "postgres"])
def crash_url(request: pytest.FixtureRequest) -> str:
    """A migrated SQLite file or PostgreSQL database (the app never migrates on its own)."""
    return str(request.getfixturevalue(f"migrated_{request.param}_url"))


async def client_messages(db: DatabaseInterface, session_id: str) -> list[str]:
    messages = await db.list_messages(session_id, limit=1000)
    return [m.content for m in messages if m.role is MessageRole.USER]


async def killed(crash_url: str, *args: str) -> dict[str, Any]:
    """Start the worker, read its report, and kill it; its replay is then ended by recovery."""
    worker = processes.spawn(
        "tests.engine.replay_worker", "--url", crash_url, *args, clean_env=True
    )
    with processes.running([worker]):
        report = await processes.read_report(worker, reached="make its first turns")
        settings = Settings(database_url=crash_url, llm_provider="scripted")
        service = build_service(settings, ScriptedLLMClient(), await open_database(settings))
        try:
            running = await service.db.get_session_origin(report["session"])
            assert running is not None and running.status is JobStatus.RUNNING
            assert running.owner == report["owner"]
            assert await service.sessions.recover() == []  # a live owner's replay is kept
            assert await service.recover_interrupted() == []
            processes.kill(worker)
            assert worker.returncode == -signal.SIGKILL
            [ended] = await service.sessions.recover()
            assert (ended.session_id, ended.status, ended.error) == (
                report["session"],
                JobStatus.FAILED,
                INTERRUPTED,
            )
            assert ended.turns_done < ended.turns_total
        finally:
            await service.aclose()
            await service.db.close()
    return report


async def resumed(service: CoachService, session_id: str) -> Any:
    origin = await service.sessions.resume(session_id)
    handle = service.sessions.handle(session_id)
    assert handle is not None
    await handle.ended()
    assert handle.error is None
    return await service.db.get_session_origin(origin.session_id)


async def test_a_killed_live_replay_loses_no_message_and_is_resumed(crash_url: str) -> None:
    report = await killed(crash_url, "--answered", str(ANSWERED))
    settings = Settings(database_url=crash_url, llm_provider="scripted")
    db = await open_database(settings)  # marks the cut turn "interrupted"
    model = ScriptedLLMClient(function=lambda _: {"message": "Answered at last."})
    service = build_service(settings, model, db)
    try:
        turns = await stored_turns(db, report["session"])
        assert [(t.status, t.error) for t in turns] == [(TurnStatus.OK, None)] * ANSWERED + [
            (TurnStatus.FAILED, TURN_INTERRUPTED)
        ]
        originals = await client_messages(db, report["source"])
        assert len(originals) == len(DEMO_STEPS)  # the source is untouched
        # The cut turn's message is kept.
        assert await client_messages(db, report["session"]) == originals[: ANSWERED + 1]

        ended = await resumed(service, report["session"])
        assert (ended.status, ended.turns_done, ended.created_by) == (
            JobStatus.DONE,
            len(DEMO_STEPS),
            "crash",
        )
        # Each message once; the cut turn answered by a retry of its message.
        assert await client_messages(db, report["session"]) == originals
        turns = await stored_turns(db, report["session"])
        assert [t.status for t in turns] == [TurnStatus.OK] * ANSWERED + [TurnStatus.FAILED] + [
            TurnStatus.OK
        ] * (len(DEMO_STEPS) - ANSWERED)
        assert turns[ANSWERED + 1].user_message_id == turns[ANSWERED].user_message_id
        assert len(model.requests) == len(DEMO_STEPS) - ANSWERED  # the model asked for the rest
    finally:
        await service.aclose()
        await db.close()


async def test_a_killed_exact_replay_is_resumed_with_no_difference(crash_url: str) -> None:
    """The kill lands wherever the replay has got to, between two turns or within one."""
    report = await killed(crash_url, "--answered", "5", "--exact", str(REPEATS))
    settings = Settings(database_url=crash_url, llm_provider="scripted")
    db = await open_database(settings)  # marks a cut turn, if the kill left one
    service = build_service(settings, ScriptedLLMClient(), db)
    try:
        ended = await resumed(service, report["session"])
        assert (ended.status, ended.turns_done) == (JobStatus.DONE, len(DEMO_STEPS) * REPEATS)
        assert ended.differences == []
        originals = await client_messages(db, report["source"])
        assert await client_messages(db, report["session"]) == originals
        # Every turn of the source has its twin, in order; a cut turn stays failed.
        made = [t for t in await stored_turns(db, report["session"]) if t.error != TURN_INTERRUPTED]
        source = await stored_turns(db, report["source"])
        assert [(t.state_after, t.raw_output) for t in made] != []
        assert [(t.status, t.state_after, len(t.actions)) for t in made] == [
            (t.status, t.state_after, len(t.actions)) for t in source
        ]
    finally:
        await service.aclose()
        await db.close()
