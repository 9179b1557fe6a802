"""Where an operation's SQL runs: one stock SQLAlchemy path per dialect.

Every operation of ``SQLDatabase`` is a plain function of a SQLAlchemy ``Connection``, run in
one transaction by an ``Engines`` object:

- SQLite (``sqlite:///file.db``, the standard library's ``sqlite3`` driver): a sync ``Engine``;
  each operation runs in a worker thread of a ``concurrent.futures.ThreadPoolExecutor`` owned by
  the database (so model work in the loop's default executor never delays it). Measured on this
  project's 2-core machine, a turn's reads and commit took 1.5-1.7 ms this way and 4.0-4.2 ms on
  ``aiosqlite``'s async engine, which hands every statement to its thread and back.
- PostgreSQL (``postgresql+asyncpg://...``): SQLAlchemy's ``AsyncEngine``; each operation runs
  with ``AsyncConnection.run_sync``. Every statement is a network round trip that ``asyncpg``
  awaits without blocking the event loop.

No database call runs on the event loop's thread.

SQLite: every connection runs in WAL mode with a busy timeout, foreign keys on and
``synchronous=NORMAL``. The driver's own transaction handling is switched off
(``isolation_level = None``) and a ``begin`` listener issues the ``BEGIN`` itself, as
SQLAlchemy's documentation shows for SQLite: ``BEGIN IMMEDIATE`` for writes, so a
read-then-write transaction takes the write lock up front and waits (busy timeout) instead of
failing with "database is locked" when it later writes; a plain deferred ``BEGIN`` for reads,
which in WAL mode never wait for writers.

PostgreSQL: a small pool with pre-ping, so connections dropped by a restart or a proxy are
replaced instead of failing the next query.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, pool
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from coach.persistence.sql.errors import DRIVER_ERRORS, SQLITE_BUSY_TIMEOUT_S, connect_error
from coach.persistence.urls import mask_url

T = TypeVar("T")
Work = Callable[[Connection], T]

#: Execution option that makes the SQLite ``begin`` listener take the write lock at once.
WRITE_OPTION = "coach_write"
#: Worker threads, and pooled connections, of a SQLite file database.
SQLITE_THREADS = 4
POSTGRES_CONNECT_TIMEOUT_S = 10
#: The URL forms this backend runs, one driver per dialect.
URL_FORMS = "'sqlite:///path.db' or 'postgresql+asyncpg://user@host/dbname'"
DRIVERS = {"sqlite": "pysqlite", "postgresql": "asyncpg"}


def parse_url(url: str) -> URL:
    """The URL, checked: SQLite on the standard library's driver, or PostgreSQL on ``asyncpg``.

    Raises:
        ValueError: not a URL, or another database or driver, with the forms to use.
    """
    try:
        parsed = make_url(url)
    except Exception as e:  # ArgumentError, ValueError: anything make_url refuses
        raise ValueError(f"not a valid database URL: {mask_url(url)!r} ({e})") from e
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend == "sqlite" and driver == "aiosqlite":
        raise ValueError(
            f"{mask_url(url)!r}: SQLite no longer runs on aiosqlite. Write the URL as "
            f"{parsed.set(drivername='sqlite').render_as_string(hide_password=True)!r}; the "
            "same database file works as it is."
        )
    if DRIVERS.get(backend) != driver:
        raise ValueError(f"unsupported database URL {mask_url(url)!r}: use {URL_FORMS}")
    return parsed


def is_sqlite_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL, or ``None`` for an in-memory database or another backend."""
    if url.get_backend_name() != "sqlite" or is_sqlite_memory(url) or url.database is None:
        return None
    return Path(url.database)


class Engines:
    """Runs operations on one database in transactions, the stock way for its dialect."""

    def __init__(self, url: URL, *, foreign_keys: bool = True, migrations: bool = False) -> None:
        """
        Args:
            foreign_keys: SQLite only; migrations turn them off, as table rebuilds ("batch"
                migrations) would otherwise cascade deletes into child tables.
            migrations: an engine for one short job (no pool kept open).
        """
        self.url = url
        self._sqlite: Engine | None = None
        self._sqlite_writer: Engine | None = None
        self._postgres: AsyncEngine | None = None
        self._executor: ThreadPoolExecutor | None = None
        if url.get_backend_name() == "sqlite":
            self._sqlite = _sqlite_engine(url, foreign_keys=foreign_keys, migrations=migrations)
            self._sqlite_writer = self._sqlite.execution_options(**{WRITE_OPTION: True})
            # An in-memory database is one shared connection: one operation at a time.
            threads = 1 if is_sqlite_memory(url) else SQLITE_THREADS
            self._executor = ThreadPoolExecutor(threads, thread_name_prefix="coach-sqlite")
        else:
            self._postgres = _postgres_engine(url, migrations=migrations)

    @property
    def sync_engine(self) -> Engine:
        """The engine whose events see every statement (diagnostics, tests, benchmarks)."""
        if self._sqlite is not None:
            return self._sqlite
        assert self._postgres is not None
        return self._postgres.sync_engine

    async def run(self, work: Work[T], *, write: bool) -> T:
        """Run ``work`` in one transaction: a write transaction is committed when ``work``
        returns and rolled back when it raises; a read transaction is always rolled back."""
        if self._postgres is not None:
            return await self._run_async(work, write)
        assert self._executor is not None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(self._run_sync, work, write))

    def _run_sync(self, work: Work[T], write: bool) -> T:
        engine = self._sqlite_writer if write else self._sqlite
        assert engine is not None
        try:
            conn = engine.connect()
        except DRIVER_ERRORS as e:
            raise connect_error(self.url, e) from e
        with conn:
            if not write:
                return work(conn)  # closing the connection rolls the read back
            with conn.begin():
                return work(conn)

    async def _run_async(self, work: Work[T], write: bool) -> T:
        assert self._postgres is not None
        conn = self._postgres.connect()
        try:
            await conn.start()
        except DRIVER_ERRORS as e:
            raise connect_error(self.url, e) from e
        try:
            if not write:
                return await conn.run_sync(work)
            async with conn.begin():
                return await conn.run_sync(work)
        finally:
            await conn.close()

    async def dispose(self) -> None:
        """Close every pooled connection and stop the worker threads."""
        if self._postgres is not None:
            await self._postgres.dispose()
            return
        assert self._sqlite is not None and self._executor is not None
        executor, engine = self._executor, self._sqlite

        def stop() -> None:
            executor.shutdown(wait=True)  # operations already handed over still finish
            engine.dispose()

        await asyncio.to_thread(stop)


def _wal_mode(cursor: Any) -> None:
    """Switch the file to WAL (once per file; a no-op after). The switch needs the file to
    itself, and SQLite may refuse it at once ("database is locked") instead of calling the busy
    handler while another process opens or writes the new file: it is tried again until the
    busy timeout (seen with several processes initializing one new file under load)."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_engine(url: URL, *, foreign_keys: bool, migrations: bool) -> Engine:
    connect_args: dict[str, Any] = {
        "check_same_thread": False,  # a pooled connection serves any worker
        # Opening waits for a writer (a migration) as long as any statement does; the
        # driver's default is 5 s, and the journal pragma below runs before busy_timeout.
        "timeout": SQLITE_BUSY_TIMEOUT_S,
    }
    if is_sqlite_memory(url):
        engine = create_engine(url, poolclass=pool.StaticPool, connect_args=connect_args)
    elif migrations:
        engine = create_engine(url, poolclass=pool.NullPool, connect_args=connect_args)
    else:
        engine = create_engine(
            url,
            pool_size=SQLITE_THREADS,
            max_overflow=SQLITE_THREADS,
            pool_timeout=SQLITE_BUSY_TIMEOUT_S * 3,
            connect_args=connect_args,
        )
    pragmas = (
        f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}",
        f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}",
        "PRAGMA synchronous=NORMAL",
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the begin listener issues BEGIN
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                cursor.execute(pragma)
            _wal_mode(cursor)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _postgres_engine(url: URL, *, migrations: bool) -> AsyncEngine:
    connect_args: dict[str, Any] = {
        "timeout": POSTGRES_CONNECT_TIMEOUT_S,
        "server_settings": {"application_name": "identity-coach"},
    }
    if migrations:
        return create_async_engine(url, poolclass=pool.NullPool, connect_args=connect_args)
    return create_async_engine(
        url,
        pool_size=5,
        max_overflow=10,
        pool_timeout=30,
        pool_recycle=1800,
        pool_pre_ping=True,
        connect_args=connect_args,
    )
