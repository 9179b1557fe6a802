"""A turn whose write is stale applies the same reply again to fresh records: the model is asked
once, each piece of the reply reaches the follower once, and every edit lands.

The database is a real backend that, right before the first commit completing a turn, lets
another writer change the user's records through the normal API (as another tab of the user
would while the model streams). That commit is then genuinely stale (``ConcurrencyError``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from coach.enums import ActionStatus, IdentityState, TurnStatus
from coach.errors import ConcurrencyError
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseInterface
from coach.persistence.memory import InMemoryDatabase
from coach.persistence.records import CommitResult, TurnCommit
from coach.persistence.sql import SQLDatabase
from coach.service import CoachService, TurnEvent
from coach.turns import INTERRUPTED
from tests.engine.turn_helpers import USER, act, brainstorming, follow, reply, split
from tests.records import stored_turns

Interference = Callable[[DatabaseInterface], Awaitable[None]]

REPLY = "Brave Explorer it is, and painting every week sounds like you."


class _InterferesOnce:
    """Runs ``interference`` once, right before the first commit that completes a turn ``ok``,
    and keeps the ``ConcurrencyError`` of every such commit that was refused."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.interference: Interference | None = None
        self.refused: list[ConcurrencyError] = []

    async def commit_turn(self, commit: TurnCommit) -> CommitResult:
        completes = commit.turn is not None and commit.turn.status is TurnStatus.OK
        if completes and self.interference is not None:
            interference, self.interference = self.interference, None
            await interference(self)  # type: ignore[arg-type]
        try:
            return await super().commit_turn(commit)  # type: ignore[misc,no-any-return]
        except ConcurrencyError as e:
            if completes:
                self.refused.append(e)
            raise


class InterferingMemory(_InterferesOnce, InMemoryDatabase):
    pass


class InterferingSQL(_InterferesOnce, SQLDatabase):
    pass


Interfering = InterferingMemory | InterferingSQL


@pytest.fixture
async def racy_db(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[Interfering]:
    """A fresh database of each backend, with the interference hook."""
    database: Interfering
    if backend == "memory":
        database = InterferingMemory()
    else:
        name = "migrated_sqlite_url" if backend == "sqlite" else "migrated_postgres_url"
        database = InterferingSQL(str(request.getfixturevalue(name)))
    await database.initialize()
    try:
        yield database
    finally:
        await database.close()


async def send(follower: str, service: Any, session_id: str, text: str) -> list[TurnEvent]:
    """The turn's events as a page sees them: ``send_message``'s stream, or its handle."""
    if follower == "send_message":
        return [e async for e in service.send_message(USER, session_id, text)]
    return await follow(await service.submit(USER, session_id, text))


@pytest.mark.parametrize("follower", ["send_message", "handle.wait"])
async def test_identities_changed_while_the_model_streams(
    racy_db: Interfering, follower: str
) -> None:
    """Another tab notes Brave Explorer and dismisses Calm Sage while the reply accepts both:
    the note and the acceptance both land, the acceptance of the dismissed one is rejected."""
    s = await brainstorming(racy_db, "Brave Explorer", "Calm Sage")
    explorer, sage = s.identity_ids["Brave Explorer"], s.identity_ids["Calm Sage"]

    async def other_tab(db: DatabaseInterface) -> None:
        await db.update_identity(explorer, {"notes": ["Loves old maps"]})
        await db.update_identity(sage, {"state": IdentityState.DISMISSED})

    racy_db.interference = other_tab
    s.client.enqueue(
        reply(
            REPLY,
            act("accept_identity", identity_id=explorer),
            act("accept_identity", identity_id=sage),
            act("save_user_info", key="goal", value="Paint every week"),
        )
    )
    asked_before = len(s.client.requests)
    text, result = split(await send(follower, s.service, s.session_id, "Explorer, yes!"))

    assert len(racy_db.refused) == 1, "the first completion was not stale: nothing was tested"
    assert len(s.client.requests) == asked_before + 1, "the model was asked again"
    assert text == REPLY, "the follower saw the reply's text other than exactly once"
    assert result.ok and result.reply == REPLY

    stored_explorer = await racy_db.get_identity(explorer)
    stored_sage = await racy_db.get_identity(sage)
    assert stored_explorer is not None and stored_sage is not None
    assert (stored_explorer.state, stored_explorer.notes) == (
        IdentityState.ACCEPTED,
        ["Loves old maps"],
    )
    assert stored_sage.state is IdentityState.DISMISSED
    user = await racy_db.get_user(USER)
    assert user is not None and user.data["goals"] == ["Paint every week"]

    # The log says applied only for what landed, with the reason for what did not.
    [turn] = [t for t in await stored_turns(racy_db, s.session_id) if t.seq == result.turn_seq]
    assert turn.status is TurnStatus.OK and turn.actions == result.actions
    assert [a.status for a in turn.actions] == [
        ActionStatus.APPLIED,
        ActionStatus.REJECTED,
        ActionStatus.APPLIED,
    ]
    assert "dismissed" in (turn.actions[1].reason or "")

    context = await racy_db.get_context(USER, s.session_id)
    assert context is not None
    assert [m.content for m in context.messages].count(REPLY) == 1
    assert context.messages[-1].content == REPLY
    assert len(context.messages) == 7  # welcome + three turns of two messages
    assert [t.status for t in await stored_turns(racy_db, s.session_id)] == [TurnStatus.OK] * 3


async def test_user_record_changed_while_the_model_streams(racy_db: Interfering) -> None:
    """Another tab renames the client while the reply saves a goal: both are kept."""
    s = await brainstorming(racy_db, "Brave Explorer")

    async def other_tab(db: DatabaseInterface) -> None:
        await db.update_user_data(USER, {"name": "Ana María"})

    racy_db.interference = other_tab
    s.client.enqueue(reply(REPLY, act("save_user_info", key="goal", value="Paint every week")))
    asked_before = len(s.client.requests)
    text, result = split(await send("send_message", s.service, s.session_id, "I paint"))

    assert len(racy_db.refused) == 1, "the first completion was not stale: nothing was tested"
    assert len(s.client.requests) == asked_before + 1
    assert text == REPLY and result.ok
    assert [a.status for a in result.actions] == [ActionStatus.APPLIED]
    user = await racy_db.get_user(USER)
    assert user is not None
    assert (user.data["name"], user.data["goals"]) == ("Ana María", ["Paint every week"])


async def test_a_turn_marked_interrupted_meanwhile_is_not_applied_again(
    racy_db: Interfering,
) -> None:
    """Another engine marked the turn interrupted while the model streamed (its heartbeat
    looked stale): the late reply is refused once, not applied again to fresh records."""
    client = ScriptedLLMClient([reply(REPLY)])
    service = CoachService(client, racy_db)
    session = (await service.start_session(USER)).session_id

    async def recovered_elsewhere(db: DatabaseInterface) -> None:
        [pending] = await db.list_pending_turns()
        stored = await db.get_turn(pending.session_id, pending.seq or 0)
        assert stored is not None
        interrupted = stored.model_copy(update={"status": TurnStatus.FAILED, "error": INTERRUPTED})
        await db.commit_turn(TurnCommit(turn=interrupted))

    racy_db.interference = recovered_elsewhere
    async with asyncio.timeout(10):
        with pytest.raises(ConcurrencyError, match="no longer in progress"):
            [e async for e in service.send_message(USER, session, "Hi", client_message_id="m")]
    assert len(racy_db.refused) == 1, "the reply was applied again to a turn no longer ours"
    turn = await racy_db.get_turn_for_message(session, "m")
    assert turn is not None and (turn.status, turn.error) == (TurnStatus.FAILED, INTERRUPTED)
    context = await racy_db.get_context(USER, session)
    assert context is not None and [m.content for m in context.messages[1:]] == ["Hi"]
