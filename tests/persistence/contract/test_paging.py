"""Contract: list_users and list_sessions page by keyset, in a fixed order, with filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from coach.enums import CoachingState
from coach.persistence import DatabaseInterface
from coach.persistence.base import MAX_PAGE_SIZE
from coach.persistence.paging import encode_cursor

from . import builders as b

T0 = datetime(2025, 1, 1, tzinfo=UTC)


async def test_list_users_is_newest_first_then_by_id_descending(db: DatabaseInterface) -> None:
    """Users sort by (created_at, id) descending; ties in created_at fall back to the id."""
    await db.save_user(b.user("u-old", created_at=T0))
    for uid in ("u-b", "u-c", "u-a"):
        await db.save_user(b.user(uid, created_at=T0 + timedelta(hours=1)))
    await db.save_user(b.user("u-new", created_at=T0 + timedelta(hours=2)))
    expected = ["u-new", "u-c", "u-b", "u-a", "u-old"]
    assert [u.id for u in (await db.list_users()).items] == expected

    seen: list[str] = []
    cursor = None
    while True:
        page = await db.list_users(limit=2, cursor=cursor)
        seen.extend(u.id for u in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == expected


async def test_paging_users_returns_each_user_once_while_users_are_added(
    db: DatabaseInterface,
) -> None:
    """Walking the pages while new users arrive returns every earlier user exactly once."""
    initial = [f"user-{n:02d}" for n in range(23)]
    for n, uid in enumerate(initial):
        await db.save_user(b.user(uid, created_at=T0 + timedelta(minutes=n % 7)))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await db.list_users(limit=5, cursor=cursor)
        assert len(page.items) <= 5
        seen.extend(u.id for u in page.items)
        pages += 1
        await db.save_user(b.user(f"late-{pages}"))
        await db.save_context(b.context(f"late-{pages}-by-session", b.uid("session")))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen))
    assert sorted(u for u in seen if u.startswith("user-")) == initial
    assert pages == 5


async def test_paging_sessions_returns_each_session_once_while_sessions_are_added(
    db: DatabaseInterface,
) -> None:
    """Walking the pages while new sessions start returns every earlier session exactly once."""
    initial = [f"s-{n:02d}" for n in range(17)]
    for sid in initial:
        await db.save_context(b.context("ann", sid, b.messages(1)))
    seen: list[str] = []
    cursor = None
    while True:
        page = await db.list_sessions(limit=4, cursor=cursor)
        seen.extend(s.session_id for s in page.items)
        await db.save_state(b.state("bob", b.uid("late")))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == list(reversed(initial))


async def test_the_last_page_has_no_next_cursor(db: DatabaseInterface) -> None:
    """When the rows fill the page exactly, next_cursor is None rather than an empty next page."""
    for n in range(4):
        await db.save_context(b.context(f"user-{n}", f"s-{n}"))
    users = await db.list_users(limit=4)
    sessions = await db.list_sessions(limit=4)
    assert (len(users.items), users.next_cursor) == (4, None)
    assert (len(sessions.items), sessions.next_cursor) == (4, None)
    first = await db.list_sessions(limit=3)
    assert first.next_cursor is not None
    rest = await db.list_sessions(limit=3, cursor=first.next_cursor)
    assert (len(rest.items), rest.next_cursor) == (1, None)


async def test_a_page_size_out_of_range_raises_value_error(db: DatabaseInterface) -> None:
    """limit must be 1..MAX_PAGE_SIZE for both lists."""
    for limit in (0, -1, MAX_PAGE_SIZE + 1):
        with b.raises(ValueError):
            await db.list_users(limit=limit)
        with b.raises(ValueError):
            await db.list_sessions(limit=limit)
    assert (await db.list_users(limit=MAX_PAGE_SIZE)).items == []
    assert (await db.list_sessions(limit=1)).items == []


async def test_a_malformed_cursor_raises_value_error(db: DatabaseInterface) -> None:
    """A cursor that paging.encode_cursor did not make raises ValueError on both lists."""
    await db.save_context(b.context("ann", "s1"))
    # not base64 / base64 of "not json" / base64 of "[1,2,3]"
    for cursor in ("not a cursor!", "bm90IGpzb24", "WzEsMiwzXQ"):
        with b.raises(ValueError):
            await db.list_users(cursor=cursor)
        with b.raises(ValueError):
            await db.list_sessions(cursor=cursor)


async def test_a_cursor_continues_after_its_row(db: DatabaseInterface) -> None:
    """A cursor made from a row's sort key starts the next page strictly after that row."""
    for uid, hours in (("u-1", 1), ("u-2", 2), ("u-3", 3)):
        await db.save_user(b.user(uid, created_at=T0 + timedelta(hours=hours)))
    cursor = encode_cursor(T0 + timedelta(hours=2), "u-2")
    assert [u.id for u in (await db.list_users(cursor=cursor)).items] == ["u-1"]


async def test_list_sessions_filters_by_user_state_activity_and_search(
    db: DatabaseInterface,
) -> None:
    """user_id, state, active_after (inclusive), active_before (exclusive) and search all filter."""
    await db.save_context(b.context("ann", "ann-s1", b.messages(1)))
    await db.save_state(b.state("ann", "ann-s2", CoachingState.IDENTITY_BRAINSTORMING))
    await db.save_state(b.state("bob", "bob-s1", CoachingState.IDENTITY_BRAINSTORMING))
    await db.save_state(b.state("bob", "bob-s2", CoachingState.ACCOUNTABILITY))

    async def ids(**filters: object) -> list[str]:
        page = await db.list_sessions(**filters)  # type: ignore[arg-type]
        return [s.session_id for s in page.items]

    everything = (await db.list_sessions()).items
    assert [s.session_id for s in everything] == ["bob-s2", "bob-s1", "ann-s2", "ann-s1"]
    assert await ids(user_id="ann") == ["ann-s2", "ann-s1"]
    assert await ids(state=CoachingState.IDENTITY_BRAINSTORMING) == ["bob-s1", "ann-s2"]
    assert await ids(state=CoachingState.IDENTITY_BRAINSTORMING, user_id="bob") == ["bob-s1"]
    assert await ids(state=CoachingState.INTRODUCTION) == []
    middle = everything[1].last_activity_at
    assert await ids(active_after=middle) == ["bob-s2", "bob-s1"]
    assert await ids(active_before=middle) == ["ann-s2", "ann-s1"]
    assert await ids(active_after=everything[2].last_activity_at, active_before=middle) == [
        "ann-s2"
    ]
    assert await ids(search="bob") == ["bob-s2", "bob-s1"]
    assert await ids(search="ann-s1") == ["ann-s1"]
    assert await ids(search="nobody") == []
    paged = await db.list_sessions(user_id="bob", limit=1)
    assert [s.session_id for s in paged.items] == ["bob-s2"]
    rest = await db.list_sessions(user_id="bob", limit=1, cursor=paged.next_cursor)
    assert ([s.session_id for s in rest.items], rest.next_cursor) == (["bob-s1"], None)


async def test_list_sessions_search_matches_a_clients_name_by_prefix_in_any_case(
    db: DatabaseInterface,
) -> None:
    """search keeps the sessions whose client's name starts with it, case-insensitive, as
    list_users does; a text inside a name is no match; two clients of one name are both kept,
    told apart by their user ids."""
    for user_id, name in (
        ("u-1", "Lee Park"),
        ("u-2", "Lee Park"),
        ("u-3", "Leah"),
        ("u-4", "Ann"),
    ):
        await db.save_user(b.user(user_id, data={"name": name}))
        await db.save_state(b.state(user_id, f"s-{user_id}"))

    async def found(search: str) -> list[tuple[str, str, str | None]]:
        page = await db.list_sessions(search=search)
        return [(s.session_id, s.user_id, s.user_name) for s in page.items]

    both_lees = [("s-u-2", "u-2", "Lee Park"), ("s-u-1", "u-1", "Lee Park")]
    assert await found("lee") == both_lees
    assert await found("LEE P") == both_lees
    assert await found("le") == [("s-u-3", "u-3", "Leah"), *both_lees]
    assert await found("park") == []
    assert [u.id for u in (await db.list_users(search="lee")).items] == ["u-2", "u-1"]
    assert await found("s-u-4") == [("s-u-4", "u-4", "Ann")]  # ids still match
    assert await found("u-4") == [("s-u-4", "u-4", "Ann")]


async def test_a_session_matching_its_id_and_its_clients_name_is_listed_once(
    db: DatabaseInterface,
) -> None:
    """A session whose id, user id and client's name all start with the search is one row, and
    paging through such a search returns each match once, in order, with the other filters."""
    await db.save_user(b.user("maya-1", data={"name": "Maya"}))
    await db.save_user(b.user("u-2", data={"name": "Mark"}))
    await db.save_user(b.user("u-3", data={"name": "Noor"}))
    expected = []
    for n in range(5):
        for user_id in ("maya-1", "u-2", "u-3"):
            session_id = f"ma-{user_id}-{n}" if n % 2 else f"{user_id}-{n}"
            await db.save_state(b.state(user_id, session_id))
            if user_id != "u-3" or n % 2:
                expected.append(session_id)
    expected.reverse()  # most recently active first
    assert [s.session_id for s in (await db.list_sessions(search="MA")).items] == expected

    seen: list[str] = []
    cursor = None
    while True:
        page = await db.list_sessions(search="ma", limit=2, cursor=cursor)
        seen.extend(s.session_id for s in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == expected
    mark = await db.list_sessions(search="ma", user_id="u-2", limit=1)
    assert [s.session_id for s in mark.items] == ["u-2-4"]
    rest = await db.list_sessions(search="ma", user_id="u-2", cursor=mark.next_cursor)
    assert [s.session_id for s in rest.items] == ["ma-u-2-3", "u-2-2", "ma-u-2-1", "u-2-0"]
