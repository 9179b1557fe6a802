"""Contract: a turn is stored pending with the user's message before the model is called, and
later completed in place (ok or failed); a message never has two live turns. The pending turns
of every session are listed for recovery, the failed ones for the Admin page."""

from __future__ import annotations

from coach.enums import MessageRole, TurnStatus
from coach.errors import ConcurrencyError, TurnInProgressError
from coach.persistence import ContextRecord, DatabaseInterface, TurnCommit, TurnRecord
from coach.persistence.base import MAX_PAGE_SIZE

from . import builders as b


async def begun(db: DatabaseInterface, session_id: str = "s1") -> tuple[ContextRecord, TurnRecord]:
    """ann's session with a welcome, then a user message stored with its pending turn."""
    await db.save_context(b.context("ann", session_id, [b.message("Welcome", MessageRole.COACH)]))
    ctx = await db.get_context("ann", session_id)
    assert ctx is not None
    question = b.message("Can you help?")
    ctx.messages.append(question)
    pending = b.turn("ann", session_id, question.id, status=TurnStatus.PENDING, owner="host/1/2")
    result = await db.commit_turn(TurnCommit(context=ctx, turn=pending))
    assert result.turn_seq == 1
    stored = await db.get_context("ann", session_id)
    assert stored is not None
    return stored, pending.model_copy(update={"seq": result.turn_seq})


async def test_a_pending_turn_is_stored_with_the_users_message(db: DatabaseInterface) -> None:
    """The message and the pending turn land together, before any reply exists."""
    ctx, pending = await begun(db)
    assert [m.content for m in ctx.messages] == ["Welcome", "Can you help?"]
    found = await db.get_turn_for_message("s1", pending.user_message_id)
    assert found is not None
    assert (found.seq, found.status, found.owner) == (1, TurnStatus.PENDING, "host/1/2")
    assert [t.seq for t in await db.list_pending_turns()] == [1]
    session = await db.get_session("s1")
    assert session is not None and (session.message_count, session.turn_count) == (2, 1)


async def test_completing_a_pending_turn_updates_it_in_place(db: DatabaseInterface) -> None:
    """The reply and the finished turn keep the pending turn's seq; nothing is pending after."""
    ctx, pending = await begun(db)
    answer = b.message("Gladly.", MessageRole.COACH, reply_to=pending.user_message_id)
    ctx.messages.append(answer)
    done = pending.model_copy(
        update={"status": TurnStatus.OK, "coach_message_id": answer.id, "raw_output": "{}"}
    )
    result = await db.commit_turn(TurnCommit(context=ctx, turn=done))
    assert result.turn_seq == 1
    assert await db.get_turn("s1", 1) == done
    assert await db.list_pending_turns() == []
    # The reply names the message it answers.
    assert await db.get_message("s1", answer.id) == answer
    session = await db.get_session("s1")
    assert session is not None and (session.message_count, session.turn_count) == (3, 1)


async def test_a_message_with_a_pending_turn_gets_no_second_turn(db: DatabaseInterface) -> None:
    """Two tabs starting the same message: the second is refused, and nothing of it is stored."""
    _, pending = await begun(db)
    before = await b.snapshot(db, "ann", "s1")
    again = b.turn("ann", "s1", pending.user_message_id, status=TurnStatus.PENDING)
    with b.raises(TurnInProgressError):
        await db.commit_turn(TurnCommit(turn=again))
    assert await b.snapshot(db, "ann", "s1") == before


async def test_a_turn_no_longer_pending_cannot_be_completed(db: DatabaseInterface) -> None:
    """Once recovery marked a turn failed, the late reply of its lost process is refused whole."""
    ctx, pending = await begun(db)
    interrupted = pending.model_copy(update={"status": TurnStatus.FAILED, "error": "interrupted"})
    await db.commit_turn(TurnCommit(turn=interrupted))
    before = await b.snapshot(db, "ann", "s1")
    answer = b.message("Too late.", MessageRole.COACH)
    ctx.messages.append(answer)
    late = pending.model_copy(update={"status": TurnStatus.OK, "coach_message_id": answer.id})
    with b.raises(ConcurrencyError):
        await db.commit_turn(TurnCommit(context=ctx, turn=late))
    assert await b.snapshot(db, "ann", "s1") == before


async def test_an_interrupted_turn_can_be_retried(db: DatabaseInterface) -> None:
    """A failed (interrupted) turn frees its message for a new pending turn, numbered next."""
    _, pending = await begun(db)
    await db.save_turn(pending.model_copy(update={"status": TurnStatus.FAILED, "error": "x"}))
    retry = await db.save_turn(
        b.turn("ann", "s1", pending.user_message_id, status=TurnStatus.PENDING)
    )
    assert retry.seq == 2
    assert [(t.seq, t.status) for t in await db.list_turns("s1")] == [
        (1, TurnStatus.FAILED),
        (2, TurnStatus.PENDING),
    ]


async def test_a_heartbeat_keeps_the_turn_pending(db: DatabaseInterface) -> None:
    """A running turn refreshes ``heartbeat_at`` without finishing."""
    _, pending = await begun(db)
    beat = b.tick()
    await db.save_turn(pending.model_copy(update={"heartbeat_at": beat}))
    [listed] = await db.list_pending_turns()
    assert (listed.seq, listed.heartbeat_at) == (1, beat)


async def test_pending_turns_of_every_session_are_listed_oldest_first(
    db: DatabaseInterface,
) -> None:
    """Recovery finds the pending turns of all sessions, oldest first, a page at a time."""
    for sid in ("s1", "s2", "s3"):
        await begun(db, sid)
    assert [t.session_id for t in await db.list_pending_turns()] == ["s1", "s2", "s3"]
    assert [t.session_id for t in await db.list_pending_turns(limit=2)] == ["s1", "s2"]
    for limit in (0, MAX_PAGE_SIZE + 1):
        with b.raises(ValueError):
            await db.list_pending_turns(limit=limit)


async def test_failed_turns_of_every_session_are_listed_newest_first(
    db: DatabaseInterface,
) -> None:
    """The Admin page finds the failed turns of all sessions, newest first, up to the limit;
    an interrupted turn counts, ok and pending turns do not."""
    _, interrupted = await begun(db, "s1")
    await db.save_turn(interrupted.model_copy(update={"status": TurnStatus.FAILED, "error": "x"}))
    for sid in ("s2", "s3", "s1"):
        await db.save_turn(b.turn("ann", sid))
        await db.save_turn(b.turn("ann", sid, status=TurnStatus.FAILED, error=f"timeout {sid}"))
    await begun(db, "s4")
    newest_first = [("s1", 3, "timeout s1"), ("s3", 2, "timeout s3"), ("s2", 2, "timeout s2")]
    found = await db.list_failed_turns()
    assert [(t.session_id, t.seq, t.error) for t in found] == [*newest_first, ("s1", 1, "x")]
    assert all(t.status is TurnStatus.FAILED for t in found)
    assert [(t.session_id, t.seq, t.error) for t in await db.list_failed_turns(limit=3)] == (
        newest_first
    )
    for limit in (0, MAX_PAGE_SIZE + 1):
        with b.raises(ValueError):
            await db.list_failed_turns(limit=limit)


async def test_failed_turns_at_one_time_come_by_session_then_seq_descending(
    db: DatabaseInterface,
) -> None:
    at = b.tick()
    for sid in ("s2", "s1", "s3", "s1"):
        await db.save_turn(b.turn("ann", sid, status=TurnStatus.FAILED, created_at=at))
    found = [(t.session_id, t.seq) for t in await db.list_failed_turns()]
    assert found == [("s3", 1), ("s2", 1), ("s1", 2), ("s1", 1)]


async def test_no_failed_turns_lists_nothing(db: DatabaseInterface) -> None:
    await begun(db)
    await db.save_turn(b.turn("ann", "s2"))
    assert await db.list_failed_turns() == []


async def test_get_message_finds_one_message_of_the_session(db: DatabaseInterface) -> None:
    """A message by id, only in its own session."""
    ctx, pending = await begun(db)
    await begun(db, "s2")
    found = await db.get_message("s1", pending.user_message_id)
    assert found == ctx.messages[-1]
    assert await db.get_message("s2", pending.user_message_id) is None
    assert await db.get_message("s1", "no-such-message") is None


async def test_list_turns_pages_are_bounded(db: DatabaseInterface) -> None:
    """Turn lists are pages: the limit must be 1..MAX_PAGE_SIZE and after_seq not negative."""
    await db.save_turn(b.turn("ann", "s1"))
    for limit in (0, -1, MAX_PAGE_SIZE + 1):
        with b.raises(ValueError):
            await db.list_turns("s1", limit=limit)
    with b.raises(ValueError):
        await db.list_turns("s1", after_seq=-1)
    assert await db.get_turn("s1", 2) is None
    assert await db.get_turn("no-session", 1) is None
