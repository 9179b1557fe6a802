"""Contract: describe_storage names the backend and reports each table once, with its exact
rows and the rows created in the last day and week."""

from __future__ import annotations

from datetime import timedelta

from coach.enums import TurnStatus
from coach.persistence import DatabaseInterface
from coach.persistence.records import AuditEntry, PromptVersion, TableStats, utcnow

from . import builders as b

#: The tables every backend reports: those holding the records of the interface (the SQL
#: backends also report the tables that only serve others, such as ``prompt_parts``).
RECORD_TABLES = {
    "users",
    "sessions",
    "states",
    "contexts",
    "messages",
    "identities",
    "turns",
    "prompt_versions",
    "prompt_labels",
    "experiments",
    "experiment_runs",
    "session_origins",
    "eval_runs",
    "eval_conversations",
    "audit_log",
}


async def tables(db: DatabaseInterface) -> dict[str, TableStats]:
    report = await db.describe_storage()
    assert report.backend == db.backend_name
    by_name = {t.name: t for t in report.tables}
    assert len(by_name) == len(report.tables), "a table is reported twice"
    return by_name


def audit_entry(**fields: object) -> AuditEntry:
    return AuditEntry.model_validate(
        {"actor": "local", "action": "sign_in", "outcome": "ok", **fields}
    )


async def test_an_empty_store_reports_every_table_empty(db: DatabaseInterface) -> None:
    found = await tables(db)
    assert set(found) >= RECORD_TABLES
    for stats in found.values():
        assert stats.rows == 0, stats
        assert stats.added_last_day in (0, None), stats
        assert stats.added_last_week in (0, None), stats
        assert stats.bytes is None or stats.bytes > 0, stats


async def test_rows_count_every_record_written(db: DatabaseInterface) -> None:
    await b.stored_context(db, "ann", "s1", 3)
    await db.save_state(b.state("ann", "s1"))
    await db.save_turn(b.turn("ann", "s1"))
    await db.save_turn(b.turn("ann", "s1", status=TurnStatus.FAILED))
    await b.stored_context(db, "bob", "s2", 2)
    await db.save_identity(b.identity("bob"))
    await db.add_prompt_version(PromptVersion(part="persona", body="You are a coach."))
    await db.add_prompt_version(PromptVersion(part="persona", body="You are a kind coach."))
    await db.set_prompt_label("persona", "active", 2, expected_revision=None)
    await db.add_audit_entry(audit_entry(target_ids=["s1", "s2"]))
    found = await tables(db)
    rows = {name: found[name].rows for name in RECORD_TABLES}
    assert rows == {
        **dict.fromkeys(RECORD_TABLES, 0),
        "users": 2,
        "sessions": 2,
        "states": 1,
        "contexts": 2,
        "messages": 5,
        "identities": 1,
        "turns": 2,
        "prompt_versions": 2,
        "prompt_labels": 1,
        "audit_log": 1,
    }
    for name, count in (await db.count_records()).items():
        assert found[name].rows == count, name


async def test_growth_counts_rows_created_in_the_last_day_and_week(db: DatabaseInterface) -> None:
    now = utcnow()
    ages = (timedelta(hours=1), timedelta(days=2), timedelta(days=6), timedelta(days=30))
    for age in ages:
        await db.save_user(b.user(created_at=now - age))
        await db.add_audit_entry(audit_entry(at=now - age))
    messages = [b.message(created_at=now - age) for age in ages]
    await db.save_context(b.context("ann", "s1", messages))
    found = await tables(db)
    for name, rows in (("users", 5), ("audit_log", 4), ("messages", 4)):  # ann is new today
        added = (found[name].rows, found[name].added_last_day, found[name].added_last_week)
        assert added == (rows, rows - 3, rows - 1), name


async def test_a_table_without_creation_times_has_no_growth(db: DatabaseInterface) -> None:
    await db.add_prompt_version(PromptVersion(part="persona", body="You are a coach."))
    await db.set_prompt_label("persona", "active", 1, expected_revision=None)
    labels = (await tables(db))["prompt_labels"]
    assert (labels.rows, labels.added_last_day, labels.added_last_week) == (1, None, None)
