"""A turn is a task of the engine, not of the page that follows it.

The page may stop reading in the middle of the reply: the turn runs on and is stored whole, and
a page that comes back can follow it from the start. A turn whose task fails for a reason of
the engine (the database, not the model) is stored ``failed`` with that reason, and whoever
follows it gets the result instead of waiting forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from coach.enums import MessageRole, TurnStatus
from coach.errors import PersistenceError
from coach.llm.base import TextDelta
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseInterface, IdentityRecord
from coach.persistence.memory import InMemoryDatabase
from coach.persistence.records import CommitResult, TurnCommit
from coach.service import CoachService, TurnEvent, TurnResult
from coach.turns import INTERRUPTED
from tests.engine.turn_helpers import USER, follow, reply, split
from tests.records import stored_turns

LONG_REPLY = (
    "Thank you for telling me that. It sounds like making things with your hands has always "
    "mattered to you, even when life got busy. What did you love most about it back then?"
)
OUTAGE = "reading the identities failed: the database did not answer; check that it is running"


async def test_the_page_may_stop_reading_mid_reply(db: DatabaseInterface) -> None:
    client = ScriptedLLMClient([reply(LONG_REPLY)], chunk_delay=0.02)
    service = CoachService(client, db)
    session = (await service.start_session(USER)).session_id

    stream = service.send_message(USER, session, "I used to build furniture", client_message_id="m")
    first = await anext(stream)
    assert isinstance(first, TextDelta) and first.text != LONG_REPLY
    await stream.aclose()  # the page goes away after the first piece

    pending = await db.get_turn_for_message(session, "m")
    assert pending is not None and pending.status is TurnStatus.PENDING, "the turn ended early"
    # A page that comes back follows the running turn from its first piece.
    [handle] = service.running_turns(session)
    async with asyncio.timeout(10):
        text, result = split(await follow(handle))
    assert text == LONG_REPLY and result.ok

    turn = await db.get_turn_for_message(session, "m")
    assert turn is not None and turn.status is TurnStatus.OK and turn.coach_message_id
    context = await db.get_context(USER, session)
    assert context is not None
    assert [(m.role, m.content) for m in context.messages[1:]] == [
        (MessageRole.USER, "I used to build furniture"),
        (MessageRole.COACH, LONG_REPLY),
    ]
    assert context.messages[-1].id == turn.coach_message_id
    assert len(client.requests) == 1
    assert service.running_turns(session) == []


async def test_a_page_that_never_comes_back_still_gets_its_turn_stored(
    db: DatabaseInterface,
) -> None:
    """Nobody follows the turn after the first piece: it runs to the end and is stored ok."""
    service = CoachService(ScriptedLLMClient([reply(LONG_REPLY)], chunk_delay=0.01), db)
    session = (await service.start_session(USER)).session_id
    stream = service.send_message(USER, session, "Hello", client_message_id="m")
    assert isinstance(await anext(stream), TextDelta)
    await stream.aclose()
    async with asyncio.timeout(10):
        await service.aclose()  # the app shutting down waits for the engine's turns
    turn = await db.get_turn_for_message(session, "m")
    assert turn is not None and turn.status is TurnStatus.OK and turn.coach_message_id
    coach = await db.get_message(session, turn.coach_message_id)
    assert coach is not None and coach.content == LONG_REPLY


class OutageOnTurnLoad(InMemoryDatabase):
    """Once ``armed``, the next read of the user's identities fails (the first part of a turn's
    context that beginning the turn does not read), as an unreachable database would."""

    armed = False

    async def get_identities(
        self, user_id: str, *, session_id: str | None = None
    ) -> list[IdentityRecord]:
        if self.armed:
            self.armed = False
            raise PersistenceError(OUTAGE)
        return await super().get_identities(user_id, session_id=session_id)


async def events_of(follower: str, service: CoachService, session: str) -> list[TurnEvent]:
    if follower == "send_message":
        return [
            e async for e in service.send_message(USER, session, "Hello", client_message_id="m")
        ]
    return await follow(await service.submit(USER, session, "Hello", client_message_id="m"))


@pytest.mark.parametrize("follower", ["send_message", "handle.wait"])
async def test_an_engine_failure_is_stored_and_reaches_the_follower(follower: str) -> None:
    db = OutageOnTurnLoad()
    client = ScriptedLLMClient([reply("Welcome back.")])
    service = CoachService(client, db)
    session = (await service.start_session(USER)).session_id
    db.armed = True

    async with asyncio.timeout(10):
        events = await events_of(follower, service, session)
    [result] = events
    assert isinstance(result, TurnResult)
    assert (result.status, result.error, result.coach_message) == (TurnStatus.FAILED, OUTAGE, None)
    assert client.requests == [], "the model was asked although the turn could not be built"

    [turn] = await stored_turns(db, session)
    assert (turn.status, turn.error, turn.coach_message_id) == (TurnStatus.FAILED, OUTAGE, None)
    context = await db.get_context(USER, session)
    assert context is not None and [m.content for m in context.messages[1:]] == ["Hello"]
    assert await db.list_pending_turns() == []
    assert service.running_turns(session) == []

    # The database is back: the kept message is answered by a retry.
    retried = [e async for e in service.retry_turn(USER, session)][-1]
    assert isinstance(retried, TurnResult) and retried.ok and retried.reply == "Welcome back."
    assert retried.user_message_id == "m"


class OutageForTheWholeTurn(OutageOnTurnLoad):
    """As ``OutageOnTurnLoad``, and storing the turn as failed fails too, once."""

    failure_fails = False

    async def commit_turn(self, commit: TurnCommit) -> CommitResult:
        if self.failure_fails and commit.turn and commit.turn.status is TurnStatus.FAILED:
            self.failure_fails = False
            raise PersistenceError(OUTAGE)
        return await super().commit_turn(commit)


@pytest.mark.parametrize("comeback", ["page reopens and retries", "message sent again"])
async def test_a_turn_that_could_not_be_stored_is_not_stuck_pending(comeback: str) -> None:
    """Nothing of the turn's outcome could be stored: the follower gets the error at once, and
    once the database is back the message can be answered in this same process (whose turn
    it was: it is alive, but nothing runs the turn any more)."""
    db = OutageForTheWholeTurn()
    client = ScriptedLLMClient([reply("Welcome back.")])
    service = CoachService(client, db)
    session = (await service.start_session(USER)).session_id
    db.armed = db.failure_fails = True

    async with asyncio.timeout(10):
        with pytest.raises(PersistenceError, match="did not answer"):
            [e async for e in service.send_message(USER, session, "Hello", client_message_id="m")]
    [pending] = await db.list_pending_turns()
    assert pending.user_message_id == "m" and service.running_turns(session) == []

    if comeback == "page reopens and retries":
        marked = await service.recover_interrupted(session_id=session)
        assert [(t.seq, t.error) for t in marked] == [(pending.seq, INTERRUPTED)]
        result = await _result(service.retry_turn(USER, session))
    else:
        result = await service.send_message_and_wait(USER, session, "Hello", client_message_id="m")
    assert result.ok and result.reply == "Welcome back." and result.user_message_id == "m"
    assert [(t.status, t.error) for t in await stored_turns(db, session)] == [
        (TurnStatus.FAILED, INTERRUPTED),
        (TurnStatus.OK, None),
    ]


async def _result(events: AsyncIterator[TurnEvent]) -> TurnResult:
    last = [e async for e in events][-1]
    assert isinstance(last, TurnResult)
    return last
