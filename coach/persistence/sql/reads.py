"""The lookups: one function of a ``Connection`` per read of ``DatabaseInterface``.

Each uses the primary key or an index of ``tables.py``; "not found" is ``None`` or empty. The
reads of a turn (context, state, identities) select exactly the record's fields, so a row
becomes a record in one validation (many rows in one ``TypeAdapter`` call).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Column, Label, Select, Table, bindparam, func, literal_column, select
from sqlalchemy.engine import Connection

from coach.enums import TurnStatus
from coach.persistence.records import (
    ContextRecord,
    IdentityRecord,
    MessageRecord,
    ModelUsage,
    SessionSummary,
    StateRecord,
    TurnOutline,
    TurnRecord,
    TurnSummary,
    UserRecord,
)
from coach.persistence.sql.convert import (
    context_from_row,
    identities_from_rows,
    identity_from_row,
    messages_from_rows,
    session_from_row,
    state_from_row,
    turn_from_row,
    turn_outline_from_row,
    turn_summary_from_row,
    user_from_row,
)
from coach.persistence.sql.queries import SESSION_COLUMNS, user_name_of
from coach.persistence.sql.tables import (
    TABLES,
    contexts,
    identities,
    messages,
    sessions,
    states,
    turns,
    users,
)

#: The two big tables are counted from the counters their parents keep (``contexts.
#: message_count``, ``sessions.turn_count``), which every write updates in the same
#: transaction. The Sessions page shows these counts on every load: on PostgreSQL with 5 million
#: messages, counting the message rows took 0.8-3.9 s here, summing the counters 0.09 s.
#: ``tests/persistence/test_sql_backend.py`` checks the counters against real row counts.
_COUNTERS = {"messages": contexts.c.message_count, "turns": sessions.c.turn_count}


def _count(name: str, table: Table) -> Label[int]:
    counter = _COUNTERS.get(name)
    if counter is None:
        query = select(func.count()).select_from(table)
    else:
        query = select(func.coalesce(func.sum(counter), 0)).select_from(counter.table)
    return query.scalar_subquery().label(name)


_COUNT_RECORDS = select(*(_count(name, table) for name, table in TABLES.items()))


def count_records(conn: Connection) -> dict[str, int]:
    row = conn.execute(_COUNT_RECORDS).one()
    return {name: int(count) for name, count in zip(TABLES, row, strict=True)}


_USER = select(
    users.c.id, users.c.data, users.c.version, users.c.created_at, users.c.updated_at
).where(users.c.id == bindparam("p_user_id"))
_STATE = select(
    states.c.user_id,
    states.c.session_id,
    states.c.state,
    states.c.focus_identity_id,
    states.c.created_at,
    states.c.updated_at,
).where(
    states.c.session_id == bindparam("p_session_id"), states.c.user_id == bindparam("p_user_id")
)
_CONTEXT = select(contexts).where(
    contexts.c.session_id == bindparam("p_session_id"), contexts.c.user_id == bindparam("p_user_id")
)
#: A message's fields (its columns but the session and the position).
MESSAGE_COLUMNS = tuple(c for c in messages.c if c.name in MessageRecord.model_fields)
_MESSAGES = (
    select(*MESSAGE_COLUMNS)
    .where(
        messages.c.session_id == bindparam("p_session_id"),
        messages.c.position >= bindparam("p_start"),
        messages.c.position < bindparam("p_stop"),
    )
    .order_by(messages.c.position)
)
#: The identity's fields (all columns but ``label_key``).
IDENTITY_COLUMNS = tuple(c for c in identities.c if c.name != "label_key")
_IDENTITIES = (
    select(*IDENTITY_COLUMNS)
    .where(identities.c.user_id == bindparam("p_user_id"))
    .order_by(identities.c.created_at, identities.c.id)
)
_IDENTITIES_OF_SESSION = _IDENTITIES.where(identities.c.session_id == bindparam("p_session_id"))


def get_user(conn: Connection, user_id: str) -> UserRecord | None:
    row = conn.execute(_USER, {"p_user_id": user_id}).mappings().first()
    return None if row is None else user_from_row(row)


def get_session(conn: Connection, session_id: str) -> SessionSummary | None:
    query = select(*SESSION_COLUMNS, user_name_of(sessions.c.user_id))
    row = conn.execute(query.where(sessions.c.id == session_id)).mappings().first()
    return None if row is None else session_from_row(row)


def get_state(conn: Connection, user_id: str, session_id: str) -> StateRecord | None:
    params = {"p_session_id": session_id, "p_user_id": user_id}
    row = conn.execute(_STATE, params).mappings().first()
    return None if row is None else state_from_row(row)


def get_context(
    conn: Connection, user_id: str, session_id: str, message_limit: int | None
) -> ContextRecord | None:
    """The context with its newest ``message_limit`` messages (all when ``None``).

    Messages are read up to the count stored with the context, so a save committed between
    the two statements cannot add messages the version does not account for.
    """
    params = {"p_session_id": session_id, "p_user_id": user_id}
    row = conn.execute(_CONTEXT, params).mappings().first()
    if row is None:
        return None
    count = int(row["message_count"])
    start = 0 if message_limit is None else max(0, count - message_limit)
    return context_from_row(row, messages_between(conn, session_id, start, count), start)


def messages_between(
    conn: Connection, session_id: str, start: int, stop: int
) -> list[MessageRecord]:
    """The session's messages at positions ``start <= position < stop``, in order."""
    if stop <= start:
        return []
    params = {"p_session_id": session_id, "p_start": start, "p_stop": stop}
    return messages_from_rows(conn.execute(_MESSAGES, params).mappings().all())


def get_identities(conn: Connection, user_id: str, session_id: str | None) -> list[IdentityRecord]:
    if session_id is None:
        rows = conn.execute(_IDENTITIES, {"p_user_id": user_id})
    else:
        params = {"p_user_id": user_id, "p_session_id": session_id}
        rows = conn.execute(_IDENTITIES_OF_SESSION, params)
    return identities_from_rows(rows.mappings().all())


def get_identity(conn: Connection, identity_id: str) -> IdentityRecord | None:
    row = conn.execute(select(identities).where(identities.c.id == identity_id)).mappings().first()
    return None if row is None else identity_from_row(row)


#: A turn's columns without the prompt, the raw output and the details.
TURN_SUMMARY_COLUMNS = tuple(c for c in turns.c if c.name in TurnSummary.model_fields)
#: The columns of a turn's outline: what it changed.
TURN_OUTLINE_COLUMNS = tuple(c for c in turns.c if c.name in TurnOutline.model_fields)


def _turns_after(columns: tuple[Column[Any], ...]) -> Select[Any]:
    return (
        select(*columns)
        .where(turns.c.session_id == bindparam("p_session_id"), turns.c.seq > bindparam("p_after"))
        .order_by(turns.c.seq)
        .limit(bindparam("p_limit"))
    )


_TURNS_AFTER = _turns_after(TURN_SUMMARY_COLUMNS)
_OUTLINES_AFTER = _turns_after(TURN_OUTLINE_COLUMNS)
_TURN = select(turns).where(
    turns.c.session_id == bindparam("p_session_id"), turns.c.seq == bindparam("p_seq")
)
_TURN_FOR_MESSAGE = (
    select(*TURN_SUMMARY_COLUMNS)
    .where(
        turns.c.session_id == bindparam("p_session_id"),
        turns.c.user_message_id == bindparam("p_user_message_id"),
    )
    .order_by(turns.c.seq.desc())
    .limit(1)
)
_MESSAGE = select(*MESSAGE_COLUMNS).where(
    messages.c.id == bindparam("p_id"), messages.c.session_id == bindparam("p_session_id")
)


def list_turns(conn: Connection, session_id: str, after_seq: int, limit: int) -> list[TurnSummary]:
    params = {"p_session_id": session_id, "p_after": after_seq, "p_limit": limit}
    return [turn_summary_from_row(row) for row in conn.execute(_TURNS_AFTER, params).mappings()]


def list_turn_outlines(
    conn: Connection, session_id: str, after_seq: int, limit: int
) -> list[TurnOutline]:
    params = {"p_session_id": session_id, "p_after": after_seq, "p_limit": limit}
    return [turn_outline_from_row(row) for row in conn.execute(_OUTLINES_AFTER, params).mappings()]


def get_turn(conn: Connection, session_id: str, seq: int) -> TurnRecord | None:
    row = conn.execute(_TURN, {"p_session_id": session_id, "p_seq": seq}).mappings().first()
    return None if row is None else turn_from_row(row)


def get_turn_for_message(
    conn: Connection, session_id: str, user_message_id: str
) -> TurnSummary | None:
    params = {"p_session_id": session_id, "p_user_message_id": user_message_id}
    row = conn.execute(_TURN_FOR_MESSAGE, params).mappings().first()
    return None if row is None else turn_summary_from_row(row)


@cache
def _turns_with_status(status: TurnStatus, newest_first: bool) -> Select[Any]:
    """The turns of every session with ``status``, by creation, session and ``seq``. The
    status is literal SQL, as in the conditions of the partial indexes that serve these
    (``tables.TurnRow``), so a planner can match them without looking at bound values."""
    order = (turns.c.created_at, turns.c.session_id, turns.c.seq)
    return (
        select(*TURN_SUMMARY_COLUMNS)
        .where(turns.c.status == literal_column(f"'{status.value}'"))
        .order_by(*(c.desc() if newest_first else c.asc() for c in order))
        .limit(bindparam("p_limit"))
    )


def model_usage(conn: Connection, session_ids: Sequence[str]) -> list[ModelUsage]:
    """The tokens of the sessions' turns by session, provider and model (one grouped scan of
    their turns, by the turns' primary key)."""
    key = (turns.c.session_id, turns.c.provider, turns.c.model)
    query = (
        select(
            *key,
            func.count().label("turns"),
            func.coalesce(func.sum(turns.c.input_tokens), 0).label("input_tokens"),
            func.coalesce(func.sum(turns.c.output_tokens), 0).label("output_tokens"),
        )
        .where(turns.c.session_id.in_(list(dict.fromkeys(session_ids))))
        .group_by(*key)
        .order_by(*key)
    )
    return [ModelUsage.model_validate(dict(row)) for row in conn.execute(query).mappings()]


def turns_with_status(
    conn: Connection, status: TurnStatus, limit: int, *, newest_first: bool
) -> list[TurnSummary]:
    """Up to ``limit`` turns of any session with ``status``, oldest or newest first."""
    rows = conn.execute(_turns_with_status(status, newest_first), {"p_limit": limit}).mappings()
    return [turn_summary_from_row(row) for row in rows]


def get_message(conn: Connection, session_id: str, message_id: str) -> MessageRecord | None:
    params = {"p_id": message_id, "p_session_id": session_id}
    row = conn.execute(_MESSAGE, params).mappings().first()
    return None if row is None else MessageRecord.model_validate(dict(row))
