"""Reads and writes of ``session_origins`` (where a forked or replayed session came from).

Each function runs inside the one transaction the backend opened; the check is the shared rule
(``coach.persistence.rules``), the same the memory backend makes.
"""

from __future__ import annotations

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.engine import Connection

from coach.enums import JobStatus, OriginKind
from coach.persistence import rules
from coach.persistence.records import SessionOrigin
from coach.persistence.sql.tables import session_origins, sessions

_ORIGIN = select(session_origins).where(session_origins.c.session_id == bindparam("p_id"))
_SESSION_EXISTS = select(sessions.c.id).where(sessions.c.id == bindparam("p_id"))


def save(conn: Connection, origin: SessionOrigin) -> SessionOrigin:
    exists = conn.execute(_SESSION_EXISTS, {"p_id": origin.session_id}).first() is not None
    rules.check_session_origin(origin, session_exists=exists)
    # Replaced whole: only the task making the session writes its origin.
    conn.execute(delete(session_origins).where(session_origins.c.session_id == origin.session_id))
    conn.execute(insert(session_origins).values(origin.model_dump()))
    return origin


def get(conn: Connection, session_id: str) -> SessionOrigin | None:
    row = conn.execute(_ORIGIN, {"p_id": session_id}).mappings().first()
    return None if row is None else SessionOrigin.model_validate(dict(row))


def listed(
    conn: Connection,
    source_session_id: str | None,
    status: JobStatus | None,
    kind: OriginKind | None,
    limit: int,
) -> list[SessionOrigin]:
    query = select(session_origins).order_by(
        session_origins.c.created_at.desc(), session_origins.c.session_id.desc()
    )
    if source_session_id is not None:
        query = query.where(session_origins.c.source_session_id == source_session_id)
    if status is not None:
        query = query.where(session_origins.c.status == status.value)
    if kind is not None:
        query = query.where(session_origins.c.kind == kind.value)
    rows = conn.execute(query.limit(limit)).mappings()
    return [SessionOrigin.model_validate(dict(row)) for row in rows]
