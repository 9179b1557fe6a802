"""The SQL side of the Admin page and the audit log, which the contract suite cannot see: the
schema revision and every table's size, and the indexes that keep the audit log's pages and the
newest failed turns fast on a big database."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Connection

from coach.enums import TurnStatus
from coach.persistence.records import AuditEntry, utcnow
from coach.persistence.sql import SQLDatabase
from coach.persistence.sql.convert import turn_values
from coach.persistence.sql.migrate import head_revisions
from coach.persistence.sql.tables import Base, audit_log, audit_targets, sessions, turns, users
from tests.persistence.contract import builders as b
from tests.persistence.test_sql_backend import explain_all, opened, recorded_statements, run_sql

pytestmark = pytest.mark.filterwarnings("error::sqlalchemy.exc.SAWarning")

with closing(sqlite3.connect(":memory:")) as conn:
    #: Whether this Python's SQLite library can tell table sizes (its ``dbstat`` table).
    SQLITE_HAS_DBSTAT = bool(
        conn.execute("SELECT sqlite_compileoption_used('ENABLE_DBSTAT_VTAB')").fetchone()[0]
    )


@pytest.fixture
async def sql_db(sql_url: str) -> AsyncIterator[SQLDatabase]:
    async with opened(sql_url) as db:
        yield db


async def test_the_report_names_the_revision_and_sizes_every_table(sql_db: SQLDatabase) -> None:
    report = await sql_db.describe_storage()
    assert (report.backend, report.revision) == (sql_db.backend_name, ", ".join(head_revisions()))
    assert [t.name for t in report.tables] == [t.name for t in Base.metadata.sorted_tables]
    sized = sql_db.backend_name == "postgresql" or SQLITE_HAS_DBSTAT
    for stats in report.tables:
        assert (stats.bytes is not None and stats.bytes > 0) if sized else stats.bytes is None


async def test_a_tables_size_grows_with_its_rows(sql_db: SQLDatabase) -> None:
    if sql_db.backend_name == "sqlite" and not SQLITE_HAS_DBSTAT:
        pytest.skip("this SQLite library has no dbstat table: sizes are unknown")

    async def size(name: str) -> int:
        [found] = [t.bytes for t in (await sql_db.describe_storage()).tables if t.name == name]
        assert found is not None
        return found

    before = await size("messages")
    big = [b.message("x" * 1000) for _ in range(500)]
    await sql_db.save_context(b.context("ann", "s1", big))
    assert await size("messages") >= before + 500 * 1000


# -- indexes -------------------------------------------------------------------------------------


async def _fill(db: SQLDatabase, n_sessions: int, per_session: int, n_entries: int) -> None:
    """Turns (one in 100 failed) and audit entries (each naming two of 1000 ids), analyzed."""
    now = utcnow()
    session_rows = [
        {
            "id": f"s-{s:04d}",
            "user_id": "ana",
            "id_key": f"s-{s:04d}",
            "user_key": "ana",
            "state": None,
            "message_count": 0,
            "turn_count": per_session,
            "created_at": now,
            "last_activity_at": now,
        }
        for s in range(n_sessions)
    ]
    turn_rows = [
        turn_values(
            b.turn(
                "ana",
                f"s-{s:04d}",
                status=TurnStatus.FAILED if (s + n) % 100 == 0 else TurnStatus.OK,
                created_at=now - timedelta(seconds=s * per_session + n),
            ),
            n + 1,
        )
        for s in range(n_sessions)
        for n in range(per_session)
    ]
    entries = [
        AuditEntry(
            actor=f"actor-{n % 50}",
            action=f"action-{n % 10}",
            target_ids=[f"id-{n % 1000}", f"id-{(n + 7) % 1000}"],
            outcome="ok",
            at=now - timedelta(seconds=n),
        )
        for n in range(n_entries)
    ]

    def fill(conn: Connection) -> None:
        conn.execute(
            insert(users).values(id="ana", id_key="ana", data={}, created_at=now, updated_at=now)
        )
        conn.execute(insert(sessions), session_rows)
        conn.execute(insert(turns), turn_rows)
        conn.execute(insert(audit_log), [e.model_dump() for e in entries])
        conn.execute(
            insert(audit_targets),
            [{"entry_id": e.id, "target_id": t} for e in entries for t in set(e.target_ids)],
        )
        conn.exec_driver_sql("ANALYZE")

    await run_sql(db, fill)


#: Each list of the Admin page and the index it reads, and whether it may sort what the index
#: finds: pending turns are few (those running now), and an id is named by few entries.
ADMIN_LISTS = {
    "failed turns": ("ix_turns_failed_created_at_session_id_seq", False),
    "pending turns": ("ix_turns_pending_created_at", True),
    "audit log": ("ix_audit_log_at_id", False),
    "audit log, next page": ("ix_audit_log_at_id", False),
    "audit log by actor": ("ix_audit_log_actor_at_id", False),
    "audit log by action": ("ix_audit_log_action_at_id", False),
    "audit log by target": ("ix_audit_targets_target_id_entry_id", True),
}


async def _admin_plans(db: SQLDatabase) -> dict[str, str]:
    """The plans of the Admin page's lists (``ADMIN_LISTS``), on a filled database."""
    await _fill(db, n_sessions=100, per_session=50, n_entries=5000)
    first = await db.list_audit_entries(limit=20)
    lists = {
        "failed turns": db.list_failed_turns(limit=20),
        "pending turns": db.list_pending_turns(limit=20),
        "audit log": db.list_audit_entries(limit=20),
        "audit log, next page": db.list_audit_entries(limit=20, cursor=first.next_cursor),
        "audit log by actor": db.list_audit_entries(actor="actor-7", limit=20),
        "audit log by action": db.list_audit_entries(action="action-3", limit=20),
        "audit log by target": db.list_audit_entries(target_id="id-12", limit=20),
    }
    plans = {}
    for name, listing in lists.items():
        with recorded_statements(db) as seen:
            await listing
        [plans[name]] = await explain_all(db, seen)
    assert set(plans) == set(ADMIN_LISTS)
    return plans


#: How each dialect's plan shows a sort.
SORTS = {"sqlite": "USE TEMP B-TREE", "postgresql": "Sort"}


def reads_a_whole_table(plan: str) -> bool:
    return "Seq Scan" in plan or any(
        line.startswith("SCAN") and "INDEX" not in line for line in plan.splitlines()
    )


async def test_admin_lists_read_their_indexes(sql_url: str) -> None:
    """No table scan; the lists that need not sort come off their index in order."""
    async with opened(sql_url) as db:
        plans = await _admin_plans(db)
        sort = SORTS[db.backend_name]
    for name, plan in plans.items():
        index, may_sort = ADMIN_LISTS[name]
        assert index in plan, (name, plan)
        assert may_sort or sort not in plan, (name, plan)
        assert not reads_a_whole_table(plan), (name, plan)
