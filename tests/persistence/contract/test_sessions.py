"""Contract: a session belongs to one user, is found whichever record came first, and its
summary follows the writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from coach.enums import CoachingState
from coach.errors import OwnershipError
from coach.persistence import DatabaseInterface, TurnCommit

from . import builders as b

FirstRecord = Callable[[DatabaseInterface, str, str], Awaitable[object]]

FIRST_RECORDS: dict[str, FirstRecord] = {
    "state": lambda db, u, s: db.save_state(b.state(u, s)),
    "context": lambda db, u, s: db.save_context(b.context(u, s, b.messages(1))),
    "identity": lambda db, u, s: db.save_identity(b.identity(u, session_id=s)),
    "turn": lambda db, u, s: db.save_turn(b.turn(u, s)),
    "commit": lambda db, u, s: db.commit_turn(TurnCommit(context=b.context(u, s, b.messages(1)))),
}


@pytest.mark.parametrize("first", ["state", "context", "identity", "turn"])
async def test_a_session_is_found_whichever_record_is_saved_first(
    db: DatabaseInterface, first: str
) -> None:
    """Saving any one record of a new session registers the session and an empty user."""
    await FIRST_RECORDS[first](db, "ann", "s1")

    assert await db.get_user_id_for_session("s1") == "ann"
    assert await db.get_sessions_for_user("ann") == ["s1"]
    session = await db.get_session("s1")
    assert session is not None
    assert (session.session_id, session.user_id) == ("s1", "ann")
    assert [s.session_id for s in (await db.list_sessions()).items] == ["s1"]
    assert [s.session_id for s in (await db.list_sessions(user_id="ann")).items] == ["s1"]
    user = await db.get_user("ann")
    assert user is not None
    assert user.data == {}
    counts = await db.count_records()
    assert (counts["users"], counts["sessions"]) == (1, 1)


async def test_registering_a_session_keeps_the_existing_user(db: DatabaseInterface) -> None:
    """A session record for a known user leaves the user's data and created_at alone."""
    saved = await db.save_user(b.user("ann", data={"name": "Ann"}))
    for save in FIRST_RECORDS.values():
        await save(db, "ann", b.uid("session"))
    user = await db.get_user("ann")
    assert user is not None
    assert (user.data, user.created_at) == ({"name": "Ann"}, saved.created_at)
    assert len(await db.get_sessions_for_user("ann")) == len(FIRST_RECORDS)


@pytest.mark.parametrize("kind", list(FIRST_RECORDS))
async def test_a_record_naming_another_users_session_raises_ownership_error(
    db: DatabaseInterface, kind: str
) -> None:
    """Session ids are global: another user's record for the session is refused, nothing written."""
    await db.save_state(b.state("ann", "s1", CoachingState.IDENTITY_BRAINSTORMING))
    before = await db.count_records()
    with b.raises(OwnershipError):
        await FIRST_RECORDS[kind](db, "bob", "s1")
    assert await db.count_records() == before
    assert await db.get_user("bob") is None
    assert await db.get_user_id_for_session("s1") == "ann"
    state = await db.get_state("ann", "s1")
    assert state is not None
    assert state.state is CoachingState.IDENTITY_BRAINSTORMING


async def test_an_identity_id_of_another_user_raises_ownership_error(db: DatabaseInterface) -> None:
    """Saving an identity whose id belongs to another user's identity is refused."""
    theirs = await db.save_identity(b.identity("ann", "Daily Walker"))
    with b.raises(OwnershipError):
        await db.save_identity(b.identity("bob", "Night Owl", id=theirs.id))
    stored = await db.get_identity(theirs.id)
    assert stored is not None
    assert (stored.user_id, stored.label) == ("ann", "Daily Walker")
    assert await db.get_identities("bob") == []


async def test_sessions_are_ordered_most_recently_active_first(db: DatabaseInterface) -> None:
    """get_sessions_for_user and list_sessions put the session written last first."""
    for sid in ("s1", "s2", "s3"):
        await db.save_context(b.context("ann", sid, b.messages(1)))
    assert await db.get_sessions_for_user("ann") == ["s3", "s2", "s1"]

    ctx = await db.get_context("ann", "s1")
    assert ctx is not None
    ctx.messages.append(b.message("back again"))
    await db.save_context(ctx)
    assert await db.get_sessions_for_user("ann") == ["s1", "s3", "s2"]
    assert [s.session_id for s in (await db.list_sessions()).items] == ["s1", "s3", "s2"]


async def test_session_summary_follows_the_writes(db: DatabaseInterface) -> None:
    """get_session's phase, message count, turn count and last activity follow each write."""
    ctx = await db.save_context(b.context("ann", "s1", b.messages(3)))
    first = await db.get_session("s1")
    assert first is not None
    assert (first.state, first.message_count, first.turn_count) == (None, 3, 0)
    assert first.created_at <= first.last_activity_at

    await db.save_state(b.state("ann", "s1", CoachingState.IDENTITY_BRAINSTORMING))
    await db.save_turn(b.turn("ann", "s1"))
    ctx.messages.extend(b.messages(2, start=3))
    await db.commit_turn(
        TurnCommit(
            context=ctx,
            state=b.state("ann", "s1", CoachingState.IDENTITY_REFINEMENT),
            turn=b.turn("ann", "s1", ctx.messages[3].id),
        )
    )
    later = await db.get_session("s1")
    assert later is not None
    assert (later.state, later.message_count, later.turn_count) == (
        CoachingState.IDENTITY_REFINEMENT,
        5,
        2,
    )
    assert later.created_at == first.created_at
    assert later.last_activity_at > first.last_activity_at
    assert (await db.list_sessions()).items == [later]


async def test_a_session_summary_names_its_client_as_the_user_is_named_now(
    db: DatabaseInterface,
) -> None:
    """get_session and list_sessions give the user's ``data["name"]`` as ``user_name``, read
    when asked (a renamed client shows the new name); ``None`` for a user without a name."""
    await db.save_user(b.user("ann", data={"name": "Ann"}))
    await db.save_state(b.state("ann", "ann-s1"))
    await db.save_state(b.state("nameless", "nameless-s1"))

    async def names() -> dict[str, str | None]:
        listed = {s.session_id: s.user_name for s in (await db.list_sessions()).items}
        for session_id, name in listed.items():
            summary = await db.get_session(session_id)
            assert summary is not None
            assert summary.user_name == name
        return listed

    assert await names() == {"ann-s1": "Ann", "nameless-s1": None}
    await db.update_user_data("ann", {"name": "Annie"})
    await db.update_user_data("nameless", {"name": "Bo"})
    assert await names() == {"ann-s1": "Annie", "nameless-s1": "Bo"}
