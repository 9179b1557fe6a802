"""Contract: the audit log is appended to, never changed; it lists newest first a page at a
time, by actor, action or target id; and it outlives the sessions and users it names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from coach.errors import IdsTakenError
from coach.persistence import DatabaseInterface
from coach.persistence.base import MAX_PAGE_SIZE
from coach.persistence.records import AuditEntry

from . import builders as b

#: Earlier than any ``b.tick()``: entries added while a test pages are newer than these.
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def entry(**fields: object) -> AuditEntry:
    values: dict[str, object] = {
        "actor": "ana@example.org",
        "role": "admin",
        "action": "delete_session",
        "outcome": "ok",
        "at": b.tick(),
        **fields,
    }
    return AuditEntry.model_validate(values)


async def ids(db: DatabaseInterface, **filters: Any) -> list[str]:
    """The ids of the first page of entries with ``filters``."""
    return [e.id for e in (await db.list_audit_entries(**filters)).items]


async def all_pages(db: DatabaseInterface, limit: int, **filters: Any) -> list[list[str]]:
    """The ids of every page, in order, from the first page to the last."""
    pages: list[list[str]] = []
    cursor = None
    while True:
        page = await db.list_audit_entries(limit=limit, cursor=cursor, **filters)
        pages.append([e.id for e in page.items])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


async def test_an_entry_round_trips_whole(db: DatabaseInterface) -> None:
    made = entry(
        at=T0,
        actor="bob",
        role="",
        action="sign_in",
        target_ids=["s-2", "s-1", "s-2"],  # as given: in order, a repeat kept
        outcome="refused",
        detail="unknown user",
    )
    assert await db.add_audit_entry(made) == made
    page = await db.list_audit_entries()
    assert (page.items, page.next_cursor) == ([made], None)


async def test_an_empty_log_lists_nothing(db: DatabaseInterface) -> None:
    page = await db.list_audit_entries(actor="ana", action="sign_in", target_id="s1")
    assert (page.items, page.next_cursor) == ([], None)
    assert (await db.list_audit_entries()).items == []


async def test_an_entry_is_never_replaced(db: DatabaseInterface) -> None:
    first = await db.add_audit_entry(entry(target_ids=["s1"]))
    with b.raises(IdsTakenError):
        await db.add_audit_entry(entry(id=first.id, action="sign_in", target_ids=["s2"]))
    assert (await db.list_audit_entries()).items == [first]
    assert await ids(db, target_id="s2") == []


async def test_entries_list_newest_first_then_by_id_descending(db: DatabaseInterface) -> None:
    for entry_id, hours in (("b", 0), ("a", 1), ("d", -1), ("c", 0)):
        await db.add_audit_entry(entry(id=entry_id, at=T0 + timedelta(hours=hours)))
    assert await ids(db) == ["a", "c", "b", "d"]
    assert await all_pages(db, 3) == [["a", "c", "b"], ["d"]]


async def test_paging_returns_each_entry_once_while_entries_are_added(
    db: DatabaseInterface,
) -> None:
    initial = [await db.add_audit_entry(entry(at=T0 + timedelta(minutes=n % 4))) for n in range(11)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await db.list_audit_entries(limit=3, cursor=cursor)
        assert len(page.items) <= 3
        seen += [e.id for e in page.items]
        pages += 1
        await db.add_audit_entry(entry())  # newer than every page still to come
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    newest_first = sorted(initial, key=lambda e: (e.at, e.id), reverse=True)
    assert seen == [e.id for e in newest_first]
    assert pages == 4


async def test_entries_filter_by_actor_and_action(db: DatabaseInterface) -> None:
    ana_deletes = await db.add_audit_entry(entry(actor="ana", action="delete_session"))
    bob_deletes = await db.add_audit_entry(entry(actor="bob", action="delete_session"))
    ana_signs_in = await db.add_audit_entry(entry(actor="ana", action="sign_in"))
    bob_refused = await db.add_audit_entry(
        entry(actor="bob", action="activate_prompt", outcome="refused", detail="a coach")
    )
    assert await ids(db, actor="ana") == [ana_signs_in.id, ana_deletes.id]
    assert await ids(db, actor="bob") == [bob_refused.id, bob_deletes.id]
    assert await ids(db, action="delete_session") == [bob_deletes.id, ana_deletes.id]
    assert await ids(db, actor="bob", action="delete_session") == [bob_deletes.id]
    assert await ids(db, actor="ANA") == []  # exact, not case-folded
    assert await ids(db, action="delete") == []  # whole, not a prefix


async def test_entries_filter_by_an_id_among_their_targets(db: DatabaseInterface) -> None:
    both = await db.add_audit_entry(entry(target_ids=["s1", "s2"]))
    second = await db.add_audit_entry(entry(target_ids=["s2", "s2"]))
    await db.add_audit_entry(entry(action="sign_in", target_ids=[]))
    other = await db.add_audit_entry(entry(actor="bob", target_ids=["s12"]))
    assert await ids(db, target_id="s2") == [second.id, both.id]
    assert await ids(db, target_id="s1") == [both.id]
    assert await ids(db, target_id="s12") == [other.id]
    assert await ids(db, target_id="s") == []  # a whole id, not part of one
    assert await ids(db, target_id="s2", actor="bob") == []
    assert await ids(db, target_id="s12", actor="bob") == [other.id]


async def test_filtered_pages_return_each_matching_entry_once(db: DatabaseInterface) -> None:
    named = []
    for n in range(7):
        target = "s1" if n % 2 == 0 else "s2"
        added = await db.add_audit_entry(
            entry(at=T0 + timedelta(minutes=n % 2), target_ids=[target])
        )
        if target == "s1":
            named.append(added)
    pages = await all_pages(db, 2, target_id="s1")
    newest_first = sorted(named, key=lambda e: (e.at, e.id), reverse=True)
    assert [i for page in pages for i in page] == [e.id for e in newest_first]
    assert [len(page) for page in pages] == [2, 2]


async def test_entries_outlive_the_sessions_and_users_they_name(db: DatabaseInterface) -> None:
    await b.stored_context(db, "ann", "s1", 2)
    await b.stored_context(db, "bob", "s2", 2)
    session_gone = await db.add_audit_entry(entry(action="delete_session", target_ids=["s1"]))
    user_gone = await db.add_audit_entry(entry(action="delete_user", target_ids=["bob", "s2"]))
    assert await db.delete_session("s1")
    assert await db.delete_user("bob")
    assert (await db.list_audit_entries(target_id="s1")).items == [session_gone]
    assert (await db.list_audit_entries(target_id="s2")).items == [user_gone]
    assert (await db.list_audit_entries()).items == [user_gone, session_gone]


async def test_pages_are_bounded_and_cursors_checked(db: DatabaseInterface) -> None:
    for limit in (0, MAX_PAGE_SIZE + 1):
        with b.raises(ValueError):
            await db.list_audit_entries(limit=limit)
    with b.raises(ValueError):
        await db.list_audit_entries(cursor="not-a-cursor")


async def test_entries_passed_in_and_returned_are_copies(db: DatabaseInterface) -> None:
    made = entry(target_ids=["s1"])
    returned = await db.add_audit_entry(made)
    made.target_ids.append("sneaked-in")
    returned.target_ids.append("sneaked-in")
    (await db.list_audit_entries()).items[0].target_ids.clear()
    [stored] = (await db.list_audit_entries()).items
    assert stored.target_ids == ["s1"]
