"""Read queries that are more than a lookup: the keyset-paged lists of the inspector.

Paging is keyset paging on ``(timestamp, id)`` with a row-value comparison
(``(last_activity_at, id) < (:at, :id)``), newest first, served by the composite indexes in
``tables.py``; never ``OFFSET``. Prefix searches are ranges over code-point-ordered keys (see
``types.KEY``) over stored case-folded copies of the ids and names, so they are
case-insensitive and still use indexes, on PostgreSQL with any default collation too.

A session search matches three keys in two tables (the session's id, its user's id, its
user's name). One ``OR`` over them cannot be served by indexes: PostgreSQL walked the
sessions newest first and tested each one, 55-120 ms for a search that few sessions match at
100,000 sessions. So each key is a page query of its own, served by its index, and the page
is the newest rows of their union: under 25 ms for every search tried on the same data. The
user's name is read for the rows of the page only (a correlated subquery).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar, Unpack

from sqlalchemy import (
    ColumnElement,
    GenerativeSelect,
    Label,
    Select,
    and_,
    func,
    literal,
    or_,
    select,
    tuple_,
    union,
)
from sqlalchemy.engine import Connection

from coach.enums import CoachingState
from coach.persistence.paging import decode_cursor, encode_cursor
from coach.persistence.records import Page, SessionSummary, UserSummary
from coach.persistence.rules import check_page_size
from coach.persistence.sql.convert import search_key, session_from_row
from coach.persistence.sql.tables import sessions, users
from coach.persistence.sql.types import prefix_range

AnySelect = Select[Unpack[tuple[Any, ...]]]  # noqa: UP044 (a type alias, not an unpacking)
SelectT = TypeVar("SelectT", bound=GenerativeSelect)

SESSION_COLUMNS = (
    sessions.c.id,
    sessions.c.user_id,
    sessions.c.state,
    sessions.c.message_count,
    sessions.c.turn_count,
    sessions.c.created_at,
    sessions.c.last_activity_at,
)


def user_name_of(user_id: ColumnElement[str]) -> Label[str | None]:
    """The name of the user ``user_id`` as ``user_name``: a correlated subquery, one probe of
    the users' primary key for each row returned."""
    name = select(users.c.name).where(users.c.id == user_id).scalar_subquery()
    return name.label("user_name")


def starts_with(column: ColumnElement[str], prefix: str) -> ColumnElement[bool]:
    """``column`` starts with ``prefix``, as an index-friendly range."""
    low, high = prefix_range(prefix)
    if high is None:
        return column >= low
    return and_(column >= low, column < high)


def after_cursor(
    query: AnySelect,
    at: ColumnElement[datetime],
    key: ColumnElement[str],
    cursor: str | None,
) -> AnySelect:
    """``query`` kept to the rows after ``cursor`` in the order (``at``, ``key``) descending."""
    if cursor is None:
        return query
    cursor_at, cursor_key = decode_cursor(cursor)
    return query.where(tuple_(at, key) < tuple_(_typed(cursor_at, at), _typed(cursor_key, key)))


def _typed(value: object, column: ColumnElement[Any]) -> ColumnElement[Any]:
    return literal(value, type_=column.type)


def list_users(
    conn: Connection, *, search: str | None, limit: int, cursor: str | None
) -> Page[UserSummary]:
    check_page_size(limit)
    # Per-user session stats as correlated subqueries: each is one probe of the
    # (user_id, last_activity_at, id) index, evaluated only for the rows of the page.
    owned = sessions.c.user_id == users.c.id
    session_count = select(func.count()).where(owned).scalar_subquery()
    last_activity = select(func.max(sessions.c.last_activity_at)).where(owned).scalar_subquery()
    query: AnySelect = select(
        users.c.id, users.c.name, users.c.created_at, session_count, last_activity
    )
    query = after_cursor(query, users.c.created_at, users.c.id, cursor)
    key = search_key(search) if search else ""
    if key:
        query = query.where(
            or_(starts_with(users.c.id_key, key), starts_with(users.c.name_key, key))
        )
    query = query.order_by(users.c.created_at.desc(), users.c.id.desc()).limit(limit + 1)
    rows = (conn.execute(query)).all()
    page, more = rows[:limit], len(rows) > limit
    items = [
        UserSummary(
            id=row[0],
            name=row[1],
            created_at=row[2],
            session_count=row[3],
            last_activity_at=row[4],
        )
        for row in page
    ]
    next_cursor = encode_cursor(page[-1][2], page[-1][0]) if more else None
    return Page[UserSummary](items=items, next_cursor=next_cursor)


def list_sessions(
    conn: Connection,
    *,
    user_id: str | None,
    state: CoachingState | None,
    active_after: datetime | None,
    active_before: datetime | None,
    search: str | None,
    limit: int,
    cursor: str | None,
) -> Page[SessionSummary]:
    check_page_size(limit)
    query: AnySelect = select(*SESSION_COLUMNS)
    query = after_cursor(query, sessions.c.last_activity_at, sessions.c.id, cursor)
    if user_id is not None:
        query = query.where(sessions.c.user_id == user_id)
    if state is not None:
        query = query.where(sessions.c.state == CoachingState(state).value)
    if active_after is not None:
        query = query.where(sessions.c.last_activity_at >= active_after)
    if active_before is not None:
        query = query.where(sessions.c.last_activity_at < active_before)
    if search:
        key = search_key(search)
        named = select(users.c.id).where(starts_with(users.c.name_key, key))
        matches = (
            starts_with(sessions.c.id_key, key),
            starts_with(sessions.c.user_key, key),
            sessions.c.user_id.in_(named),
        )
        branches = [_newest(query.where(match), limit).subquery() for match in matches]
        found = union(*(select(branch) for branch in branches)).subquery()
        query = select(found)
    query = query.add_columns(user_name_of(query.selected_columns.user_id))
    rows = conn.execute(_newest(query, limit)).mappings().all()
    page, more = rows[:limit], len(rows) > limit
    items = [session_from_row(row) for row in page]
    next_cursor = encode_cursor(items[-1].last_activity_at, items[-1].session_id) if more else None
    return Page[SessionSummary](items=items, next_cursor=next_cursor)


def _newest(query: SelectT, limit: int) -> SelectT:
    """The ``limit + 1`` most recently active sessions of ``query`` (one more tells whether
    another page follows)."""
    columns = query.selected_columns
    return query.order_by(columns.last_activity_at.desc(), columns.id.desc()).limit(limit + 1)
