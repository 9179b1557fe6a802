"""Alembic, driven from code: upgrade a database to the latest revision, or read where it is.

The migration scripts live in ``migrations/`` beside this module. ``SQLDatabase.initialize()``
runs them on a connection it opens itself (the "connection sharing" recipe: the connection is
handed to ``env.py`` through ``Config.attributes``), so no ``alembic.ini`` is needed. The
command line works too::

    alembic -c coach/persistence/sql/migrations/alembic.ini \\
        -x url=sqlite:///data/coach.db upgrade head

The whole upgrade runs in one transaction. On PostgreSQL it first takes an advisory lock, so
several app processes starting at once migrate one after the other (the later ones find the
schema at head); on SQLite the write transaction (``BEGIN IMMEDIATE``) does the same.
"""

from __future__ import annotations

import asyncio
from functools import cache
from pathlib import Path
from weakref import WeakKeyDictionary

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import URL, Connection

from coach.errors import CoachError, PersistenceError, SchemaMissingError, SchemaOutdatedError
from coach.persistence.sql.engine import Engines, sqlite_path
from coach.persistence.sql.errors import DRIVER_ERRORS, INIT_COMMAND, translate
from coach.persistence.sql.tables import Base

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: Key of the PostgreSQL advisory lock held while migrating (any constant bigint).
MIGRATION_LOCK_KEY = 0x1D_C0AC


_LOCKS: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = WeakKeyDictionary()


def process_lock() -> asyncio.Lock:
    """A lock for running Alembic in this event loop.

    Alembic keeps its running migration context in module globals (``alembic.context``,
    ``alembic.op``), so two upgrades interleaving in one process (two databases initialized
    at once) would corrupt each other. The database lock serializes processes; this serializes
    the coroutines of one process.
    """
    loop = asyncio.get_running_loop()
    lock = _LOCKS.get(loop)
    if lock is None:
        lock = _LOCKS[loop] = asyncio.Lock()
    return lock


def lock_database(connection: Connection) -> None:
    """Hold PostgreSQL's migration advisory lock until the transaction ends."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for this project's migrations, without any ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revisions() -> tuple[str, ...]:
    """The revisions a database at the latest schema is at."""
    return tuple(script_directory().get_heads())


def known_revision(revision: str) -> bool:
    try:
        return script_directory().get_revision(revision) is not None
    except Exception:  # alembic raises several kinds for an unknown revision
        return False


def current_revisions(connection: Connection) -> tuple[str, ...]:
    """The revisions the database is at; empty when it has never been migrated."""
    return tuple(MigrationContext.configure(connection).get_current_heads())


def upgrade(connection: Connection) -> None:
    """Upgrade the database behind ``connection`` (in a transaction) to the latest revision."""
    command.upgrade(alembic_config(connection), "head")


def run_migrations(connection: Connection) -> None:
    """Run the pending migrations on ``connection``; called from ``env.py``.

    ``connection`` is already in a transaction, which Alembic joins: every step and the version
    stamp commit together.
    """
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        lock_database(connection)
        context.run_migrations()


def migrate_in_transaction(connection: Connection) -> None:
    """Lock, then upgrade (``connection`` is in its write transaction)."""
    lock_database(connection)
    upgrade(connection)


async def upgrade_database(url: URL, shown: str) -> None:
    """Bring the database at ``url`` (``shown``: masked) to the latest revision, on a
    short-lived engine of its own (see ``SQLDatabase.initialize``)."""
    path = sqlite_path(url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise PersistenceError(
                f"cannot create the folder {str(path.parent)!r} for the SQLite database: "
                f"{e}. Choose a writable path."
            ) from e
    engines = Engines(url, foreign_keys=False, migrations=True)
    try:
        async with process_lock():
            # SQLite: BEGIN IMMEDIATE takes the file's write lock for the whole upgrade.
            await engines.run(migrate_in_transaction, write=True)
    except CommandError as e:
        raise SchemaOutdatedError(
            f"cannot migrate the database {shown}: {e}. It was probably created by a "
            "newer version of this app; upgrade the app or use another database."
        ) from e
    except CoachError:
        raise
    except DRIVER_ERRORS as e:
        raise translate(e, "migrating the database schema") from e
    finally:
        await engines.dispose()


def schema_problem(current: tuple[str, ...], shown: str) -> SchemaOutdatedError | None:
    """What is wrong with a database at revisions ``current``, or ``None`` if it is at head."""
    heads = head_revisions()
    if set(current) == set(heads):
        return None
    if not current:
        return SchemaMissingError(
            f"the database {shown} has no coach schema yet. Run `{INIT_COMMAND}` to create it."
        )
    unknown = [rev for rev in current if not known_revision(rev)]
    if unknown:
        return SchemaOutdatedError(
            f"the database {shown} is at schema revision {', '.join(unknown)}, newer than this "
            f"app knows (latest {', '.join(heads)}). Upgrade the app."
        )
    return SchemaOutdatedError(
        f"the database {shown} is at schema revision {', '.join(current)} but this app needs "
        f"{', '.join(heads)}. Run `{INIT_COMMAND}` to upgrade it."
    )
