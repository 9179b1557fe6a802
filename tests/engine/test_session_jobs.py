"""Forks and replays as tasks of the engine: a fork holds the source as it was after turn N and
can be continued; a replay ends with its differences; both remember where they came from, can
be cancelled, refuse bad input before storing anything, and are ended "interrupted" when their
process is gone."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest

from coach.demo import DEMO_STEPS, play_demo
from coach.enums import JobStatus, MessageRole, OriginKind, TurnStatus
from coach.errors import InputError, PersistenceError
from coach.inspection.replay import replay as snapshots
from coach.llm.base import LLMRequest
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseInterface
from coach.persistence.memory import InMemoryDatabase
from coach.persistence.records import SessionOrigin, utcnow
from coach.process import ProcessId, start_time
from coach.prompts import PromptError
from coach.prompts.library import PromptPin
from coach.service import CoachService
from coach.sessions.jobs import CANCELLED, INTERRUPTED, recover_origins
from tests.records import stopped_replay, stored_turns

AT = 6


async def conversation(db: DatabaseInterface, session_id: str) -> list[tuple[MessageRole, str]]:
    return [(m.role, m.content) for m in await db.list_messages(session_id, limit=1000)]


def identities_at(turns: list[Any], seq: int) -> list[tuple[Any, ...]]:
    """The identities the turn log says the session had after turn ``seq`` (ids left out)."""
    found = snapshots(turns)[seq].identities.values()
    return sorted((i.get("label"), i.get("category"), i.get("state")) for i in found)


async def test_a_fork_holds_the_session_as_it_was_after_turn_n_and_goes_on(
    db: DatabaseInterface,
) -> None:
    demo = await play_demo(db)
    service = CoachService(ScriptedLLMClient([{"message": "On from the fork."}]), db)
    origin = await service.sessions.fork(demo.session_id, AT, by="ana")
    handle = service.sessions.handle(origin.session_id)
    assert handle is not None and handle.total == AT
    await handle.ended()
    assert handle.error is None
    stored = await db.get_session_origin(origin.session_id)
    assert stored is not None
    assert (stored.kind, stored.at_turn, stored.status, stored.turns_done) == (
        OriginKind.FORK,
        AT,
        JobStatus.DONE,
        AT,
    )
    assert stored.differences == [] and stored.source_session_id == demo.session_id
    assert [
        o.session_id for o in await db.list_session_origins(source_session_id=demo.session_id)
    ] == [origin.session_id]
    # The records as they were after turn AT: conversation, turn log, phase and identities.
    source_turns = await stored_turns(db, demo.session_id)
    fork_turns = await stored_turns(db, origin.session_id)
    assert len(fork_turns) == AT
    keep = [
        (t.state_before, t.state_after, t.provider, [(a.type, a.status) for a in t.actions])
        for t in source_turns[:AT]
    ]
    assert keep == [
        (t.state_before, t.state_after, t.provider, [(a.type, a.status) for a in t.actions])
        for t in fork_turns
    ]
    last_reply = source_turns[AT - 1].coach_message_id
    source_messages = await conversation(db, demo.session_id)
    ids = [m.id for m in await db.list_messages(demo.session_id, limit=1000)]
    assert await conversation(db, origin.session_id) == source_messages[: ids.index(last_reply) + 1]
    fork_user = (await db.get_session(origin.session_id)).user_id  # type: ignore[union-attr]
    state = await db.get_state(fork_user, origin.session_id)
    assert state is not None and state.state is source_turns[AT - 1].state_after
    assert identities_at(fork_turns, AT) == identities_at(source_turns, AT)
    stored_identities = sorted(
        (i.label, i.category.value, i.state.value) for i in await db.get_identities(fork_user)
    )
    assert stored_identities == identities_at(source_turns, AT)
    # The fork goes on as any session does.
    result = await service.send_message_and_wait(fork_user, origin.session_id, "And now?")
    assert result.ok and result.turn_seq == AT + 1 and result.reply == "On from the fork."
    assert len(await db.list_turns(demo.session_id)) == len(DEMO_STEPS)  # the source unchanged


async def test_an_exact_replay_task_ends_with_no_difference_and_says_how_far_it_got(
    db: DatabaseInterface,
) -> None:
    demo = await play_demo(db)
    model = ScriptedLLMClient()
    service = CoachService(model, db)
    origin = await service.sessions.replay(demo.session_id)
    handle = service.sessions.handle(origin.session_id)
    assert handle is not None
    seen, steps = 0, []
    while not (progress := await handle.wait(seen, within_s=5)).finished:
        seen = progress.seen
        steps.append(progress.done)
    assert steps == sorted(steps) and progress.done == progress.total == len(DEMO_STEPS)
    stored = await db.get_session_origin(origin.session_id)
    assert stored is not None and stored.kind is OriginKind.REPLAY_EXACT
    assert (stored.status, stored.differences, stored.ended_at is not None) == (
        JobStatus.DONE,
        [],
        True,
    )
    assert model.requests == []  # the engine's model was never asked


async def test_a_live_replay_can_be_cancelled_and_keeps_its_turns() -> None:
    db = InMemoryDatabase()
    demo = await play_demo(db)
    answered = 0

    async def slow(request: LLMRequest) -> dict[str, Any]:
        nonlocal answered
        answered += 1
        return {"message": f"live answer {answered}", "actions": []}

    client = ScriptedLLMClient(function=slow, chunk_delay=0.02)
    service = CoachService(client, db)
    origin = await service.sessions.replay(demo.session_id, live=True)
    handle = service.sessions.handle(origin.session_id)
    assert handle is not None
    progress = await handle.wait(0, within_s=10)
    while progress.done < 2:
        progress = await handle.wait(progress.seen, within_s=10)
    assert service.sessions.cancel(origin.session_id)
    await handle.ended()
    assert handle.error == CANCELLED
    stored = await db.get_session_origin(origin.session_id)
    assert stored is not None and stored.kind is OriginKind.REPLAY_LIVE
    assert (stored.status, stored.error) == (JobStatus.FAILED, CANCELLED)
    made = await db.list_turns(origin.session_id)
    assert 2 <= len(made) < len(DEMO_STEPS) and stored.turns_done >= 2
    assert service.sessions.handle(origin.session_id) is None
    assert not service.sessions.cancel(origin.session_id)


async def test_a_cancelled_replay_is_resumed_once_its_last_turn_has_ended(
    db: DatabaseInterface,
) -> None:
    demo = await play_demo(db)
    third, release, asked = asyncio.Event(), asyncio.Event(), 0

    async def model(request: LLMRequest) -> dict[str, Any]:
        nonlocal asked
        asked += 1
        if asked == 3:
            third.set()
            await release.wait()
        return {"message": f"live answer {asked}", "actions": []}

    service = CoachService(ScriptedLLMClient(function=model), db)
    origin = await service.sessions.replay(demo.session_id, live=True)
    handle = service.sessions.handle(origin.session_id)
    assert handle is not None
    await third.wait()
    assert service.sessions.cancel(origin.session_id)
    await handle.ended()
    # The turn the model is answering is the engine's: it goes on, and is waited for.
    with pytest.raises(InputError, match="has a turn still being answered"):
        await service.sessions.resume(origin.session_id)
    release.set()
    for _ in range(500):  # the turn is stored as soon as its answer is in
        if all(t.status is TurnStatus.OK for t in await db.list_turns(origin.session_id)):
            break
        await asyncio.sleep(0.01)

    # Resumed twice at once (a double click): once.
    resumed, twice = await asyncio.gather(
        service.sessions.resume(origin.session_id),
        service.sessions.resume(origin.session_id),
        return_exceptions=True,
    )
    assert isinstance(twice, InputError) and "is being made already" in str(twice)
    assert not isinstance(resumed, BaseException)
    assert (resumed.status, resumed.turns_done) == (JobStatus.RUNNING, 3)
    handle = service.sessions.handle(origin.session_id)
    assert handle is not None
    await handle.ended()
    stored = await db.get_session_origin(origin.session_id)
    assert stored is not None
    assert (stored.status, stored.error, stored.turns_done) == (
        JobStatus.DONE,
        None,
        len(DEMO_STEPS),
    )
    assert await conversation(db, origin.session_id) != []
    sent = [c for r, c in await conversation(db, origin.session_id) if r is MessageRole.USER]
    assert sent == [c for r, c in await conversation(db, demo.session_id) if r is MessageRole.USER]
    assert asked == len(DEMO_STEPS)  # each message asked once


async def test_a_replay_stopped_after_its_last_turn_is_resumed_to_its_end(
    db: DatabaseInterface,
) -> None:
    demo = await play_demo(db)
    made = await stopped_replay(db, demo.session_id, len(DEMO_STEPS))
    service = CoachService(ScriptedLLMClient(), db)
    await service.sessions.resume(made)
    handle = service.sessions.handle(made)
    assert handle is not None
    await handle.ended()
    stored = await db.get_session_origin(made)
    assert stored is not None
    assert (stored.status, stored.turns_done, stored.differences) == (
        JobStatus.DONE,
        len(DEMO_STEPS),
        [],
    )
    assert len(await db.list_turns(made)) == len(DEMO_STEPS)


async def test_what_cannot_be_resumed_is_refused_and_says_why(db: DatabaseInterface) -> None:
    demo = await play_demo(db)
    service = CoachService(ScriptedLLMClient([{"message": "Going on."}]), db)
    with pytest.raises(InputError, match="was not made by a fork or replay"):
        await service.sessions.resume(demo.session_id)
    origin = await service.sessions.replay(demo.session_id)
    handle = service.sessions.handle(origin.session_id)
    assert handle is not None
    await handle.ended()
    with pytest.raises(InputError, match="is made already; only a stopped one is resumed"):
        await service.sessions.resume(origin.session_id)
    stopped = origin.model_copy(update={"status": JobStatus.FAILED, "error": CANCELLED})
    live = stopped.model_copy(update={"kind": OriginKind.REPLAY_LIVE, "model": "openai/gpt-x"})
    await db.save_session_origin(live)
    with pytest.raises(InputError, match="made with openai/gpt-x; resume it where COACH_LLM_"):
        await service.sessions.resume(origin.session_id)
    # Continued in the coach after it was made: its turns are no longer the source's.
    await db.save_session_origin(stopped)
    made = await db.get_session(origin.session_id)
    assert made is not None
    assert (await service.send_message_and_wait(made.user_id, made.session_id, "More")).ok
    with pytest.raises(InputError, match="holds turns its source does not"):
        await service.sessions.resume(origin.session_id)


async def test_bad_requests_are_refused_before_anything_is_stored() -> None:
    db = InMemoryDatabase()
    demo = await play_demo(db)
    service = CoachService(ScriptedLLMClient(), db)
    jobs = service.sessions
    before = await db.count_records()
    with pytest.raises(InputError, match="there is no turn 11"):
        await jobs.fork(demo.session_id, 11)
    with pytest.raises(InputError, match="does not exist"):
        await jobs.fork("nope", 1)
    with pytest.raises(InputError, match="choose a live replay"):
        await jobs.replay(demo.session_id, pin=PromptPin(label="draft"))
    with pytest.raises(PromptError, match="nowhere"):
        await jobs.replay(demo.session_id, live=True, pin=PromptPin(label="nowhere"))
    assert await db.count_records() == before
    assert await db.list_session_origins() == []


async def test_an_origin_left_running_by_a_dead_process_is_ended_interrupted() -> None:
    db = InMemoryDatabase()
    demo = await play_demo(db)
    other = await play_demo(db)
    exited = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(exited.stdout)
    assert start_time(dead_pid) is None
    dead = ProcessId(ProcessId.current().host, dead_pid, "1")
    alive = ProcessId.current()
    for session, owner in ((other.session_id, dead), (demo.session_id, alive)):
        await db.save_session_origin(
            SessionOrigin(
                session_id=session,
                source_session_id="source",
                kind=OriginKind.FORK,
                at_turn=3,
                owner=str(owner),
                heartbeat_at=utcnow(),
            )
        )
    [ended] = await recover_origins(db)
    assert (ended.session_id, ended.status, ended.error) == (
        other.session_id,
        JobStatus.FAILED,
        INTERRUPTED,
    )
    assert await recover_origins(db) == []
    alive_origin = await db.get_session_origin(demo.session_id)
    assert alive_origin is not None and alive_origin.status is JobStatus.RUNNING


async def test_a_fork_for_the_same_client_holds_the_first_turns_and_goes_on(
    db: DatabaseInterface,
) -> None:
    demo = await play_demo(db)
    service = CoachService(ScriptedLLMClient([{"message": "Same client, new road."}]), db)
    identities_before = await db.get_identities(demo.user_id)
    origin = await service.sessions.fork(demo.session_id, AT, same_client=True, by="ana")
    assert service.sessions.handle(origin.session_id) is None  # written at once
    stored = await db.get_session_origin(origin.session_id)
    assert stored is not None and (stored.status, stored.at_turn, stored.created_by) == (
        JobStatus.DONE,
        AT,
        "ana",
    )
    assert stored.source_session_id == demo.session_id
    fork = await db.get_session(origin.session_id)
    assert fork is not None and fork.user_id == demo.user_id and fork.turn_count == AT
    source_turns = await stored_turns(db, demo.session_id)
    fork_turns = await stored_turns(db, origin.session_id)
    assert [(t.state_after, t.raw_output, t.prompt_version) for t in fork_turns] == [
        (t.state_after, t.raw_output, t.prompt_version) for t in source_turns[:AT]
    ]
    last_reply = source_turns[AT - 1].coach_message_id
    ids = [m.id for m in await db.list_messages(demo.session_id, limit=1000)]
    expected = (await conversation(db, demo.session_id))[: ids.index(last_reply) + 1]
    assert await conversation(db, origin.session_id) == expected
    assert not set(ids) & {m.id for m in await db.list_messages(origin.session_id, limit=1000)}
    state = await db.get_state(demo.user_id, origin.session_id)
    assert state is not None and state.state is source_turns[AT - 1].state_after
    # The client's identities are shared, unchanged; the source is unchanged.
    assert await db.get_identities(demo.user_id) == identities_before
    assert len(await db.list_turns(demo.session_id)) == len(DEMO_STEPS)
    result = await service.send_message_and_wait(demo.user_id, origin.session_id, "Go on")
    assert result.ok and result.turn_seq == AT + 1 and result.reply == "Same client, new road."
    with pytest.raises(InputError, match="there is no turn 11"):
        await service.sessions.fork(demo.session_id, 11, same_client=True)


class EndNotStored(InMemoryDatabase):
    """A database that cannot store the end of a fork or replay (it fails once)."""

    failed = False

    async def save_session_origin(self, origin: SessionOrigin) -> SessionOrigin:
        if origin.status is not JobStatus.RUNNING and not self.failed:
            self.failed = True
            raise PersistenceError("the disk is full")
        return await super().save_session_origin(origin)


async def test_a_task_whose_end_was_not_stored_is_ended_by_its_own_engine() -> None:
    db = EndNotStored()
    demo = await play_demo(db)
    service = CoachService(ScriptedLLMClient(), db)
    origin = await service.sessions.fork(demo.session_id, 2)
    handle = service.sessions.handle(origin.session_id)
    assert handle is not None
    await handle.ended()
    assert handle.error is not None and "could not be stored: the disk is full" in handle.error
    stuck = await db.get_session_origin(origin.session_id)
    assert stuck is not None and stuck.status is JobStatus.RUNNING  # its owner lives on
    [ended] = await service.sessions.recover()
    assert (ended.session_id, ended.status, ended.error) == (
        origin.session_id,
        JobStatus.FAILED,
        INTERRUPTED,
    )
