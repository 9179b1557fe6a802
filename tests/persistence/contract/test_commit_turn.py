"""Contract: commit_turn writes a turn's messages, state, identities, user and turn log together,
or nothing at all."""

from __future__ import annotations

import asyncio
from typing import Any

from coach.enums import CoachingState, IdentityState, MessageRole
from coach.errors import (
    ConcurrencyError,
    DuplicateLabelError,
    DuplicateTurnError,
    OwnershipError,
)
from coach.persistence import ContextRecord, DatabaseInterface, TurnCommit

from . import builders as b


async def opened_session(db: DatabaseInterface) -> ContextRecord:
    """ann's session s1 after one ok turn: 3 messages, version 2, brainstorming, one identity."""
    ctx = await db.save_context(b.context("ann", "s1", [b.message("Welcome", MessageRole.COACH)]))
    ctx.messages.extend([b.message("hi"), b.message("Hello Ann", MessageRole.COACH)])
    await db.commit_turn(
        TurnCommit(
            context=ctx,
            state=b.state("ann", "s1", CoachingState.IDENTITY_BRAINSTORMING),
            identities=[b.identity("ann", "Daily Walker", session_id="s1")],
            user=b.user("ann", data={"name": "Ann"}),
            turn=b.turn("ann", "s1", ctx.messages[1].id),
        )
    )
    loaded = await db.get_context("ann", "s1")
    assert loaded is not None
    return loaded


def next_turn(ctx: ContextRecord, **overrides: Any) -> TurnCommit:
    """A commit of one more exchange on ``ctx`` that touches every kind of record."""
    ctx = ctx.model_copy(deep=True)
    question = b.message("next question")
    ctx.messages.extend([question, b.message("next answer", MessageRole.COACH)])
    ctx.user_data = {"summary": "changed by the turn"}
    fields: dict[str, Any] = {
        "context": ctx,
        "state": b.state("ann", "s1", CoachingState.IDENTITY_REFINEMENT, focus_identity_id="x"),
        "identities": [b.identity("ann", "Night Owl", session_id="s1")],
        "user": b.user("ann", data={"name": "Changed"}, version=1),
        "turn": b.turn("ann", "s1", question.id, raw_output="next"),
    }
    fields.update(overrides)
    return TurnCommit(**fields)


async def test_commit_turn_writes_every_part_of_the_turn(db: DatabaseInterface) -> None:
    """Messages, version, state, identities, user and turn log are all stored by one commit."""
    ctx = await opened_session(db)
    commit = next_turn(ctx)
    result = await db.commit_turn(commit)
    assert (result.context_version, result.turn_seq) == (3, 2)

    stored = await db.get_context("ann", "s1")
    assert stored is not None
    assert [m.content for m in stored.messages] == [
        "Welcome",
        "hi",
        "Hello Ann",
        "next question",
        "next answer",
    ]
    assert (stored.version, stored.user_data) == (3, {"summary": "changed by the turn"})
    state = await db.get_state("ann", "s1")
    assert state is not None
    assert (state.state, state.focus_identity_id) == (CoachingState.IDENTITY_REFINEMENT, "x")
    assert [i.label for i in await db.get_identities("ann")] == ["Daily Walker", "Night Owl"]
    user = await db.get_user("ann")
    assert user is not None
    assert user.data == {"name": "Changed"}
    turns = await db.list_turns("s1")
    assert [(t.seq, t.user_message_id) for t in turns][-1] == (2, commit.context.messages[3].id)


async def test_commit_turn_without_a_turn_stores_the_rest(db: DatabaseInterface) -> None:
    """A commit with no turn (opening a session) stores its context and state; turn_seq is None."""
    result = await db.commit_turn(
        TurnCommit(
            context=b.context("ann", "s1", [b.message("Welcome", MessageRole.COACH)]),
            state=b.state("ann", "s1"),
        )
    )
    assert (result.context_version, result.turn_seq) == (1, None)
    session = await db.get_session("s1")
    assert session is not None
    assert (session.message_count, session.turn_count, session.state) == (
        1,
        0,
        CoachingState.INTRODUCTION,
    )


async def test_a_stale_commit_raises_concurrency_error_and_writes_nothing(
    db: DatabaseInterface,
) -> None:
    """A commit built on an old version is refused whole."""
    ctx = await opened_session(db)
    await db.commit_turn(next_turn(ctx))
    before = await b.snapshot(db, "ann", "s1")
    with b.raises(ConcurrencyError):
        await db.commit_turn(next_turn(ctx))
    assert await b.snapshot(db, "ann", "s1") == before


async def test_a_duplicate_label_halfway_writes_nothing_of_the_turn(db: DatabaseInterface) -> None:
    """A label clash after a valid context and identity undoes the whole turn."""
    ctx = await opened_session(db)
    before = await b.snapshot(db, "ann", "s1")
    commit = next_turn(
        ctx,
        identities=[
            b.identity("ann", "Night Owl", session_id="s1"),
            b.identity("ann", "DAILY walker", session_id="s1"),
        ],
    )
    with b.raises(DuplicateLabelError):
        await db.commit_turn(commit)
    assert await b.snapshot(db, "ann", "s1") == before


async def test_a_commit_repeating_an_ok_turn_writes_nothing(db: DatabaseInterface) -> None:
    """A turn for a user message that already has an ok turn fails last and undoes the rest."""
    ctx = await opened_session(db)
    answered = ctx.messages[1].id
    before = await b.snapshot(db, "ann", "s1")
    with b.raises(DuplicateTurnError):
        await db.commit_turn(next_turn(ctx, turn=b.turn("ann", "s1", answered)))
    assert await b.snapshot(db, "ann", "s1") == before


async def test_a_commit_touching_another_users_identity_writes_nothing(
    db: DatabaseInterface,
) -> None:
    """An identity id owned by another user refuses the whole turn with OwnershipError."""
    theirs = await db.save_identity(b.identity("bob", "Bob's Own"))
    ctx = await opened_session(db)
    before = await b.snapshot(db, "ann", "s1")
    commit = next_turn(
        ctx, identities=[b.identity("ann", "Night Owl", session_id="s1", id=theirs.id)]
    )
    with b.raises(OwnershipError):
        await db.commit_turn(commit)
    assert await b.snapshot(db, "ann", "s1") == before
    assert await db.get_identity(theirs.id) == theirs


async def test_a_failed_first_commit_leaves_no_session_or_user(db: DatabaseInterface) -> None:
    """A new session's first commit that fails registers neither the session nor its user."""
    await db.save_identity(b.identity("bob", "Daily Walker"))
    with b.raises(DuplicateLabelError):
        await db.commit_turn(
            TurnCommit(
                context=b.context("ann", "s-new", b.messages(2)),
                state=b.state("ann", "s-new"),
                identities=[
                    b.identity("ann", "Same Label", session_id="s-new"),
                    b.identity("ann", "same label", session_id="s-new"),
                ],
            )
        )
    assert await db.get_session("s-new") is None
    assert await db.get_user_id_for_session("s-new") is None
    assert await db.get_user("ann") is None
    assert await db.count_records() == {
        "users": 1,
        "sessions": 0,
        "states": 0,
        "contexts": 0,
        "messages": 0,
        "identities": 1,
        "turns": 0,
    }


async def test_one_message_committed_twice_at_once_makes_one_turn(db: DatabaseInterface) -> None:
    """Two tabs submitting the same message concurrently: one turn, one copy of the messages."""
    ctx = await opened_session(db)
    commit = next_turn(ctx)
    twin = commit.model_copy(deep=True)
    results = await asyncio.gather(
        db.commit_turn(commit), db.commit_turn(twin), return_exceptions=True
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1, results
    # The second commit is stale because the first answered the same message.
    assert type(errors[0]) is DuplicateTurnError, errors
    assert [t.seq for t in await db.list_turns("s1")] == [1, 2]
    stored = await db.get_context("ann", "s1")
    assert stored is not None
    assert (len(stored.messages), stored.version) == (5, 3)
    assert [i.label for i in await db.get_identities("ann")] == ["Daily Walker", "Night Owl"]


async def test_commit_turn_may_dismiss_and_reuse_a_label_in_one_turn(
    db: DatabaseInterface,
) -> None:
    """Identities are applied in order: dismissing one frees its label for the next in the list."""
    ctx = await opened_session(db)
    walker = (await db.get_identities("ann"))[0]
    dismissed = walker.model_copy(update={"state": IdentityState.DISMISSED})
    commit = next_turn(
        ctx, identities=[dismissed, b.identity("ann", "Daily Walker", session_id="s1")]
    )
    await db.commit_turn(commit)
    identities = await db.get_identities("ann")
    assert [(i.label, i.state) for i in identities] == [
        ("Daily Walker", IdentityState.DISMISSED),
        ("Daily Walker", IdentityState.PROPOSED),
    ]


async def test_the_same_commit_twice_raises_duplicate_turn_error(db: DatabaseInterface) -> None:
    """A commit repeated after it landed is refused as a duplicate turn, on every backend."""
    ctx = await opened_session(db)
    commit = next_turn(ctx)
    await db.commit_turn(commit)
    before = await b.snapshot(db, "ann", "s1")
    with b.raises(DuplicateTurnError):
        await db.commit_turn(commit.model_copy(deep=True))
    assert await b.snapshot(db, "ann", "s1") == before


async def test_a_commit_carrying_another_users_record_writes_nothing(db: DatabaseInterface) -> None:
    """The user record of a commit must be the context's user: OwnershipError, nothing stored."""
    await db.save_user(b.user("bob", data={"name": "Bob"}))
    ctx = await opened_session(db)
    before = await b.snapshot(db, "ann", "s1")
    with b.raises(OwnershipError):
        await db.commit_turn(next_turn(ctx, user=b.user("bob", data={"name": "Mallory"})))
    assert await b.snapshot(db, "ann", "s1") == before
    bob = await db.get_user("bob")
    assert bob is not None and bob.data == {"name": "Bob"}


async def test_a_commit_carrying_another_users_identity_writes_nothing(
    db: DatabaseInterface,
) -> None:
    """A new identity in the commit that names another user: OwnershipError, nothing stored."""
    ctx = await opened_session(db)
    before = await b.snapshot(db, "ann", "s1")
    with b.raises(OwnershipError):
        await db.commit_turn(next_turn(ctx, identities=[b.identity("bob", "Bob's Label")]))
    assert await b.snapshot(db, "ann", "s1") == before
    assert await db.get_identities("bob") == []
