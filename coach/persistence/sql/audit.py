"""The audit log on SQL (``audit_log``, ``audit_targets``).

An entry is one row of ``audit_log`` holding the record whole (its ``target_ids`` as given, in
order), and one row of ``audit_targets`` per distinct id it names, only to find an id's entries
through an index (``tables.AuditTargetRow`` says why a child table). Entries are inserted, never
updated or deleted; nothing else references them, so deleting sessions and users leaves them.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection

from coach.persistence import rules
from coach.persistence.paging import page_of
from coach.persistence.records import AuditEntry, Page
from coach.persistence.sql.queries import AnySelect, after_cursor
from coach.persistence.sql.statements import native_insert
from coach.persistence.sql.tables import audit_log, audit_targets


def add(conn: Connection, entry: AuditEntry) -> AuditEntry:
    insert = native_insert(conn.dialect.name)
    added = conn.execute(
        insert(audit_log)
        .values(entry.model_dump())
        .on_conflict_do_nothing(index_elements=[audit_log.c.id])
    )
    if added.rowcount != 1:
        raise rules.audit_id_taken(entry.id)
    targets = [{"entry_id": entry.id, "target_id": t} for t in sorted(set(entry.target_ids))]
    if targets:
        conn.execute(insert(audit_targets), targets)
    return entry.model_copy(deep=True)


def listed(
    conn: Connection,
    *,
    actor: str | None,
    action: str | None,
    target_id: str | None,
    limit: int,
    cursor: str | None,
) -> Page[AuditEntry]:
    query: AnySelect = select(audit_log)
    query = after_cursor(query, audit_log.c.at, audit_log.c.id, cursor)
    if actor is not None:
        query = query.where(audit_log.c.actor == actor)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    if target_id is not None:
        named = select(audit_targets.c.entry_id).where(audit_targets.c.target_id == target_id)
        query = query.where(audit_log.c.id.in_(named))
    query = query.order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit + 1)
    rows = conn.execute(query).mappings()
    return page_of([AuditEntry.model_validate(dict(r)) for r in rows], limit, rules.audit_order)
