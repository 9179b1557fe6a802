"""Read queries that are more than a lookup: the keyset-paged lists of the inspector.

Paging is keyset paging on ``(timestamp, id)`` with a row-value comparison
(``(last_activity_at, id) < (:at, :id)``), newest first, served by the composite indexes in
``tables.py``; never ``OFFSET``. Prefix searches are ranges over code-point-ordered keys (see
``types.KEY``) over stored case-folded copies of the ids and names, so they are
case-insensitive and still use indexes, on PostgreSQL with any default collation too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Unpack

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select, tuple_
from sqlalchemy.engine import Connection

from coach.enums import CoachingState
from coach.persistence.paging import decode_cursor, encode_cursor
from coach.persistence.records import Page, SessionSummary, UserSummary
from coach.persistence.rules import check_page_size
from coach.persistence.sql.convert import search_key, session_from_row
from coach.persistence.sql.tables import sessions, users
from coach.persistence.sql.types import prefix_range

AnySelect = Select[Unpack[tuple[Any, ...]]]  # noqa: UP044 (a type alias, not an unpacking)

SESSION_COLUMNS = (
    sessions.c.id,
    sessions.c.user_id,
    sessions.c.state,
    sessions.c.message_count,
    sessions.c.turn_count,
    sessions.c.created_at,
    sessions.c.last_activity_at,
)


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
        query = query.where(
            or_(
                starts_with(sessions.c.id_key, search_key(search)),
                starts_with(sessions.c.user_key, search_key(search)),
            )
        )
    query = query.order_by(sessions.c.last_activity_at.desc(), sessions.c.id.desc())
    rows = (conn.execute(query.limit(limit + 1))).mappings().all()
    page, more = rows[:limit], len(rows) > limit
    items = [session_from_row(row) for row in page]
    next_cursor = encode_cursor(items[-1].last_activity_at, items[-1].session_id) if more else None
    return Page[SessionSummary](items=items, next_cursor=next_cursor)
