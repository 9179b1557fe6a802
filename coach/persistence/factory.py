"""Build a ``DatabaseInterface`` from a type and a connection string, or from one URL.

Example::

    db = create_database(DatabaseType.MEMORY)
    db = create_database(DatabaseType.SQL, connection_string="sqlite:///data/coach.db")
    db = create_database_from_url("postgresql+asyncpg://postgres@127.0.0.1/coach")
    await db.initialize()
"""

from __future__ import annotations

from enum import StrEnum

from coach.persistence.base import DatabaseInterface
from coach.persistence.memory import InMemoryDatabase
from coach.persistence.sql import SQLDatabase

MEMORY_URL = "memory://"


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
        return InMemoryDatabase()
    if not connection_string:
        raise ValueError(
            "DatabaseType.SQL needs a connection_string, for example "
            "'sqlite:///data/coach.db' or 'postgresql+asyncpg://user@host/dbname'"
        )
    return SQLDatabase(connection_string)


def create_database_from_url(url: str) -> DatabaseInterface:
    """Create a database from one URL: ``memory://`` or an SQL connection string."""
    if url == MEMORY_URL:
        return create_database(DatabaseType.MEMORY)
    return create_database(DatabaseType.SQL, connection_string=url)
