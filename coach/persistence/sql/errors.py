"""Driver and SQLAlchemy errors translated into ours, with what to check or run."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from coach.errors import PersistenceError, SchemaOutdatedError
from coach.persistence.urls import mask_url

SQLITE_BUSY_TIMEOUT_S = 10
#: The command that creates or upgrades a database's schema, named in errors.
INIT_COMMAND = "python -m coach init-db"

#: What a database call may raise besides our own errors: translated by ``translate``.
DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    SQLAlchemyError,
    OSError,
    sqlite3.Error,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


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


def violates(error: BaseException, constraint: str, sqlite_columns: str) -> bool:
    """Whether ``error`` is a violation of the named constraint (PostgreSQL reports the name;
    SQLite reports the columns)."""
    for item in error_chain(error):
        name = getattr(item, "constraint_name", None)
        if isinstance(name, str):
            return name == constraint
    return sqlite_columns in driver_message(error)


def connect_error(url: URL, error: BaseException) -> PersistenceError:
    """An error raised while opening a connection, with what to check."""
    shown = mask_url(url.render_as_string(hide_password=False))
    detail = driver_message(error)
    if url.get_backend_name() == "sqlite":
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
