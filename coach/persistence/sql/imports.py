"""``import_records`` on SQL: whole users and sessions inserted in the one transaction the
backend opened, after the shared checks (``rules.batch_problems``) and a look for taken ids.
A writer that takes an id in between makes the insert fail on the key, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from coach.errors import IdsTakenError
from coach.persistence import rules
from coach.persistence.records import RecordBatch, SessionRecords
from coach.persistence.sql import prompts
from coach.persistence.sql.convert import (
    context_user_data,
    identity_values,
    message_values,
    search_key,
    state_values,
    turn_values,
    user_values,
)
from coach.persistence.sql.tables import (
    contexts,
    identities,
    messages,
    session_origins,
    sessions,
    states,
    turns,
    users,
)

#: Ids looked up per statement.
CHUNK = 500
_ID_COLUMNS = {
    "user": users.c.id,
    "session": sessions.c.id,
    "message": messages.c.id,
    "identity": identities.c.id,
}


def import_records(conn: Connection, batch: RecordBatch) -> None:
    outside = rules.outside_users(batch)
    rules.check_batch(batch, _taken(conn, "user", outside))
    taken = {kind: _taken(conn, kind, ids) for kind, ids in rules.batch_ids(batch).items()}
    if any(taken.values()):
        raise rules.ids_taken(taken)
    stored = {
        (v.part, v.version or 0): prompts.get_version(conn, v.part, v.version or 0)
        for v in batch.prompt_versions
    }
    same = {(v.part, v.version or 0): prompts.same_content(conn, v) for v in batch.prompt_versions}
    missing = rules.prompt_versions_to_store(batch, stored, same)
    try:
        prompts.insert_versions(conn, missing)
        _insert(
            conn,
            users,
            [
                _kept_version(user_values(u, updated_at=u.updated_at), u.version)
                for u in batch.users
            ],
        )
        _insert(conn, sessions, [_session_row(s) for s in batch.sessions])
        _insert(conn, states, [state_values(s.state) for s in batch.sessions if s.state])
        _insert(conn, contexts, [_context_row(s) for s in batch.sessions if s.context])
        _insert(
            conn,
            messages,
            [
                message_values(s.session_id, position, m)
                for s in batch.sessions
                if s.context
                for position, m in enumerate(s.context.messages)
            ],
        )
        _insert(
            conn,
            identities,
            [
                _kept_version(identity_values(i, updated_at=i.updated_at), i.version)
                for i in batch.identities
            ],
        )
        _insert(conn, turns, [turn_values(t, t.seq or 0) for s in batch.sessions for t in s.turns])
        _insert(conn, session_origins, [s.origin.model_dump() for s in batch.sessions if s.origin])
    except IntegrityError as e:  # an id taken by another writer since the look above
        raise IdsTakenError(
            f"a record was stored with one of these ids at the same time; nothing was "
            f"imported. Import again to see which ({e.orig})"
        ) from e


def _taken(conn: Connection, kind: str, ids: Sequence[str]) -> list[str]:
    column = _ID_COLUMNS[kind]
    found: list[str] = []
    for chunk in _chunks(ids):
        found += conn.execute(select(column).where(column.in_(chunk))).scalars().all()
    return found


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(table), rows)


def _kept_version(values: dict[str, Any], version: int) -> dict[str, Any]:
    """A row as imported: at the record's own version (``*_values`` give the next one)."""
    return {**values, "version": version}


def _session_row(session: SessionRecords) -> dict[str, Any]:
    message_count = 0 if session.context is None else len(session.context.messages)
    return {
        "id": session.session_id,
        "user_id": session.user_id,
        "id_key": search_key(session.session_id),
        "user_key": search_key(session.user_id),
        "state": None if session.state is None else session.state.state.value,
        "message_count": message_count,
        "turn_count": len(session.turns),
        "created_at": session.created_at,
        "last_activity_at": session.last_activity_at,
    }


def _context_row(session: SessionRecords) -> dict[str, Any]:
    context = session.context
    assert context is not None
    return {
        "session_id": context.session_id,
        "user_id": context.user_id,
        "user_data": context_user_data(context),
        "version": context.version,
        "message_count": len(context.messages),
        "created_at": context.created_at,
        "updated_at": context.updated_at,
    }
