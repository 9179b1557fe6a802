"""An eval run whose process is killed (SIGKILL) mid-run: recovery leaves it alone while its
owner lives, then ends it "interrupted" with its half-played conversation, keeps the
conversations that ended with their checks, and a resume plays the rest in the same run. On
each SQL backend, with a real worker process (``eval_worker.py``)."""

from __future__ import annotations

import signal

import pytest

from coach.assembly import build_service, open_database
from coach.config import Settings
from coach.enums import JobStatus
from coach.errors import InputError
from coach.evals.report import build_report
from coach.evals.runner import CONVERSATION_INTERRUPTED, INTERRUPTED
from coach.llm.scripted import ScriptedLLMClient
from tests import processes
from tests.engine.eval_helpers import coach

CONVERSATIONS = 4
ANSWERED = 2
CHECKS = ["reaches identity_brainstorming by turn 1", "no failed turn"]


@pytest.fixture(params=["sqlite", "postgres"])
def crash_url(request: pytest.FixtureRequest) -> str:
    """A migrated SQLite file or PostgreSQL database (the app never migrates on its own)."""
    return str(request.getfixturevalue(f"migrated_{request.param}_url"))


async def test_a_killed_eval_run_keeps_its_ended_conversations_and_resumes(
    crash_url: str,
) -> None:
    worker = processes.spawn(
        "tests.engine.eval_worker",
        *("--url", crash_url),
        *("--conversations", str(CONVERSATIONS), "--answered", str(ANSWERED)),
        clean_env=True,
    )
    report = await processes.read_report(worker, reached="store its first conversations")
    settings = Settings(database_url=crash_url, llm_provider="scripted")
    db = await open_database(settings)  # recovery runs here too: the worker still lives
    service = build_service(settings, ScriptedLLMClient(function=coach()), db)
    try:
        running = await db.get_eval_run(report["run"])
        assert running is not None and running.status is JobStatus.RUNNING
        assert running.owner == report["owner"]
        assert await service.evals.recover() == []  # a live owner's run is never ended
        with pytest.raises(InputError, match="is running"):
            await service.evals.resume(report["run"])

        processes.kill(worker)
        assert worker.returncode == -signal.SIGKILL
        [ended] = await service.evals.recover()
        assert ended.id == report["run"]
        assert (ended.status, ended.error) == (JobStatus.FAILED, INTERRUPTED)
        assert await service.evals.recover() == []

        run = await db.get_eval_run(report["run"])
        assert run is not None
        assert [(c.repeat, c.status) for c in run.conversations] == [
            (1, JobStatus.DONE),
            (2, JobStatus.DONE),
            (3, JobStatus.FAILED),  # the one whose model never answered
        ]
        for finished in run.conversations[:ANSWERED]:
            assert finished.passed is True and finished.turns == 4
            assert [(c["name"], c["passed"]) for c in finished.checks] == [
                (name, True) for name in CHECKS
            ]
        cut = run.conversations[ANSWERED]
        assert (cut.error, cut.passed, cut.checks) == (CONVERSATION_INTERRUPTED, None, [])

        resumed = await service.evals.resume(report["run"])
        assert resumed.id == report["run"]
        handle = service.evals.handle(resumed.id)
        assert handle is not None
        await handle.ended()
        run = await db.get_eval_run(report["run"])
        assert run is not None
        assert (run.status, run.error) == (JobStatus.DONE, None)
        done = sorted(c.repeat for c in run.conversations if c.status is JobStatus.DONE)
        assert done == list(range(1, CONVERSATIONS + 1))
        assert all(c.passed for c in run.conversations if c.status is JobStatus.DONE)
        [scenario] = build_report(run).scenarios
        # The cut conversation is kept and counts as a failed one.
        assert (scenario.overall.n, scenario.overall.passed, scenario.failed) == (5, 4, 1)
    finally:
        if worker.poll() is None:
            processes.kill(worker)
        await service.aclose()
        await db.close()
