"""The Alembic migrations build exactly the schema the ORM declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from coach.errors import SchemaOutdatedError
from coach.persistence.sql import SQLDatabase
from coach.persistence.sql.migrate import alembic_config, head_revisions
from coach.persistence.sql.tables import Base
from tests import processes

INIT_COMMAND = "python -m coach init-db"
REPO = processes.REPO_ROOT
#: App processes starting at once in the concurrency test, and how long after the last of them
#: is ready they all call initialize() (a wall-clock moment: a barrier across processes).
INITIALIZING_PROCESSES = 4
START_DELAY_S = 0.5


async def _run(url: str, fn: Any) -> Any:
    db = SQLDatabase(url)
    try:
        return await db.run_sync(fn, write=True)
    finally:
        await db.close()


def _revisions(conn: Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(conn).get_current_heads())


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _schema_diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def _initialized(url: str) -> SQLDatabase:
    db = SQLDatabase(url)
    await db.initialize()
    return db


async def test_initialize_brings_an_empty_database_to_the_latest_revision(sql_url: str) -> None:
    db = await _initialized(sql_url)
    await db.close()
    assert await _run(sql_url, _revisions) == head_revisions()
    assert await _run(sql_url, _tables) == {*Base.metadata.tables, "alembic_version"}


async def test_initialize_twice_is_harmless(sql_url: str) -> None:
    db = await _initialized(sql_url)
    await db.initialize()
    await db.check_schema()
    await db.close()
    assert await _run(sql_url, _revisions) == head_revisions()


async def test_migrated_schema_matches_the_orm_metadata(sql_url: str) -> None:
    db = await _initialized(sql_url)
    await db.close()
    assert await _run(sql_url, _schema_diff) == []


async def test_check_schema_on_an_unmigrated_database_says_what_to_run(sql_url: str) -> None:
    db = SQLDatabase(sql_url)
    try:
        with pytest.raises(SchemaOutdatedError, match=INIT_COMMAND):
            await db.check_schema()
    finally:
        await db.close()


async def test_queries_on_an_unmigrated_database_say_what_to_run(sql_url: str) -> None:
    db = SQLDatabase(sql_url)
    try:
        with pytest.raises(SchemaOutdatedError, match=INIT_COMMAND):
            await db.get_user("someone")
    finally:
        await db.close()


async def test_check_schema_on_an_older_revision_says_what_to_run(sql_url: str) -> None:
    db = await _initialized(sql_url)

    def downgrade(conn: Connection) -> None:
        command.downgrade(alembic_config(conn), "base")

    await _run(sql_url, downgrade)
    assert await _run(sql_url, _tables) == {"alembic_version"}
    with pytest.raises(SchemaOutdatedError, match=INIT_COMMAND):
        await db.check_schema()
    await db.initialize()
    await db.check_schema()
    await db.close()


async def test_a_schema_newer_than_the_code_is_refused(sql_url: str) -> None:
    db = await _initialized(sql_url)

    def stamp_future(conn: Connection) -> None:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed'"))

    await _run(sql_url, stamp_future)
    with pytest.raises(SchemaOutdatedError, match="newer"):
        await db.check_schema()
    with pytest.raises(SchemaOutdatedError, match="newer version"):
        await db.initialize()
    await db.close()


def test_the_alembic_command_line_migrates_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    ini = REPO / "coach/persistence/sql/migrations/alembic.ini"
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), "-x", f"url={url}", "upgrade", "head"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    import sqlite3

    with sqlite3.connect(tmp_path / "cli.db") as conn:
        (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert (version,) == head_revisions()


async def _run_initializers(url: str, count: int) -> list[dict[str, Any]]:
    """Start ``count`` processes, let them all call ``initialize()`` at one moment, and return
    their reports (see ``initialize_worker``). Fails the test if any of them failed."""
    workers = [
        processes.spawn("tests.persistence.initialize_worker", "--url", url) for _ in range(count)
    ]
    with processes.running(workers):
        # Every process has imported everything before any starts.
        await processes.wait_ready(workers)
        processes.tell(workers, f"go {time.time() + START_DELAY_S}")
        outputs = [await asyncio.to_thread(w.communicate, timeout=120) for w in workers]
    reports = []
    for worker, (out, err) in zip(workers, outputs, strict=True):
        lines = out.strip().splitlines()
        report = json.loads(lines[-1]) if lines else {"error": "no report"}
        assert worker.returncode == 0 and report["error"] is None, (
            f"an initializing process failed ({worker.returncode}): {report['error']}\n{err}"
        )
        reports.append(report)
    return reports


def _version_rows(conn: Connection) -> list[str]:
    return [row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))]


async def test_concurrent_initialize_migrates_once(sql_url: str) -> None:
    """Several app processes starting at once: one migrates, the others find the schema."""
    reports = await _run_initializers(sql_url, INITIALIZING_PROCESSES)

    # They really ran at the same time: some were inside initialize() together.
    first_done = min(r["finished"] for r in reports)
    together = [r for r in reports if r["started"] < first_done]
    assert len(together) >= 2, f"the processes did not overlap: {reports}"
    # One process ran every migration step, once; the others found the schema at head.
    revisions = list(ScriptDirectory.from_config(alembic_config()).walk_revisions())
    migrating = [r["steps"] for r in reports if r["steps"]]
    assert len(migrating) == 1, f"more than one process migrated: {migrating}"
    assert len(migrating[0]) == len(revisions)
    assert await _run(sql_url, _version_rows) == list(head_revisions())
    assert await _run(sql_url, _tables) == {*Base.metadata.tables, "alembic_version"}
    assert await _run(sql_url, _schema_diff) == []
    db = SQLDatabase(sql_url)
    try:
        await db.check_schema()
    finally:
        await db.close()


async def test_an_in_memory_sqlite_database_works() -> None:
    db = SQLDatabase("sqlite://")
    await db.initialize()
    await db.check_schema()
    assert (await db.count_records())["users"] == 0
    await db.close()
