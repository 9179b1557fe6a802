"""``describe_storage`` on SQL: the schema revision, and each table's rows, size and growth.

Each table is read once: one ``count(*)`` with the rows created since a day and a week ago
counted alongside (``count`` of a ``CASE`` that is null outside the window, the same SQL on
both dialects). That reads every row, which is fine for an Admin page opened on demand; the
pages shown on every load use ``count_records`` and its counters instead.

Sizes are the dialect's own: ``pg_total_relation_size`` on PostgreSQL (the table, its indexes
and TOAST); on SQLite the pages of the table and of its indexes, from the ``dbstat`` virtual
table when the SQLite library was built with it (``SQLITE_ENABLE_DBSTAT_VTAB``), else unknown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, case, func, null, select, text
from sqlalchemy.engine import Connection

from coach.persistence import rules
from coach.persistence.records import StorageReport, TableStats
from coach.persistence.sql import migrate
from coach.persistence.sql.tables import CREATED_AT, Base

#: Bytes per table on SQLite: every b-tree page (of the table and of its indexes, automatic
#: ones included), summed under the table its schema entry names.
_SQLITE_SIZES = text(
    "SELECT m.tbl_name, sum(d.pgsize) FROM dbstat AS d "
    "JOIN sqlite_master AS m ON m.name = d.name GROUP BY m.tbl_name"
)
_SQLITE_HAS_DBSTAT = text("SELECT sqlite_compileoption_used('ENABLE_DBSTAT_VTAB')")


def describe(conn: Connection, now: datetime) -> StorageReport:
    tables = Base.metadata.sorted_tables
    sizes = _sizes(conn, tables)
    day, week = rules.growth_since(now)
    revisions = migrate.current_revisions(conn)
    return StorageReport(
        backend=conn.dialect.name,
        revision=", ".join(revisions) or None,
        tables=[_stats(conn, table, sizes, day, week) for table in tables],
    )


def _stats(
    conn: Connection, table: Table, sizes: dict[str, int] | None, day: datetime, week: datetime
) -> TableStats:
    created = CREATED_AT.get(table.name)
    counts = select(func.count(), _added_since(created, day), _added_since(created, week))
    rows, last_day, last_week = conn.execute(counts.select_from(table)).one()
    return TableStats(
        name=table.name,
        rows=rows,
        bytes=None if sizes is None else sizes.get(table.name),
        added_last_day=last_day,
        added_last_week=last_week,
    )


def _added_since(created: Column[datetime] | None, when: datetime) -> ColumnElement[Any]:
    """The rows created at or after ``when``; null for a table without a creation time."""
    return null() if created is None else func.count(case((created >= when, 1)))


def _sizes(conn: Connection, tables: list[Table]) -> dict[str, int] | None:
    """Bytes per table name, or ``None`` when this database cannot tell."""
    if conn.dialect.name == "postgresql":
        sizes = select(
            *(func.pg_total_relation_size(func.to_regclass(t.name)).label(t.name) for t in tables)
        )
        found = conn.execute(sizes).mappings().one()
        return {name: int(size) for name, size in found.items() if size is not None}
    if not conn.execute(_SQLITE_HAS_DBSTAT).scalar_one():
        return None
    return {str(name): int(size) for name, size in conn.execute(_SQLITE_SIZES).all()}
