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
  For the same reason a small read by key (a session's state, a user's identities, a turn's
  context window) runs on the caller's thread, without waiting for any lock (see
  ``ThreadRunner``).

Both translate driver errors into ``PersistenceError`` (connection failures with what to check).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine, pool
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
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

    async def read(
        self, action: str, work: Work[T], *, small: bool = False, one_statement: bool = False
    ) -> T:
        """Run ``work`` on a connection, in a read transaction rolled back afterwards.

        Args:
            small: a read of a few rows by key, which the caller's thread may run itself
                (``ThreadRunner``); never for a read whose size grows with the data.
            one_statement: ``work`` runs a single statement, which sees one consistent state
                of the database by itself; SQLite then runs it without ``BEGIN``/``ROLLBACK``
                (in autocommit mode, when it goes to the driver directly: see ``execute``).
        """
        return await self._guard(action, self._read(work, small, not one_statement))

    async def write(self, action: str, work: Work[T]) -> T:
        """Run ``work`` in one write transaction: committed if it returns, else rolled back."""
        return await self._guard(action, self._write(work))

    async def _read(self, work: Work[T], small: bool, snapshot: bool) -> T:
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

    async def _read(self, work: Work[T], small: bool, snapshot: bool) -> T:
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
    """SQLite through ``pysqlite``: the work runs in a worker thread, one hand-off per call.

    - Each worker thread keeps one connection open for its lifetime: an operation pays
      neither a pool checkout nor the pool's reset-on-return.
    - A job goes to the worker that became idle last (a stack), and a worker is started only
      when all are busy. One caller at a time thus always meets the same thread and
      connection, whose page cache is still valid (SQLite drops a connection's whole cache
      when another connection has written since): a benchmark turn measured 0.4-0.5 ms less
      than with jobs spread over four connections. Concurrent callers still get up to
      ``SQLITE_THREADS`` workers, so a slow read does not hold up a turn's commit.
    - Results come back with ``call_soon_threadsafe``: half the cost of ``run_in_executor``
      (which chains a ``concurrent.futures.Future`` to an asyncio one), measured here.
    - A ``small`` read runs on the caller's thread (the event loop's), on the connection of
      the idle worker that would have run it: a hand-off to a thread and back cost 0.1-0.2 ms
      here, more than the read itself (a state 0.1 ms, five identities 0.2 ms, a 60-message
      window 0.7 ms). It never waits: in WAL mode a reader is not blocked by writers, and in
      the rare cases it would be (a crashed writer's recovery, a connection in exclusive
      locking mode) the busy timeout is 0 while it runs, so it fails at once and goes to a
      worker, which waits as usual. Reads whose size grows with the data (lists, whole
      conversations, counts) always go to a worker.
    """

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
            self._max_workers = 1
        else:
            # One pooled connection per worker thread, plus room for diagnostics (tests and
            # benchmarks use ``sync_engine`` directly).
            self._engine = create_sync_engine(
                sync_url,
                pool_size=SQLITE_THREADS,
                max_overflow=SQLITE_THREADS,
                pool_timeout=SQLITE_BUSY_TIMEOUT_S * 3,
                connect_args={"check_same_thread": False},
            )
            self._max_workers = SQLITE_THREADS
        install_sqlite_listeners(self._engine, foreign_keys=True)
        self._lock = threading.Lock()  # guards the three below
        self._workers: list[_Worker] = []
        self._idle: list[_Worker] = []  # the last one became idle last
        self._waiting: deque[_Job] = deque()  # jobs that found every worker busy

    @property
    def sync_engine(self) -> Engine:
        return self._engine

    async def _read(self, work: Work[T], small: bool, snapshot: bool) -> T:
        if small:
            worker = self._borrow()
            if worker is not None:
                try:
                    return self._read_here(worker, work, snapshot)
                except _Busy:
                    pass  # the worker waits for the lock instead (busy timeout)
                finally:
                    self._give_back(worker)
        return await self._submit(work, write=False, snapshot=snapshot)

    def _borrow(self) -> _Worker | None:
        """Take the idle worker that would run the next job, if it has a connection."""
        with self._lock:
            if self._idle and self._idle[-1].conn is not None:
                return self._idle.pop()
        return None

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            if not self._waiting:
                self._idle.append(worker)
                return
            job = self._waiting.popleft()
        worker.jobs.put(job)

    def _read_here(self, worker: _Worker, work: Work[T], snapshot: bool) -> T:
        """Run a small read on this (the event loop's) thread, on ``worker``'s connection,
        never waiting for a lock: SQLite's busy timeout is 0 meanwhile, and a locked database
        raises ``_Busy`` at once (the caller then hands the read to a worker, which waits)."""
        conn = worker.conn
        assert conn is not None
        if worker.write_mode:
            conn.execution_options(**{WRITE_OPTION: False})
            worker.write_mode = False
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.execute("PRAGMA busy_timeout = 0")
        try:
            return _run_job(conn, work, write=False, snapshot=snapshot)
        except DRIVER_ERRORS as e:
            worker.drop_broken_connection()
            if _is_busy(e):
                raise _Busy from e
            raise
        finally:
            if worker.conn is not None:
                try:
                    driver.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
                except sqlite3.Error:  # it would keep the zero timeout: use a new one
                    worker.drop_connection()

    async def _write(self, work: Work[T]) -> T:
        return await self._submit(work, write=True, snapshot=True)

    def _submit(self, work: Work[T], *, write: bool, snapshot: bool) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        job = _Job(loop, future, work, write, snapshot)
        with self._lock:
            if self._idle:
                worker = self._idle.pop()
            elif len(self._workers) < self._max_workers:
                worker = _Worker(len(self._workers))
                self._workers.append(worker)
                threading.Thread(
                    target=self._serve, args=(worker,), name=worker.name, daemon=True
                ).start()
            else:
                self._waiting.append(job)
                return future
        worker.jobs.put(job)
        return future

    def _next_job(self, worker: _Worker) -> _Job | None:
        """A waiting job, or else (once idle) the next job handed to ``worker``; ``None``
        tells it to stop."""
        with self._lock:
            if self._waiting:
                return self._waiting.popleft()
            self._idle.append(worker)
        return worker.jobs.get()

    def _serve(self, worker: _Worker) -> None:
        """A worker thread: run jobs on the worker's connection until told to stop."""
        job = worker.jobs.get()
        try:
            while job is not None:
                try:
                    if worker.conn is None:
                        worker.conn, worker.write_mode = self._connect(), False
                    if job.write != worker.write_mode:
                        # Tells the ``begin`` listener which BEGIN to issue (see ``engine``).
                        worker.conn.execution_options(**{WRITE_OPTION: job.write})
                        worker.write_mode = job.write
                    result = _run_job(worker.conn, job.work, write=job.write, snapshot=job.snapshot)
                except BaseException as e:  # handed to the awaiting coroutine
                    worker.drop_broken_connection()
                    _settle(job.loop, job.future, None, e)
                else:
                    _settle(job.loop, job.future, result, None)
                job = self._next_job(worker)
        finally:
            worker.drop_connection()
            worker.thread_done.set()

    def _connect(self) -> Connection:
        try:
            return self._engine.connect()
        except Exception as e:  # whatever the driver raises while opening the file
            raise self.connect_error(e) from e

    async def dispose(self) -> None:
        if self.closed:
            return
        self.closed = True
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.jobs.put(None)  # taken once the worker is idle: queued jobs still run
        loop = asyncio.get_running_loop()
        stopped: asyncio.Future[None] = loop.create_future()

        def stop() -> None:
            try:
                for worker in workers:
                    worker.thread_done.wait()
                self._engine.dispose()
            finally:
                _settle(loop, stopped, None, None)

        # Waited for in a thread of its own: the loop may be shutting down its default executor.
        threading.Thread(target=stop, name="coach-sqlite-stop").start()
        await stopped


class _Worker:
    """A worker thread's mailbox."""

    def __init__(self, number: int) -> None:
        self.name = f"coach-sqlite-{number}"
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.thread_done = threading.Event()
        #: The worker's own connection (opened on its first job); only used by whoever holds
        #: the worker: its thread while running a job, or a borrower of the idle worker.
        self.conn: Connection | None = None
        self.write_mode = False

    def drop_broken_connection(self) -> None:
        """After a failure: close the connection if it is unusable or left in a transaction."""
        conn = self.conn
        if conn is not None and (conn.invalidated or conn.in_transaction()):
            self.drop_connection()

    def drop_connection(self) -> None:
        """Close the connection; the worker's next job opens a new one."""
        if self.conn is not None:
            _close_quietly(self.conn)
            self.conn = None


class _Busy(Exception):
    """A small read on the loop's thread found the database locked."""


def _is_busy(error: BaseException) -> bool:
    """Whether ``error`` is SQLite's "database is locked" (``SQLITE_BUSY``)."""
    orig = error.orig if isinstance(error, DBAPIError) else error
    return isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig).lower()


@dataclass(frozen=True, slots=True)
class _Job:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    work: Work[Any]
    write: bool
    #: A read that needs one transaction around its statements.
    snapshot: bool


def _run_job(conn: Connection, work: Work[T], *, write: bool, snapshot: bool) -> T:
    """Run ``work`` on ``conn``: in a write transaction (committed if the work returns), or
    in a read transaction that is always rolled back.

    A read transaction is begun explicitly for a ``snapshot`` read: statements sent to the
    driver directly (``execute.DriverExecutor``) do not begin one by themselves as Core's do.
    """
    if write:
        with conn.begin():
            return work(conn)
    try:
        if snapshot:
            conn.begin()
        return work(conn)
    finally:
        conn.rollback()  # ends the read transaction, if one was begun


def _settle(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any,
    error: BaseException | None,
) -> None:
    """Hand an outcome to ``future`` on its event loop (from another thread)."""

    def settle() -> None:
        if future.done():  # the caller was cancelled meanwhile
            return
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)

    with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for the outcome
        loop.call_soon_threadsafe(settle)


def _close_quietly(conn: Connection) -> None:
    with contextlib.suppress(Exception):  # a broken connection may fail to close: dropped
        conn.close()


def create_runner(url: URL, shown: str) -> Runner:
    if url.get_backend_name() == "sqlite":
        return ThreadRunner(url, shown)
    return AsyncRunner(url, shown)
