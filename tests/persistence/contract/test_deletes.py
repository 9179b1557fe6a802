"""Contract: delete_user and delete_session cascade; nothing of what they delete is left."""

from __future__ import annotations

from coach.enums import CoachingState
from coach.persistence import DatabaseInterface, TurnCommit

from . import builders as b


async def fill_session(db: DatabaseInterface, user_id: str, session_id: str) -> str:
    """Store a state, 3 messages, 2 turns and an identity in the session; return the identity id."""
    ctx = await db.save_context(b.context(user_id, session_id, b.messages(1)))
    ctx.messages.extend(b.messages(2, start=1))
    await db.commit_turn(
        TurnCommit(
            context=ctx,
            state=b.state(user_id, session_id, CoachingState.IDENTITY_BRAINSTORMING),
            turn=b.turn(user_id, session_id, ctx.messages[1].id),
        )
    )
    await db.save_turn(b.turn(user_id, session_id))
    identity = await db.save_identity(b.identity(user_id, session_id=session_id))
    return identity.id


async def test_delete_user_leaves_nothing_of_the_user(db: DatabaseInterface) -> None:
    """After delete_user no getter, list or count finds the user, their sessions or records."""
    await db.save_user(b.user("ann", data={"name": "Ann"}))
    ann_identities = [await fill_session(db, "ann", sid) for sid in ("a1", "a2")]
    ann_identities.append((await db.save_identity(b.identity("ann"))).id)
    await fill_session(db, "bob", "b1")
    before = await db.count_records()

    assert await db.delete_user("ann") is True
    assert await db.delete_user("ann") is False

    assert await db.count_records() == {
        "users": before["users"] - 1,
        "sessions": before["sessions"] - 2,
        "states": before["states"] - 2,
        "contexts": before["contexts"] - 2,
        "messages": before["messages"] - 6,
        "identities": before["identities"] - 3,
        "turns": before["turns"] - 4,
    }
    assert await db.get_user("ann") is None
    assert await db.get_sessions_for_user("ann") == []
    assert await db.get_identities("ann") == []
    for identity_id in ann_identities:
        assert await db.get_identity(identity_id) is None
    for sid in ("a1", "a2"):
        assert await db.get_user_id_for_session(sid) is None
        assert await db.get_session(sid) is None
        assert await db.get_state("ann", sid) is None
        assert await db.get_context("ann", sid) is None
        assert await db.list_messages(sid) == []
        assert await db.list_turns(sid) == []
    assert [u.id for u in (await db.list_users()).items] == ["bob"]
    assert [s.session_id for s in (await db.list_sessions()).items] == ["b1"]
    bob = await db.get_session("b1")
    assert bob is not None
    assert (bob.message_count, bob.turn_count) == (3, 2)


async def test_delete_session_leaves_nothing_of_the_session_but_its_identities(
    db: DatabaseInterface,
) -> None:
    """delete_session removes state, context, messages and turns; identities lose their session."""
    found_here = await fill_session(db, "ann", "a1")
    found_there = await fill_session(db, "ann", "a2")
    before = await db.count_records()

    assert await db.delete_session("a1") is True
    assert await db.delete_session("a1") is False

    assert await db.count_records() == {
        **before,
        "sessions": before["sessions"] - 1,
        "states": before["states"] - 1,
        "contexts": before["contexts"] - 1,
        "messages": before["messages"] - 3,
        "turns": before["turns"] - 2,
    }
    assert await db.get_session("a1") is None
    assert await db.get_user_id_for_session("a1") is None
    assert await db.get_state("ann", "a1") is None
    assert await db.get_context("ann", "a1") is None
    assert await db.list_messages("a1") == []
    assert await db.list_turns("a1") == []
    assert await db.get_identities("ann", session_id="a1") == []
    assert await db.get_sessions_for_user("ann") == ["a2"]
    assert [s.session_id for s in (await db.list_sessions()).items] == ["a2"]
    kept = await db.get_identity(found_here)
    assert kept is not None
    assert (kept.user_id, kept.session_id) == ("ann", None)
    other = await db.get_identity(found_there)
    assert other is not None
    assert other.session_id == "a2"
    assert await db.get_user("ann") is not None


async def test_a_deleted_session_id_starts_afresh(db: DatabaseInterface) -> None:
    """After delete_session the id is free: a new context starts at version 1 and turn seq 1."""
    await fill_session(db, "ann", "a1")
    await db.delete_session("a1")
    saved = await db.save_context(b.context("bob", "a1", b.messages(1)))
    turn = await db.save_turn(b.turn("bob", "a1"))
    assert (saved.version, turn.seq) == (1, 1)
    assert await db.get_user_id_for_session("a1") == "bob"


async def test_delete_context_removes_its_messages_and_a_new_one_starts_at_version_1(
    db: DatabaseInterface,
) -> None:
    """delete_context removes the context and its messages only; the session and state remain."""
    await fill_session(db, "ann", "a1")
    assert await db.delete_context("ann", "a1") is True
    assert await db.get_context("ann", "a1") is None
    assert await db.list_messages("a1") == []
    session = await db.get_session("a1")
    assert session is not None
    assert (session.message_count, session.turn_count, session.state) == (
        0,
        2,
        CoachingState.IDENTITY_BRAINSTORMING,
    )
    saved = await db.save_context(b.context("ann", "a1", b.messages(2)))
    assert saved.version == 1
    assert [m.content for m in await db.list_messages("a1")] == ["message 0", "message 1"]
