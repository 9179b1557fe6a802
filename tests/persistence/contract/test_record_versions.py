"""Contract: users and identities are versioned; no edit from another session is lost unseen.

Identities and the user record belong to the user, so two sessions of one user can change the
same record. The second to commit over a version the first replaced is refused whole
(``ConcurrencyError``), and can reload and apply its change again: both edits land.
"""

from __future__ import annotations

import asyncio
from typing import Any

from coach.enums import IdentityState, MessageRole
from coach.errors import ConcurrencyError
from coach.persistence import ContextRecord, DatabaseInterface, IdentityRecord, TurnCommit

from . import builders as b


async def two_sessions(db: DatabaseInterface) -> tuple[ContextRecord, ContextRecord]:
    """ann's sessions s1 and s2, each with a welcome message, as loaded."""
    for sid in ("s1", "s2"):
        await db.save_context(b.context("ann", sid, [b.message("Welcome", MessageRole.COACH)]))
    one, two = await db.get_context("ann", "s1"), await db.get_context("ann", "s2")
    assert one is not None and two is not None
    return one, two


def exchange(ctx: ContextRecord, **parts: Any) -> TurnCommit:
    """A turn on ``ctx``: a question, an answer, and the given records."""
    ctx = ctx.model_copy(deep=True)
    question = b.message("question")
    ctx.messages += [question, b.message("answer", MessageRole.COACH)]
    return TurnCommit(context=ctx, turn=b.turn("ann", ctx.session_id, question.id), **parts)


async def test_saves_number_user_and_identity_versions(db: DatabaseInterface) -> None:
    """A new record is saved at version 0 and stored at 1; each save stores the next one."""
    user = await db.save_user(b.user("ann", data={"name": "Ann"}))
    assert user.version == 1
    user = await db.save_user(user.model_copy(update={"data": {"name": "Anna"}}))
    assert user.version == 2
    identity = await db.save_identity(b.identity("ann", "Daily Walker"))
    assert identity.version == 1
    changed = await db.update_identity(identity.id, {"description": "walks daily"})
    assert changed is not None and changed.version == 2
    merged = await db.update_user_data("ann", {"goals": ["run"]})
    assert merged is not None and (merged.version, merged.data) == (
        3,
        {"name": "Anna", "goals": ["run"]},
    )


async def test_a_registered_user_is_saved_once_at_version_zero(db: DatabaseInterface) -> None:
    """A user created by a session's first write is a placeholder at version 0: the first save
    at version 0 lands, a second one at version 0 is stale."""
    await db.save_context(b.context("ann", "s1", b.messages(1)))
    placeholder = await db.get_user("ann")
    assert placeholder is not None and (placeholder.version, placeholder.data) == (0, {})
    await db.save_user(b.user("ann", data={"name": "Ann"}))
    with b.raises(ConcurrencyError):
        await db.save_user(b.user("ann", data={"name": "Mallory"}))
    stored = await db.get_user("ann")
    assert stored is not None and (stored.version, stored.data) == (1, {"name": "Ann"})


async def test_a_stale_identity_in_a_commit_refuses_the_whole_turn(db: DatabaseInterface) -> None:
    """Two sessions read an identity at version 1; one accepts it, then the other's note is
    refused with everything else of its turn. Reloaded and applied again, both edits land."""
    one, two = await two_sessions(db)
    found = await db.save_identity(b.identity("ann", "Creative Visionary", session_id="s1"))
    accepted = found.model_copy(update={"state": IdentityState.ACCEPTED})
    noted = found.model_copy(update={"notes": ["paints on Sundays"]})

    await db.commit_turn(exchange(one, identities=[accepted]))
    before = await b.snapshot(db, "ann", "s2")
    with b.raises(ConcurrencyError):
        await db.commit_turn(exchange(two, identities=[noted]))
    assert await b.snapshot(db, "ann", "s2") == before

    fresh = await db.get_identity(found.id)
    assert fresh is not None and fresh.version == 2
    await db.commit_turn(
        exchange(two, identities=[fresh.model_copy(update={"notes": ["paints on Sundays"]})])
    )
    stored = await db.get_identity(found.id)
    assert stored is not None
    assert (stored.state, stored.notes, stored.version) == (
        IdentityState.ACCEPTED,
        ["paints on Sundays"],
        3,
    )


async def test_a_stale_user_in_a_commit_refuses_the_whole_turn(db: DatabaseInterface) -> None:
    """The same for the user record: one session's name change and another's new goal."""
    one, two = await two_sessions(db)
    user = await db.save_user(b.user("ann", data={"name": "Ann", "goals": []}))

    await db.commit_turn(
        exchange(one, user=user.model_copy(update={"data": {"name": "Annie", "goals": []}}))
    )
    before = await b.snapshot(db, "ann", "s2")
    with b.raises(ConcurrencyError):
        await db.commit_turn(
            exchange(two, user=user.model_copy(update={"data": {"name": "Ann", "goals": ["run"]}}))
        )
    assert await b.snapshot(db, "ann", "s2") == before

    fresh = await db.get_user("ann")
    assert fresh is not None
    await db.commit_turn(
        exchange(two, user=fresh.model_copy(update={"data": {**fresh.data, "goals": ["run"]}}))
    )
    stored = await db.get_user("ann")
    assert stored is not None
    assert (stored.data, stored.version) == ({"name": "Annie", "goals": ["run"]}, 3)


async def test_concurrent_commits_of_one_identity_let_exactly_one_land(
    db: DatabaseInterface,
) -> None:
    """Two sessions commit a change to the same identity version at the same moment: one
    lands, the other is refused, and the stored identity is exactly the winner's."""
    one, two = await two_sessions(db)
    found = await db.save_identity(b.identity("ann", "Night Owl", session_id="s1"))
    edits: list[IdentityRecord] = [
        found.model_copy(update={"description": "from s1"}),
        found.model_copy(update={"description": "from s2"}),
    ]
    results = await asyncio.gather(
        db.commit_turn(exchange(one, identities=[edits[0]])),
        db.commit_turn(exchange(two, identities=[edits[1]])),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1 and type(refused[0]) is ConcurrencyError, results
    winner = edits[0] if not isinstance(results[0], BaseException) else edits[1]
    stored = await db.get_identity(found.id)
    assert stored is not None
    assert (stored.description, stored.version) == (winner.description, 2)
    turns = [len(await db.list_turns(sid)) for sid in ("s1", "s2")]
    assert sorted(turns) == [0, 1]
