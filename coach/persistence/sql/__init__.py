"""The SQL backend of ``DatabaseInterface``: SQLite or PostgreSQL through SQLAlchemy 2.

- ``tables``: the schema as ORM declarations (``DeclarativeBase``/``Mapped``); denormalized so
  the inspector's lists read one indexed table and a turn appends rows instead of rewriting.
- ``migrations/``: Alembic revisions; ``SQLDatabase.initialize()`` brings a database to head,
  ``SQLDatabase.check_schema()`` says what to run when it is behind.
- ``writes``: the write steps (Core statements on one connection, native upserts);
  ``queries``: keyset-paged lists with index-friendly prefix search.
- ``execute``: how the hot path's statements run (Core; on SQLite the Core-compiled statement
  on the driver's cursor).
- ``runners``: where an operation's SQL runs (asyncpg on the event loop; SQLite in a worker
  thread, one hand-off per operation, small reads on the caller's thread); ``engine``:
  connection settings and error translation.
"""

from coach.persistence.sql.backend import SQLDatabase

__all__ = ["SQLDatabase"]
