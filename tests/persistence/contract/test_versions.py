"""Contract: lost updates are impossible; a stale context version raises and writes nothing."""

from __future__ import annotations

import asyncio

from coach.errors import ConcurrencyError
from coach.persistence import DatabaseInterface

from . import builders as b


async def test_each_save_increases_the_version_by_one(db: DatabaseInterface) -> None:
    """The returned and stored version go 1, 2, 3 with each save."""
    ctx = b.context("ann", "s1", b.messages(1))
    for expected in (1, 2, 3):
        ctx = await db.save_context(ctx)
        assert ctx.version == expected
        loaded = await db.get_context("ann", "s1")
        assert loaded is not None
        assert loaded.version == expected
        ctx.messages.append(b.message(f"after {expected}"))


async def test_a_stale_version_raises_concurrency_error_and_writes_nothing(
    db: DatabaseInterface,
) -> None:
    """Two writers read version 1; the second to save is refused and none of its data is stored."""
    first = await b.stored_context(db, "ann", "s1", 2)
    second = first.model_copy(deep=True)
    first.messages.append(b.message("first writer"))
    await db.save_context(first)

    second.messages.append(b.message("second writer"))
    second.user_data = {"summary": "second writer"}
    with b.raises(ConcurrencyError):
        await db.save_context(second)
    stored = await db.get_context("ann", "s1")
    assert stored is not None
    assert [m.content for m in stored.messages] == ["message 0", "message 1", "first writer"]
    assert (stored.version, stored.user_data) == (2, {})
    assert (await db.count_records())["messages"] == 3


async def test_version_0_for_an_existing_context_raises_concurrency_error(
    db: DatabaseInterface,
) -> None:
    """A "new" context (version 0) for a session that already has one is refused."""
    await b.stored_context(db, "ann", "s1", 2)
    with b.raises(ConcurrencyError):
        await db.save_context(b.context("ann", "s1", b.messages(3), user_data={"x": 1}))
    stored = await db.get_context("ann", "s1")
    assert stored is not None
    assert (len(stored.messages), stored.version, stored.user_data) == (2, 1, {})


async def test_a_version_for_a_context_never_stored_raises_concurrency_error(
    db: DatabaseInterface,
) -> None:
    """Saving version 3 of a context that does not exist is refused: the stored version is 0."""
    with b.raises(ConcurrencyError):
        await db.save_context(b.context("ann", "s1", b.messages(1), version=3))
    assert await db.get_context("ann", "s1") is None
    assert (await db.count_records())["messages"] == 0


async def test_concurrent_saves_of_one_version_let_exactly_one_win(db: DatabaseInterface) -> None:
    """Tasks saving the same version at once: one succeeds, the others get ConcurrencyError."""
    base = await b.stored_context(db, "ann", "s1", 1)
    writers = []
    for n in range(4):
        ctx = base.model_copy(deep=True)
        ctx.messages.append(b.message(f"writer {n}"))
        writers.append(ctx)
    results = await asyncio.gather(*(db.save_context(c) for c in writers), return_exceptions=True)

    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1, results
    assert all(isinstance(r, ConcurrencyError) for r in losers), losers
    stored = await db.get_context("ann", "s1")
    assert stored is not None
    assert stored.version == 2
    assert len(stored.messages) == 2
    assert stored.messages[1].content == winners[0].messages[-1].content


async def test_concurrent_saves_to_different_sessions_all_succeed(db: DatabaseInterface) -> None:
    """Writers on different sessions do not conflict."""
    contexts = [b.context("ann", f"s{n}", b.messages(2)) for n in range(5)]
    saved = await asyncio.gather(*(db.save_context(c) for c in contexts))
    assert [c.version for c in saved] == [1] * 5
    assert (await db.count_records())["messages"] == 10
    assert len(await db.get_sessions_for_user("ann")) == 5
