"""Where the SQL of one operation runs: one connection, one transaction, one hand-off.

Every operation of ``SQLDatabase`` is a plain function of a SQLAlchemy ``Connection``. A runner
gives it a connection (in a write transaction for writes) and runs it:

- ``AsyncRunner`` (PostgreSQL, ``asyncpg``): ``AsyncConnection.run_sync`` on the event loop;
  every statement is one round trip to the server.
- ``ThreadRunner`` (SQLite): the whole function in a worker thread on a ``pysqlite``
  connection. ``aiosqlite`` hands every statement to its thread and back several times (cursor,
  execute, fetch, close), and each hand-off costs a thread wake-up on both sides; measured on
  this project's 2-core machine a turn's ~9 statements took 6-10x longer that way than in one
  hand-off per operation. SQLite itself is in-process and fast, so the hand-offs were the cost.

Both translate driver errors into ``PersistenceError`` (connection failures with what to check).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Engine, pool
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from coach.errors import CoachError, PersistenceError
from coach.persistence.sql.engine import (
    SQLITE_BUSY_TIMEOUT_S,
    WRITE_OPTION,
    connect_error,
    create_engine,
    install_sqlite_listeners,
    is_sqlite_memory,
    translate,
)

T = TypeVar("T")
Work = Callable[[Connection], T]

#: Worker threads (and pooled connections) of a SQLite file database.
SQLITE_THREADS = 4


def _driver_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [SQLAlchemyError, OSError, sqlite3.Error]
    try:
        import asyncpg  # type: ignore[import-untyped]

        errors += [asyncpg.PostgresError, asyncpg.InterfaceError]
    except ImportError:  # pragma: no cover - asyncpg is a dependency, but only PG needs it
        pass
    return tuple(errors)


DRIVER_ERRORS = _driver_errors()


class Runner:
    """Runs operations on one database. ``url`` and ``shown`` (masked) name it in errors."""

    backend: str

    def __init__(self, url: URL, shown: str) -> None:
        self.url = url
        self.shown = shown
        self.closed = False

    @property
    def sync_engine(self) -> Engine:
        """The engine whose events see every statement (for diagnostics and tests)."""
        raise NotImplementedError

    async def read(self, action: str, work: Work[T]) -> T:
        """Run ``work`` on a connection (a read transaction, rolled back afterwards)."""
        return await self._guard(action, self._read(work))

    async def write(self, action: str, work: Work[T]) -> T:
        """Run ``work`` in one write transaction: committed if it returns, else rolled back."""
        return await self._guard(action, self._write(work))

    async def _read(self, work: Work[T]) -> T:
        raise NotImplementedError

    async def _write(self, work: Work[T]) -> T:
        raise NotImplementedError

    async def dispose(self) -> None:
        raise NotImplementedError

    async def _guard(self, action: str, running: Any) -> T:
        if self.closed:
            running.close()
            raise PersistenceError(
                f"the database {self.shown} is closed; create a new SQLDatabase to use it again"
            )
        try:
            return await running  # type: ignore[no-any-return]
        except CoachError:
            raise
        except DRIVER_ERRORS as e:
            raise translate(e, action) from e

    def connect_error(self, error: BaseException) -> PersistenceError:
        return connect_error(self.url, self.backend, error)


class AsyncRunner(Runner):
    """PostgreSQL through ``asyncpg``: the work runs on the event loop with ``run_sync``."""

    backend = "postgresql"

    def __init__(self, url: URL, shown: str) -> None:
        super().__init__(url, shown)
        self.engine: AsyncEngine = create_engine(url)
        self._writer = self.engine.execution_options(**{WRITE_OPTION: True})

    @property
    def sync_engine(self) -> Engine:
        return self.engine.sync_engine

    async def _open(self, engine: AsyncEngine) -> Any:
        conn = engine.connect()
        try:
            return await conn.start()
        except Exception as e:  # whatever the driver raises while connecting
            raise self.connect_error(e) from e

    async def _read(self, work: Work[T]) -> T:
        conn = await self._open(self.engine)
        try:
            return await conn.run_sync(work)  # type: ignore[no-any-return]
        finally:
            await conn.close()

    async def _write(self, work: Work[T]) -> T:
        conn = await self._open(self._writer)
        try:
            async with conn.begin():
                return await conn.run_sync(work)  # type: ignore[no-any-return]
        finally:
            await conn.close()

    async def dispose(self) -> None:
        self.closed = True
        await self.engine.dispose()


class ThreadRunner(Runner):
    """SQLite through ``pysqlite``: the work runs in a worker thread, one hand-off per call."""

    backend = "sqlite"

    def __init__(self, url: URL, shown: str) -> None:
        super().__init__(url, shown)
        sync_url = url.set(drivername="sqlite+pysqlite")
        if is_sqlite_memory(url):
            # One connection shared by one worker thread: each connection of an in-memory
            # database would see a database of its own.
            self._engine = create_sync_engine(
                sync_url, poolclass=pool.StaticPool, connect_args={"check_same_thread": False}
            )
            threads = 1
        else:
            self._engine = create_sync_engine(
                sync_url,
                pool_size=SQLITE_THREADS,
                max_overflow=SQLITE_THREADS,
                pool_timeout=SQLITE_BUSY_TIMEOUT_S * 3,
                connect_args={"check_same_thread": False},
            )
            threads = SQLITE_THREADS
        install_sqlite_listeners(self._engine, foreign_keys=True)
        self._writer = self._engine.execution_options(**{WRITE_OPTION: True})
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="coach-sqlite")

    @property
    def sync_engine(self) -> Engine:
        return self._engine

    def _connect(self, engine: Engine) -> Connection:
        try:
            return engine.connect()
        except Exception as e:  # whatever the driver raises while opening the file
            raise self.connect_error(e) from e

    def _read_in_thread(self, work: Work[T]) -> T:
        with self._connect(self._engine) as conn:
            return work(conn)

    def _write_in_thread(self, work: Work[T]) -> T:
        with self._connect(self._writer) as conn, conn.begin():
            return work(conn)

    async def _read(self, work: Work[T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._read_in_thread, work)

    async def _write(self, work: Work[T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._write_in_thread, work)

    async def dispose(self) -> None:
        if self.closed:
            return
        self.closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._engine.dispose)
        self._executor.shutdown(wait=False)


def create_runner(url: URL, shown: str) -> Runner:
    if url.get_backend_name() == "sqlite":
        return ThreadRunner(url, shown)
    return AsyncRunner(url, shown)
