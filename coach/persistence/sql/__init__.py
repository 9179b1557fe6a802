"""The SQL backend of ``DatabaseInterface``: SQLite or PostgreSQL through SQLAlchemy 2.

- ``tables``: the schema as ORM declarations (``DeclarativeBase``/``Mapped``); denormalized so
  the inspector's lists read one indexed table and a turn appends rows instead of rewriting.
- ``migrations/``: Alembic revisions; ``SQLDatabase.initialize()`` brings a database to head,
  ``SQLDatabase.check_schema()`` says what to run when it is behind (``migrate``).
- ``writes``: ``commit_turn``: read what the shared rules need, check, then write with Core
  statements built once (``statements``); ``reads`` and ``queries``: lookups and the
  keyset-paged lists with index-friendly prefix search.
- ``engine``: where an operation runs, the stock way per dialect (SQLite in a worker thread
  of the database's executor, PostgreSQL on ``asyncpg`` with ``run_sync``); ``errors``: driver
  errors translated into ours.
"""

from coach.persistence.sql.backend import SQLDatabase

__all__ = ["SQLDatabase"]
