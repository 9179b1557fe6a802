"""Contract: messages are append-only; a context can be loaded and saved as a window of its newest
messages; list_messages pages by position."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from coach.errors import ConcurrencyError, PersistenceError
from coach.persistence import DatabaseInterface

from . import builders as b


def contents(records: list[object]) -> list[str]:
    return [m.content for m in records]  # type: ignore[attr-defined]


async def test_a_new_context_stores_its_messages_at_version_1(db: DatabaseInterface) -> None:
    """Saving a new context (version 0) stores every message in order and returns version 1."""
    msgs = b.messages(3)
    saved = await db.save_context(b.context("ann", "s1", msgs, user_data={"summary": "start"}))
    assert (saved.version, saved.total_messages) == (1, 3)
    loaded = await db.get_context("ann", "s1")
    assert loaded is not None
    assert loaded.messages == msgs
    assert (loaded.version, loaded.first_message_index, loaded.user_data) == (
        1,
        0,
        {"summary": "start"},
    )


async def test_saving_a_loaded_context_appends_only_the_new_messages(db: DatabaseInterface) -> None:
    """Load, append, save: the stored conversation is the old messages followed by the new ones."""
    ctx = await b.stored_context(db, "ann", "s1", 2)
    new = b.messages(2, start=2)
    ctx.messages.extend(new)
    ctx.user_data = {"summary": "replaced"}
    saved = await db.save_context(ctx)
    assert (saved.version, saved.total_messages) == (2, 4)

    loaded = await db.get_context("ann", "s1")
    assert loaded is not None
    assert contents(loaded.messages) == [f"message {i}" for i in range(4)]
    assert loaded.messages[2:] == new
    assert loaded.user_data == {"summary": "replaced"}
    assert (await db.count_records())["messages"] == 4


async def test_message_limit_loads_the_newest_messages_and_their_position(
    db: DatabaseInterface,
) -> None:
    """message_limit=n loads the newest n messages; first_message_index says where they start."""
    await b.stored_context(db, "ann", "s1", 10)
    cases = {3: (7, 3), 10: (0, 10), 25: (0, 10), 1: (9, 1)}
    for limit, (first, count) in cases.items():
        ctx = await db.get_context("ann", "s1", message_limit=limit)
        assert ctx is not None
        assert (ctx.first_message_index, len(ctx.messages), ctx.total_messages) == (
            first,
            count,
            10,
        )
        assert contents(ctx.messages) == [f"message {i}" for i in range(first, 10)]
        assert ctx.version == 1


async def test_message_limit_0_loads_no_messages(db: DatabaseInterface) -> None:
    """message_limit=0 loads no message and positions the window at the end."""
    await b.stored_context(db, "ann", "s1", 4)
    ctx = await db.get_context("ann", "s1", message_limit=0)
    assert ctx is not None
    assert (ctx.messages, ctx.first_message_index, ctx.total_messages) == ([], 4, 4)


async def test_a_windowed_context_appends_after_the_stored_messages(db: DatabaseInterface) -> None:
    """Saving a context loaded with message_limit appends its new messages at the end."""
    await b.stored_context(db, "ann", "s1", 10)
    window = await db.get_context("ann", "s1", message_limit=3)
    assert window is not None
    window.messages.extend(b.messages(2, start=10))
    saved = await db.save_context(window)
    assert (saved.version, saved.total_messages) == (2, 12)

    everything = await db.get_context("ann", "s1")
    assert everything is not None
    assert contents(everything.messages) == [f"message {i}" for i in range(12)]
    empty = await db.get_context("ann", "s1", message_limit=0)
    assert empty is not None
    empty.messages.append(b.message("message 12"))
    await db.save_context(empty)
    assert contents(await db.list_messages("s1", start=11)) == ["message 11", "message 12"]


async def test_a_context_that_does_not_cover_the_stored_end_is_refused(
    db: DatabaseInterface,
) -> None:
    """A record that drops stored messages, or leaves a gap after them, is refused whole."""
    ctx = await b.stored_context(db, "ann", "s1", 5)
    drops_newest = ctx.model_copy(update={"messages": ctx.messages[:3]})
    leaves_gap = ctx.model_copy(
        update={"first_message_index": 6, "messages": b.messages(2, start=6)}
    )
    for bad in (drops_newest, leaves_gap):
        with b.raises(PersistenceError) as caught:
            await db.save_context(bad)
        assert not isinstance(caught.value, ConcurrencyError)
    stored = await db.get_context("ann", "s1")
    assert stored is not None
    assert (contents(stored.messages), stored.version) == ([f"message {i}" for i in range(5)], 1)


async def test_a_message_id_already_stored_is_refused(db: DatabaseInterface) -> None:
    """A message whose id is stored already, in this session or another, is refused whole."""
    ctx = await b.stored_context(db, "ann", "s1", 2)
    elsewhere = await b.stored_context(db, "ann", "s2", 1)
    for taken in (ctx.messages[0].id, elsewhere.messages[0].id):
        retry = ctx.model_copy(deep=True)
        retry.messages.extend([b.message("fresh"), b.message("new", id=taken)])
        with b.raises(PersistenceError):
            await db.save_context(retry)
    stored = await db.get_context("ann", "s1")
    assert stored is not None
    assert (contents(stored.messages), stored.version) == (["message 0", "message 1"], 1)
    assert (await db.count_records())["messages"] == 3


async def test_stored_messages_are_never_rewritten(db: DatabaseInterface) -> None:
    """Changing a stored message in the record and saving leaves the stored one as it was."""
    ctx = await b.stored_context(db, "ann", "s1", 2)
    ctx.messages[0] = ctx.messages[0].model_copy(update={"content": "rewritten"})
    ctx.messages.append(b.message("message 2"))
    await db.save_context(ctx)
    assert contents(await db.list_messages("s1")) == ["message 0", "message 1", "message 2"]


async def test_list_messages_pages_by_position(db: DatabaseInterface) -> None:
    """list_messages(start, limit) returns consecutive slices that add up to the conversation."""
    await b.stored_context(db, "ann", "s1", 25)
    pages = [await db.list_messages("s1", start=start, limit=10) for start in (0, 10, 20)]
    assert [len(p) for p in pages] == [10, 10, 5]
    assert contents([m for page in pages for m in page]) == [f"message {i}" for i in range(25)]
    assert await db.list_messages("s1", start=25) == []
    assert contents(await db.list_messages("s1", start=3, limit=2)) == ["message 3", "message 4"]


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 4), st.one_of(st.none(), st.integers(0, 6))),
        min_size=1,
        max_size=6,
    )
)
async def test_any_sequence_of_windowed_appends_keeps_every_message_once_in_order(
    db: DatabaseInterface, steps: list[tuple[int, int | None]]
) -> None:
    """Appending batches through windows of any size stores each message once, in order."""
    session = b.uid("session")
    await db.save_context(b.context("ann", session))
    expected: list[str] = []
    for version, (batch, window) in enumerate(steps, start=1):
        ctx = await db.get_context("ann", session, message_limit=window)
        assert ctx is not None
        assert (ctx.version, ctx.total_messages) == (version, len(expected))
        new = b.messages(batch, start=len(expected))
        ctx.messages.extend(new)
        expected.extend(m.content for m in new)
        await db.save_context(ctx)
    assert contents(await db.list_messages(session, limit=1000)) == expected
    loaded = await db.get_context("ann", session)
    assert loaded is not None
    assert (contents(loaded.messages), loaded.version) == (expected, len(steps) + 1)


def test_a_message_cannot_be_changed_in_place() -> None:
    """Messages are append-only, so a message record is frozen."""
    message = b.message("as sent")
    with b.raises(ValidationError):
        message.content = "rewritten"  # type: ignore[misc]
    assert message.content == "as sent"
