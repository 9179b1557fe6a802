"""Build a ``DatabaseInterface`` from a type and a connection string, or from one URL.

Example::

    db = create_database(DatabaseType.MEMORY)
    db = create_database(DatabaseType.SQL, connection_string="sqlite+aiosqlite:///data/coach.db")
    db = create_database_from_url("postgresql+asyncpg://postgres@127.0.0.1/coach")
    await initialize_database(db)
"""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit

from coach.persistence.base import DatabaseInterface

MEMORY_URL = "memory://"
SQL_URL_PREFIXES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


class DatabaseType(StrEnum):
    MEMORY = "memory"
    SQL = "sql"


def create_database(
    db_type: DatabaseType | str, *, connection_string: str | None = None
) -> DatabaseInterface:
    """Create (but do not initialize) a database of the given type.

    Raises:
        ValueError: an unknown type, a missing connection string for ``SQL``, or a connection
            string with an unsupported driver.
    """
    try:
        kind = DatabaseType(db_type)
    except ValueError:
        choices = ", ".join(t.name for t in DatabaseType)
        raise ValueError(f"unknown database type {db_type!r}; use one of: {choices}") from None
    if kind is DatabaseType.MEMORY:
        from coach.persistence.memory import InMemoryDatabase

        return InMemoryDatabase()
    if not connection_string:
        raise ValueError(
            "DatabaseType.SQL needs a connection_string, for example "
            "'sqlite+aiosqlite:///data/coach.db' or 'postgresql+asyncpg://user@host/dbname'"
        )
    if not connection_string.startswith(SQL_URL_PREFIXES):
        raise ValueError(
            f"unsupported connection string {mask_url(connection_string)!r}; it must start with "
            + " or ".join(repr(p) for p in SQL_URL_PREFIXES)
        )
    from coach.persistence.sql import SQLDatabase

    return SQLDatabase(connection_string)


def create_database_from_url(url: str) -> DatabaseInterface:
    """Create a database from one URL: ``memory://`` or an SQL connection string."""
    if url == MEMORY_URL:
        return create_database(DatabaseType.MEMORY)
    return create_database(DatabaseType.SQL, connection_string=url)


async def initialize_database(db: DatabaseInterface) -> DatabaseInterface:
    """Initialize ``db`` (create or migrate its schema) and return it."""
    await db.initialize()
    return db


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***``, safe to show and log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
