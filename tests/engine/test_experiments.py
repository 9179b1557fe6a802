"""Experiments: a stored turn tried again as a task of the engine, stored as it goes, followed
by whoever looks, kept under a name; refused before anything is stored when the input is bad;
ended "interrupted" with its stored runs when its process is killed."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import pytest

from coach.assembly import build_service, open_database
from coach.config import Settings
from coach.demo import play_demo
from coach.enums import JobStatus
from coach.errors import ConfigurationError, InputError, LLMTimeoutError, PersistenceError
from coach.llm.base import LLMRequest
from coach.llm.openai_client import OpenAIClient
from coach.llm.scripted import Reply, ScriptedLLMClient
from coach.persistence import DatabaseInterface
from coach.persistence.memory import InMemoryDatabase
from coach.persistence.records import ExperimentRun
from coach.prompts import PromptError
from coach.prompts.library import PromptPin
from coach.service import CoachService
from coach.turns.experiments import (
    EXPERIMENT_INTERRUPTED,
    ExperimentHandle,
    experiment_trial,
    recover_experiments,
)
from devtools.fake_openai import FakeOpenAIServer, FakeReply
from tests import processes
from tests.engine.experiment_worker import ANSWERED

TURN = 2  # the demo's second turn


async def snapshot(db: DatabaseInterface, session_id: str) -> tuple[Any, ...]:
    turns = await db.list_turns(session_id)
    return (await db.count_records(), turns, await db.list_messages(session_id, limit=1000))


async def follow(handle: ExperimentHandle) -> tuple[dict[int, str], list[int]]:
    """Follow to the end as a page does: each run's streamed text, and the order runs ended."""
    seen, order = 0, []
    while True:
        progress = await handle.wait(seen, within_s=5)
        seen = progress.seen
        order += [n for n in progress.ended if n not in order]
        if progress.done:
            assert progress.error is None
            return progress.texts, order


async def test_an_experiment_runs_as_a_task_stores_each_run_and_touches_no_session(
    db: DatabaseInterface,
) -> None:
    demo = await play_demo(db)
    before = await snapshot(db, demo.session_id)
    timeout = LLMTimeoutError("the model took too long")
    replies = iter(["First answer, streamed.", timeout, "Third."])

    def answer(request: LLMRequest) -> Reply:
        reply = next(replies)
        return reply if isinstance(reply, BaseException) else {"message": reply, "actions": []}

    service = CoachService(ScriptedLLMClient(function=answer, chunk_delay=0.01), db)
    started = await service.experiments.start(
        demo.session_id, TURN, runs=3, pin=PromptPin(label="default"), name="  my try  ", by="ana"
    )
    assert (started.name, started.created_by, started.status) == (
        "my try",
        "ana",
        JobStatus.RUNNING,
    )
    assert started.pin == {"label": "default", "versions": {}}
    handle = service.experiments.handle(started.id)
    assert handle is not None
    texts, ended_order = await follow(handle)
    assert sorted(ended_order) == [1, 2, 3]
    kept = await db.get_experiment(started.id)
    assert kept is not None and kept.status is JobStatus.DONE
    assert [(r.number, r.reply, r.error) for r in kept.runs] == [
        (1, "First answer, streamed.", None),
        (2, None, "the model took too long"),
        (3, "Third.", None),
    ]
    # What streamed is what was stored.
    assert texts[1] == "First answer, streamed." and texts[3] == "Third."
    assert service.experiments.handle(started.id) is None
    assert await snapshot(db, demo.session_id) == before
    trial = await experiment_trial(db, kept)
    assert trial.stored.seq == TURN and trial.stored_reply and trial.runs == kept.runs
    assert trial.prompt_version == started.prompt_version == trial.stored.prompt_version


async def test_an_experiment_nobody_follows_still_ends_and_is_kept(db: DatabaseInterface) -> None:
    """The page that started it may vanish at once: the engine finishes and stores it."""
    demo = await play_demo(db)
    client = ScriptedLLMClient(function=lambda r: {"message": "ok", "actions": []})
    service = CoachService(client, db)
    started = await service.experiments.start(demo.session_id, TURN, runs=4)
    assert started.name.startswith(f"turn {TURN} · active · ")
    await service.aclose()  # what the app does at shutdown: waits for the running ones
    kept = await db.get_experiment(started.id)
    assert kept is not None and kept.status is JobStatus.DONE
    assert [r.reply for r in kept.runs] == ["ok"] * 4
    assert [e.id for e in await db.list_experiments(session_id=demo.session_id)] == [started.id]


async def test_bad_input_is_refused_before_anything_is_stored() -> None:
    db = InMemoryDatabase()
    demo = await play_demo(db)
    service = CoachService(ScriptedLLMClient(function=lambda r: "never asked"), db)
    jobs = service.experiments
    with pytest.raises(InputError, match="between 1 and 10"):
        await jobs.start(demo.session_id, TURN, runs=11)
    with pytest.raises(InputError, match="has no turn 99"):
        await jobs.start(demo.session_id, 99, runs=1)
    with pytest.raises(PromptError, match="nope"):
        await jobs.start(demo.session_id, TURN, runs=1, pin=PromptPin(label="nope"))
    with pytest.raises(ConfigurationError, match="answers with 'scripted' only"):
        await jobs.start(demo.session_id, TURN, runs=1, model="gpt-other")
    assert await db.list_experiments() == []


class FailingStore(InMemoryDatabase):
    """A database whose experiment runs cannot be written."""

    async def add_experiment_run(self, run: ExperimentRun) -> ExperimentRun:
        raise PersistenceError("the disk is full")


async def test_a_task_that_cannot_store_its_runs_says_why_and_ends_failed() -> None:
    db = FailingStore()
    demo = await play_demo(db)
    service = CoachService(ScriptedLLMClient(function=lambda r: {"message": "x"}), db)
    started = await service.experiments.start(demo.session_id, TURN, runs=2)
    handle = service.experiments.handle(started.id)
    assert handle is not None
    progress = await handle.wait(0, within_s=5)
    while not progress.done:
        progress = await handle.wait(progress.seen, within_s=5)
    assert isinstance(progress.error, PersistenceError)
    kept = await db.get_experiment(started.id)
    assert kept is not None and kept.status is JobStatus.FAILED
    assert kept.error == "failed: the disk is full"


async def test_another_model_is_asked_through_the_openai_sdk(
    memory_db_with_demo: tuple[DatabaseInterface, str], fake_openai: FakeOpenAIServer
) -> None:
    db, session_id = memory_db_with_demo
    client = OpenAIClient(api_key="test", base_url=fake_openai.base_url, model="base-model")
    fake_openai.enqueue(*(FakeReply(json.dumps({"message": f"run {i}"})) for i in range(2)))
    service = CoachService(client, db)
    started = await service.experiments.start(session_id, TURN, runs=2, model="other-model")
    assert started.model == "openai/other-model"
    await service.aclose()
    kept = await db.get_experiment(started.id)
    assert kept is not None
    assert sorted(r.reply or "" for r in kept.runs) == ["run 0", "run 1"]
    assert {r.body["model"] for r in fake_openai.requests} == {"other-model"}
    assert client.model == "base-model"  # the engine's own client is unchanged
    with pytest.raises(ConfigurationError, match="name the model"):
        client.with_model("  ")


@pytest.fixture
async def memory_db_with_demo() -> tuple[DatabaseInterface, str]:
    db = InMemoryDatabase()
    return db, (await play_demo(db)).session_id


@pytest.fixture(params=["sqlite", "postgres"])
def crash_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"migrated_{request.param}_url"))


async def test_a_killed_experiment_keeps_its_stored_runs_and_is_ended_interrupted(
    crash_url: str,
) -> None:
    worker = processes.spawn("tests.engine.experiment_worker", "--url", crash_url, clean_env=True)
    report = await processes.read_report(worker, reached="store its first run")
    settings = Settings(database_url=crash_url, llm_provider="scripted")
    db = await open_database(settings)  # recovery runs here too: the worker still lives
    try:
        running = await db.get_experiment(report["experiment"])
        assert running is not None and running.status is JobStatus.RUNNING
        assert running.owner == report["owner"]
        assert await recover_experiments(db) == []  # a live owner is never ended
        processes.kill(worker)
        assert worker.returncode == -signal.SIGKILL
        service = build_service(settings, ScriptedLLMClient(), db)
        [ended] = await service.experiments.recover()
        assert ended.id == report["experiment"]
        assert (ended.status, ended.error) == (JobStatus.FAILED, EXPERIMENT_INTERRUPTED)
        assert [(r.number, r.reply) for r in ended.runs] == [(1, ANSWERED)]
        assert await service.experiments.recover() == []
    finally:
        if worker.poll() is None:
            processes.kill(worker)
        await db.close()


async def test_two_followers_see_the_same_runs(db: DatabaseInterface) -> None:
    """A second tab following the same experiment sees what the first sees."""
    demo = await play_demo(db)
    service = CoachService(
        ScriptedLLMClient(function=lambda r: {"message": "same words"}, chunk_delay=0.01), db
    )
    started = await service.experiments.start(demo.session_id, TURN, runs=2)
    handle = service.experiments.handle(started.id)
    assert handle is not None
    one, two = await asyncio.gather(follow(handle), follow(handle))
    assert one[0] == two[0] == {1: "same words", 2: "same words"}
