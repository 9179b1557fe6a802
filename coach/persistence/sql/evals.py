"""Reads and writes of the eval tables (``eval_runs``, ``eval_conversations``).

Each function runs inside the one transaction the backend opened; the checks are the shared
rules (``coach.persistence.rules``), the same the memory backend makes. Saving a conversation
first locks its session's row (PostgreSQL; SQLite's write transaction holds the whole file), as
every write of a session's records does: two writers of one conversation queue up, and the
session cannot be deleted between the check and the write. Its upsert also changes only a
running conversation, so an ended one is never overwritten.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, literal_column, select, update
from sqlalchemy.engine import Connection

from coach.enums import JobStatus
from coach.persistence import rules
from coach.persistence.records import EvalConversation, EvalRun, utcnow
from coach.persistence.sql.statements import native_insert
from coach.persistence.sql.tables import eval_conversations, eval_runs, sessions

_RUN = select(eval_runs).where(eval_runs.c.id == bindparam("p_id"))
_CONVERSATIONS = select(eval_conversations).where(eval_conversations.c.run_id == bindparam("p_id"))
_CONVERSATION = select(eval_conversations).where(
    eval_conversations.c.session_id == bindparam("p_id")
)
_LOCK_SESSION = (
    select(sessions.c.user_id).where(sessions.c.id == bindparam("p_id")).with_for_update()
)


def save_run(conn: Connection, run: EvalRun) -> EvalRun:
    rules.check_eval_run(run)
    values = run.model_dump(exclude={"conversations"})
    stmt = native_insert(conn.dialect.name)(eval_runs).values(values)
    # Replaced whole: only the task running it writes a run.
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[eval_runs.c.id],
            set_={name: stmt.excluded[name] for name in values if name != "id"},
        )
    )
    return run.model_copy(deep=True, update={"conversations": []})


def save_conversation(conn: Connection, conversation: EvalConversation) -> EvalConversation:
    sid = conversation.session_id
    owner = conn.execute(_LOCK_SESSION, {"p_id": sid}).scalar()
    run = _run(conn, conversation.run_id)
    stored = _conversation(conn, sid)
    rules.check_eval_conversation(conversation, run, session_owner=owner, stored=stored)
    assert run is not None
    values: dict[str, Any] = conversation.model_dump()
    stmt = native_insert(conn.dialect.name)(eval_conversations).values(values)
    saved = conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[eval_conversations.c.session_id],
            set_={name: stmt.excluded[name] for name in values if name != "session_id"},
            where=(eval_conversations.c.run_id == stmt.excluded.run_id)
            & (eval_conversations.c.status == literal_column("'running'")),
        )
    )
    if saved.rowcount != 1:  # changed by another writer since the check: raises why
        rules.check_eval_conversation(
            conversation, run, session_owner=owner, stored=_conversation(conn, sid)
        )
    conn.execute(
        update(eval_runs)
        .where(eval_runs.c.id == run.id, eval_runs.c.status == JobStatus.RUNNING.value)
        .values(heartbeat_at=utcnow())
    )
    return conversation.model_copy(deep=True)


def get_run(conn: Connection, run_id: str) -> EvalRun | None:
    run = _run(conn, run_id)
    if run is None:
        return None
    rows = conn.execute(_CONVERSATIONS, {"p_id": run_id}).mappings()
    return rules.with_conversations(run, (EvalConversation.model_validate(dict(r)) for r in rows))


def listed(conn: Connection, status: JobStatus | None, limit: int) -> list[EvalRun]:
    query = select(eval_runs).order_by(eval_runs.c.created_at.desc(), eval_runs.c.id.desc())
    if status is not None:
        query = query.where(eval_runs.c.status == status.value)
    rows = conn.execute(query.limit(limit)).mappings()
    return [EvalRun.model_validate(dict(row)) for row in rows]


def _run(conn: Connection, run_id: str) -> EvalRun | None:
    row = conn.execute(_RUN, {"p_id": run_id}).mappings().first()
    return None if row is None else EvalRun.model_validate(dict(row))


def _conversation(conn: Connection, session_id: str) -> EvalConversation | None:
    row = conn.execute(_CONVERSATION, {"p_id": session_id}).mappings().first()
    return None if row is None else EvalConversation.model_validate(dict(row))
