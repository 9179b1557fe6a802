"""Contract: "not found" is ``None``, ``False`` or an empty list; a failure is an exception."""

from __future__ import annotations

from coach.errors import PersistenceError
from coach.persistence import DatabaseInterface

from . import builders as b

COUNT_KEYS = {"users", "sessions", "states", "contexts", "messages", "identities", "turns"}


async def test_an_empty_database_counts_zero_of_every_kind(db: DatabaseInterface) -> None:
    """count_records names every kind of record, each at zero in a fresh database."""
    assert await db.count_records() == dict.fromkeys(COUNT_KEYS, 0)


async def test_getters_return_none_for_unknown_ids(db: DatabaseInterface) -> None:
    """Every single-record getter returns None for an id that was never stored."""
    assert await db.get_user("nobody") is None
    assert await db.get_state("nobody", "no-session") is None
    assert await db.get_context("nobody", "no-session") is None
    assert await db.get_context("nobody", "no-session", message_limit=5) is None
    assert await db.get_identity("no-identity") is None
    assert await db.get_session("no-session") is None
    assert await db.get_user_id_for_session("no-session") is None
    assert await db.get_turn_for_message("no-session", "no-message") is None


async def test_lists_are_empty_for_unknown_ids(db: DatabaseInterface) -> None:
    """Every list method returns an empty list for an unknown user or session."""
    assert await db.get_sessions_for_user("nobody") == []
    assert await db.get_identities("nobody") == []
    assert await db.get_identities("nobody", session_id="no-session") == []
    assert await db.list_messages("no-session") == []
    assert await db.list_turns("no-session") == []
    users = await db.list_users()
    assert (users.items, users.next_cursor) == ([], None)
    sessions = await db.list_sessions(user_id="nobody")
    assert (sessions.items, sessions.next_cursor) == ([], None)


async def test_deleters_return_false_for_unknown_ids(db: DatabaseInterface) -> None:
    """Every delete method returns False when there was nothing to delete, and creates nothing."""
    assert await db.delete_state("nobody", "no-session") is False
    assert await db.delete_context("nobody", "no-session") is False
    assert await db.delete_identity("no-identity") is False
    assert await db.delete_session("no-session") is False
    assert await db.delete_user("nobody") is False
    assert await db.count_records() == dict.fromkeys(COUNT_KEYS, 0)


async def test_updates_of_unknown_records_return_none_and_create_nothing(
    db: DatabaseInterface,
) -> None:
    """update_user_data and update_identity return None for unknown ids and store nothing."""
    assert await db.update_user_data("nobody", {"name": "Ann"}) is None
    assert await db.update_identity("no-identity", {"label": "New Label"}) is None
    assert await db.get_user("nobody") is None
    assert await db.count_records() == dict.fromkeys(COUNT_KEYS, 0)


async def test_a_sessions_records_are_not_found_under_another_user(db: DatabaseInterface) -> None:
    """State and context are looked up by user and session: another user id finds nothing."""
    owner, session = b.uid("user"), b.uid("session")
    await db.save_state(b.state(owner, session))
    await db.save_context(b.context(owner, session, b.messages(2)))

    assert await db.get_state("intruder", session) is None
    assert await db.get_context("intruder", session) is None
    assert await db.delete_state("intruder", session) is False
    assert await db.delete_context("intruder", session) is False
    assert await db.get_state(owner, session) is not None
    assert await db.get_context(owner, session) is not None


async def test_a_closed_database_raises_persistence_error(db: DatabaseInterface) -> None:
    """Using a database after close() raises PersistenceError; it never answers None."""
    await db.save_user(b.user("ann"))
    await db.close()
    with b.raises(PersistenceError):
        await db.get_user("ann")
    with b.raises(PersistenceError):
        await db.save_user(b.user("bob"))


async def test_close_is_safe_to_call_twice(db: DatabaseInterface) -> None:
    """A second close() does nothing and raises nothing."""
    await db.close()
    await db.close()


async def test_initialize_is_safe_to_call_again_and_keeps_the_data(db: DatabaseInterface) -> None:
    """initialize() on a ready database changes nothing stored."""
    await db.save_user(b.user("ann", data={"name": "Ann"}))
    await db.initialize()
    stored = await db.get_user("ann")
    assert stored is not None
    assert stored.data == {"name": "Ann"}


async def test_check_schema_passes_on_an_initialized_database(db: DatabaseInterface) -> None:
    """An initialized database has the schema this code needs."""
    await db.check_schema()
