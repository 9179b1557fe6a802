"""Engines for SQLite and PostgreSQL, and the translation of driver errors into ours.

SQLite (``pysqlite`` for the app, see ``runners``; ``aiosqlite`` for migrations): every
connection runs in WAL mode with a busy timeout, foreign keys on
and ``synchronous=NORMAL``. The driver's own transaction handling is switched off
(``isolation_level = None``) and a ``begin`` listener issues the ``BEGIN`` itself: ``BEGIN
IMMEDIATE`` for writes, so a read-then-write transaction takes the write lock up front and waits
(busy timeout) instead of failing with "database is locked" when it later writes; a plain
deferred ``BEGIN`` for reads, which in WAL mode never wait for writers.

PostgreSQL (``asyncpg``): a small pool with pre-ping, so connections dropped by a restart or a
proxy are replaced instead of failing the next query.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import event, pool
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from coach.errors import PersistenceError, SchemaOutdatedError
from coach.persistence.factory import mask_url

#: Execution option that makes the SQLite ``begin`` listener take the write lock at once.
WRITE_OPTION = "coach_write"
SQLITE_BUSY_TIMEOUT_S = 10
POSTGRES_CONNECT_TIMEOUT_S = 10
INIT_COMMAND = "python -m coach init-db"


def parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except Exception as e:  # ArgumentError, ValueError: anything make_url refuses
        raise ValueError(f"not a valid database URL: {mask_url(url)!r} ({e})") from e


def is_sqlite_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL, or ``None`` for an in-memory database or another backend."""
    if url.get_backend_name() != "sqlite" or is_sqlite_memory(url) or url.database is None:
        return None
    return Path(url.database)


def create_engine(url: URL, *, foreign_keys: bool = True, migrations: bool = False) -> AsyncEngine:
    """An async engine for ``url`` with this project's connection settings.

    Args:
        foreign_keys: SQLite only; migrations turn them off, as table rebuilds ("batch"
            migrations) would otherwise cascade deletes into child tables.
        migrations: an engine for one short job (no pool kept open).
    """
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, foreign_keys=foreign_keys, migrations=migrations)
    if migrations:
        return create_async_engine(url, poolclass=pool.NullPool, connect_args=_pg_connect_args())
    return create_async_engine(
        url,
        pool_size=5,
        max_overflow=10,
        pool_timeout=30,
        pool_recycle=1800,
        pool_pre_ping=True,
        connect_args=_pg_connect_args(),
    )


def _pg_connect_args() -> dict[str, Any]:
    return {
        "timeout": POSTGRES_CONNECT_TIMEOUT_S,
        "server_settings": {"application_name": "identity-coach"},
    }


def _sqlite_engine(url: URL, *, foreign_keys: bool, migrations: bool) -> AsyncEngine:
    # The app runs SQLite in worker threads (see ``runners``); an async SQLite engine serves
    # migrations and diagnostics.
    url = url.set(drivername="sqlite+aiosqlite")
    if is_sqlite_memory(url):
        # One shared connection, or every checkout would see its own empty database.
        engine = create_async_engine(url, poolclass=pool.StaticPool)
    elif migrations:
        engine = create_async_engine(url, poolclass=pool.NullPool)
    else:
        engine = create_async_engine(url, pool_size=5, max_overflow=5, pool_timeout=30)
    install_sqlite_listeners(engine.sync_engine, foreign_keys=foreign_keys)
    return engine


def install_sqlite_listeners(engine: Engine, *, foreign_keys: bool) -> None:
    """The connection settings and ``BEGIN`` handling of every SQLite engine (sync or async)."""
    pragmas = (
        "PRAGMA journal_mode=WAL",
        f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}",
        f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}",
        "PRAGMA synchronous=NORMAL",
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        # Straight to the driver: this runs before every transaction, and SQLAlchemy's
        # statement machinery would cost more than the BEGIN itself.
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        finally:
            cursor.close()


# -- error translation ---------------------------------------------------------------------------


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """``error``, the driver error it wraps, and their causes."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = current.orig if isinstance(current, DBAPIError) else None
        current = orig if isinstance(orig, BaseException) else current.__cause__


def sqlstate(error: BaseException) -> str | None:
    """PostgreSQL's SQLSTATE code of the error, when there is one."""
    for item in error_chain(error):
        code = getattr(item, "sqlstate", None) or getattr(item, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def driver_message(error: BaseException) -> str:
    """The driver's own message: short, without SQLAlchemy's SQL echo and links."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        text = str(error.orig)
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())[:500]


def violates(error: IntegrityError, constraint: str, sqlite_columns: str) -> bool:
    """Whether ``error`` is a violation of the named constraint (PostgreSQL reports the name;
    SQLite reports the columns)."""
    for item in error_chain(error):
        name = getattr(item, "constraint_name", None)
        if isinstance(name, str):
            return name == constraint
    return sqlite_columns in driver_message(error)


def connect_error(url: URL, backend: str, error: BaseException) -> PersistenceError:
    """An error raised while opening a connection, with what to check."""
    shown = mask_url(url.render_as_string(hide_password=False))
    detail = driver_message(error)
    if backend == "sqlite":
        return PersistenceError(
            f"cannot open the SQLite database {url.database!r}: {detail}. "
            "Check that the path is right and its folder is writable."
        )
    code = sqlstate(error)
    if code == "3D000":
        return PersistenceError(
            f"cannot connect to {shown}: the database {url.database!r} does not exist. "
            f"Create it (createdb {url.database}) or fix the database name in the URL."
        )
    if code in ("28P01", "28000"):
        return PersistenceError(
            f"cannot connect to {shown}: the server refused the login ({detail}). "
            "Check the user name and password in the URL."
        )
    return PersistenceError(
        f"cannot connect to {shown}: {detail}. Is the server running, and are the host and "
        "port in the URL right?"
    )


def translate(error: BaseException, action: str) -> PersistenceError:
    """Our error for a failed database statement. ``action`` says what was being done."""
    detail = driver_message(error)
    code = sqlstate(error)
    lowered = detail.lower()
    if code in ("42P01", "42703") or "no such table" in lowered or "no such column" in lowered:
        return SchemaOutdatedError(
            f"{action} failed: the database schema is missing or outdated ({detail}). "
            f"Run `{INIT_COMMAND}` to create or upgrade it."
        )
    if "database is locked" in lowered or "database is busy" in lowered:
        return PersistenceError(
            f"{action} failed: the SQLite database stayed locked by another writer for more "
            f"than {SQLITE_BUSY_TIMEOUT_S} s. Try again; if it keeps happening, look for a "
            "process holding a long write transaction."
        )
    if "readonly database" in lowered or "read-only" in lowered:
        return PersistenceError(
            f"{action} failed: the database is read-only ({detail}). Check the file's permissions."
        )
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return PersistenceError(
            f"{action} failed: the connection to the database was lost ({detail}). Try again."
        )
    return PersistenceError(f"{action} failed: {detail}")
