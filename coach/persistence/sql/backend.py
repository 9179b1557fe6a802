"""``SQLDatabase``: the ``DatabaseInterface`` on SQLite or PostgreSQL with SQLAlchemy 2.

Each public method is one unit of work: a plain function of a ``Connection`` that a runner
(``runners.py``) executes in one read transaction, or in one write transaction (``BEGIN
IMMEDIATE`` on SQLite) that commits everything or nothing. Driver and SQLAlchemy errors never
escape: they become ``PersistenceError`` (or a subclass) chained with ``from``, with a message
that says what failed and how to fix it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from coach.enums import CoachingState
from coach.errors import PersistenceError, SchemaMissingError
from coach.persistence.base import (
    DEFAULT_PAGE_SIZE,
    DatabaseInterface,
    apply_identity_changes,
    check_page_size,
    merged_user_data,
)
from coach.persistence.factory import mask_url
from coach.persistence.records import (
    CommitResult,
    ContextRecord,
    IdentityRecord,
    MessageRecord,
    Page,
    SessionSummary,
    StateRecord,
    TurnCommit,
    TurnRecord,
    UserRecord,
    UserSummary,
    utcnow,
)
from coach.persistence.sql import migrate, queries, reads
from coach.persistence.sql.convert import identity_from_row, user_from_row
from coach.persistence.sql.engine import INIT_COMMAND, parse_url, sqlite_path
from coach.persistence.sql.runners import AsyncRunner, create_runner
from coach.persistence.sql.tables import contexts, identities, sessions, states, users
from coach.persistence.sql.writes import MessageIdConflict, Writer, check_commit, duplicate_turn

#: A context read of at most this many messages is a small read (see ``Runner.read``): the
#: engine's window (``coach.context.MESSAGE_WINDOW``), read in about 0.7 ms on the 2-core
#: machine under load (20 messages: 0.4 ms).
SMALL_MESSAGE_WINDOW = 60


class SQLDatabase(DatabaseInterface):
    """The SQL backend. ``connection_string`` is ``sqlite+aiosqlite:///path.db`` or
    ``postgresql+asyncpg://user:password@host:port/dbname``.

    Creating the object opens nothing; ``initialize()`` creates or migrates the schema.
    """

    def __init__(self, connection_string: str) -> None:
        self._url = parse_url(connection_string)
        backend = self._url.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(
                f"unsupported database {mask_url(connection_string)!r}: use "
                "'sqlite+aiosqlite:///path.db' or 'postgresql+asyncpg://user@host/dbname'"
            )
        self.backend_name = backend
        self._shown = mask_url(connection_string)
        self._run = create_runner(self._url, self._shown)

    def __repr__(self) -> str:
        return f"SQLDatabase({self._shown!r})"

    @property
    def url(self) -> str:
        """The connection string with its password masked, safe to show."""
        return self._shown

    @property
    def sync_engine(self) -> Engine:
        """The engine every statement goes through, for event listeners (diagnostics, tests,
        benchmarks); SQLite's hot path reaches ``before_cursor_execute`` and
        ``after_cursor_execute`` listeners with ``context=None`` (see ``execute``). Do not
        write with it."""
        return self._run.sync_engine

    @property
    def engine(self) -> AsyncEngine:
        """The async engine of a PostgreSQL database (SQLite runs on ``sync_engine``)."""
        if not isinstance(self._run, AsyncRunner):
            raise TypeError("a SQLite SQLDatabase has no async engine; use sync_engine")
        return self._run.engine

    def _writer(self, conn: Connection) -> Writer:
        return Writer(conn, self.backend_name, utcnow())

    # -- lifecycle -------------------------------------------------------------------------------

    async def initialize(self) -> None:
        """Create the schema, or migrate it to the latest revision (Alembic). Idempotent.

        Runs on a short-lived engine of its own (Alembic's async pattern: ``NullPool`` and
        ``run_sync``), with SQLite's foreign keys off while tables are rebuilt. Creates the
        folder of a SQLite file if needed.
        """
        await migrate.upgrade_database(self._run)

    async def check_schema(self) -> None:
        """Check that the database is at the latest schema revision; change nothing.

        Raises:
            SchemaOutdatedError: the schema is missing, older or newer than this code; the
                message says what to run.
            PersistenceError: the database cannot be reached.
        """
        path = sqlite_path(self._url)
        if path is not None and not path.exists():
            raise SchemaMissingError(
                f"the SQLite database {str(path)!r} does not exist yet. "
                f"Run `{INIT_COMMAND}` to create it."
            )
        current = await self._run.read("checking the database schema", migrate.current_revisions)
        problem = migrate.schema_problem(current, self._shown)
        if problem is not None:
            raise problem

    async def close(self) -> None:
        await self._run.dispose()

    async def count_records(self) -> dict[str, int]:
        return await self._run.read("counting records", reads.count_records)

    # -- users -----------------------------------------------------------------------------------

    async def get_user(self, user_id: str) -> UserRecord | None:
        return await self._run.read(
            f"loading user {user_id!r}",
            partial(reads.get_user, user_id=user_id),
            small=True,
            one_statement=True,
        )

    async def save_user(self, user: UserRecord) -> UserRecord:
        def work(conn: Connection) -> UserRecord:
            w = self._writer(conn)
            created = w.upsert_user(user)
            return user.model_copy(update={"created_at": created, "updated_at": w.now}, deep=True)

        return await self._run.write(f"saving user {user.id!r}", work)

    async def update_user_data(self, user_id: str, data: Mapping[str, Any]) -> UserRecord | None:
        def work(conn: Connection) -> UserRecord | None:
            w = self._writer(conn)
            row = conn.execute(reads.select_user(user_id).with_for_update()).mappings().first()
            if row is None:
                return None
            current = user_from_row(row)
            changed = UserRecord(
                id=user_id,
                data=merged_user_data(current.data, data),
                created_at=current.created_at,
                updated_at=w.now,
            )
            w.upsert_user(changed)
            return changed

        return await self._run.write(f"updating user {user_id!r}", work)

    async def list_users(
        self,
        *,
        search: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[UserSummary]:
        check_page_size(limit)
        return await self._run.read(
            "listing users", partial(queries.list_users, search=search, limit=limit, cursor=cursor)
        )

    async def delete_user(self, user_id: str) -> bool:
        def work(conn: Connection) -> bool:
            return conn.execute(delete(users).where(users.c.id == user_id)).rowcount > 0

        return await self._run.write(f"deleting user {user_id!r}", work)

    # -- sessions --------------------------------------------------------------------------------

    async def get_sessions_for_user(self, user_id: str) -> list[str]:
        return await self._run.read(
            f"listing the sessions of user {user_id!r}",
            partial(reads.get_sessions_for_user, user_id=user_id),
        )

    async def get_user_id_for_session(self, session_id: str) -> str | None:
        return await self._run.read(
            f"loading session {session_id!r}",
            partial(reads.get_user_id_for_session, session_id=session_id),
        )

    async def get_session(self, session_id: str) -> SessionSummary | None:
        return await self._run.read(
            f"loading session {session_id!r}", partial(reads.get_session, session_id=session_id)
        )

    async def list_sessions(
        self,
        *,
        user_id: str | None = None,
        state: CoachingState | None = None,
        active_after: datetime | None = None,
        active_before: datetime | None = None,
        search: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[SessionSummary]:
        check_page_size(limit)
        work = partial(
            queries.list_sessions,
            user_id=user_id,
            state=state,
            active_after=active_after,
            active_before=active_before,
            search=search,
            limit=limit,
            cursor=cursor,
        )
        return await self._run.read("listing sessions", work)

    async def delete_session(self, session_id: str) -> bool:
        def work(conn: Connection) -> bool:
            return conn.execute(delete(sessions).where(sessions.c.id == session_id)).rowcount > 0

        return await self._run.write(f"deleting session {session_id!r}", work)

    # -- state -----------------------------------------------------------------------------------

    async def get_state(self, user_id: str, session_id: str) -> StateRecord | None:
        return await self._run.read(
            f"loading the state of session {session_id!r}",
            partial(reads.get_state, user_id=user_id, session_id=session_id),
            small=True,
            one_statement=True,
        )

    async def save_state(self, state: StateRecord) -> StateRecord:
        def work(conn: Connection) -> StateRecord:
            w = self._writer(conn)
            w.touch_session(state.user_id, state.session_id, state=state.state.value)
            w.upsert_state(state)
            return state.model_copy(deep=True)

        return await self._run.write(f"saving the state of session {state.session_id!r}", work)

    async def delete_state(self, user_id: str, session_id: str) -> bool:
        def work(conn: Connection) -> bool:
            lock_session(conn, session_id)
            result = conn.execute(
                delete(states).where(states.c.session_id == session_id, states.c.user_id == user_id)
            )
            if result.rowcount == 0:
                return False
            conn.execute(update(sessions).where(sessions.c.id == session_id).values(state=None))
            return True

        return await self._run.write(f"deleting the state of session {session_id!r}", work)

    # -- context ---------------------------------------------------------------------------------

    async def get_context(
        self, user_id: str, session_id: str, *, message_limit: int | None = None
    ) -> ContextRecord | None:
        if message_limit is not None and message_limit < 0:
            raise ValueError(f"message_limit must be 0 or more, got {message_limit}")
        return await self._run.read(
            f"loading the context of session {session_id!r}",
            partial(
                reads.get_context,
                user_id=user_id,
                session_id=session_id,
                message_limit=message_limit,
            ),
            small=message_limit is not None and message_limit <= SMALL_MESSAGE_WINDOW,
        )

    async def save_context(self, context: ContextRecord) -> ContextRecord:
        def work(conn: Connection) -> ContextRecord:
            w = self._writer(conn)
            w.touch_session(
                context.user_id, context.session_id, message_count=context.total_messages
            )
            version, created = w.write_context(context)
            return context.model_copy(
                update={"version": version, "created_at": created, "updated_at": w.now},
                deep=True,
            )

        try:
            return await self._run.write(
                f"saving the context of session {context.session_id!r}", work
            )
        except MessageIdConflict as e:
            raise await self._message_conflict(e, None) from e.__cause__

    async def delete_context(self, user_id: str, session_id: str) -> bool:
        def work(conn: Connection) -> bool:
            lock_session(conn, session_id)
            result = conn.execute(
                delete(contexts).where(
                    contexts.c.session_id == session_id, contexts.c.user_id == user_id
                )
            )
            if result.rowcount == 0:
                return False
            conn.execute(
                update(sessions).where(sessions.c.id == session_id).values(message_count=0)
            )
            return True

        return await self._run.write(f"deleting the context of session {session_id!r}", work)

    async def list_messages(
        self, session_id: str, *, start: int = 0, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[MessageRecord]:
        if start < 0 or limit < 0:
            raise ValueError(f"start and limit must be 0 or more, got {start} and {limit}")
        return await self._run.read(
            f"loading the messages of session {session_id!r}",
            partial(reads.messages_between, session_id=session_id, start=start, stop=start + limit),
        )

    async def _message_conflict(
        self, error: MessageIdConflict, turn: TurnRecord | None
    ) -> PersistenceError:
        """Tell which new message ids were already stored, after the transaction rolled back."""
        stored = await self._run.read(
            "checking message ids", partial(reads.stored_message_ids, message_ids=error.message_ids)
        )
        if turn is not None and turn.user_message_id in stored:
            return duplicate_turn(turn.session_id, turn.user_message_id)
        if stored:
            return PersistenceError(
                f"{error} (already stored: {', '.join(sorted(stored))}); give new messages new ids"
            )
        return error

    # -- identities ------------------------------------------------------------------------------

    async def get_identities(
        self, user_id: str, *, session_id: str | None = None
    ) -> list[IdentityRecord]:
        return await self._run.read(
            f"loading the identities of user {user_id!r}",
            partial(reads.get_identities, user_id=user_id, session_id=session_id),
            small=True,
            one_statement=True,
        )

    async def get_identity(self, identity_id: str) -> IdentityRecord | None:
        return await self._run.read(
            f"loading identity {identity_id!r}",
            partial(reads.get_identity, identity_id=identity_id),
        )

    async def save_identity(self, identity: IdentityRecord) -> IdentityRecord:
        def work(conn: Connection) -> IdentityRecord:
            w = self._writer(conn)
            created = w.upsert_identity(identity)
            return identity.model_copy(
                update={"created_at": created, "updated_at": w.now}, deep=True
            )

        return await self._run.write(f"saving identity {identity.id!r}", work)

    async def update_identity(
        self, identity_id: str, changes: Mapping[str, Any]
    ) -> IdentityRecord | None:
        query = select(identities).where(identities.c.id == identity_id).with_for_update()

        def work(conn: Connection) -> IdentityRecord | None:
            w = self._writer(conn)
            row = conn.execute(query).mappings().first()
            if row is None:
                return None
            changed = apply_identity_changes(identity_from_row(row), changes)
            changed = changed.model_copy(update={"updated_at": w.now})
            w.upsert_identity(changed)
            return changed

        return await self._run.write(f"updating identity {identity_id!r}", work)

    async def delete_identity(self, identity_id: str) -> bool:
        def work(conn: Connection) -> bool:
            result = conn.execute(delete(identities).where(identities.c.id == identity_id))
            return result.rowcount > 0

        return await self._run.write(f"deleting identity {identity_id!r}", work)

    # -- turns -----------------------------------------------------------------------------------

    async def save_turn(self, turn: TurnRecord) -> TurnRecord:
        def work(conn: Connection) -> TurnRecord:
            w = self._writer(conn)
            seq = w.touch_session(turn.user_id, turn.session_id, add_turn=True).turn_count
            w.insert_turn(turn, seq)
            return turn.model_copy(update={"seq": seq}, deep=True)

        return await self._run.write(f"saving a turn of session {turn.session_id!r}", work)

    async def list_turns(
        self, session_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[TurnRecord]:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be 0 or more, got {limit}")
        return await self._run.read(
            f"loading the turns of session {session_id!r}",
            partial(reads.list_turns, session_id=session_id, after_seq=after_seq, limit=limit),
        )

    async def get_turn_for_message(
        self, session_id: str, user_message_id: str
    ) -> TurnRecord | None:
        return await self._run.read(
            f"loading a turn of session {session_id!r}",
            partial(
                reads.get_turn_for_message, session_id=session_id, user_message_id=user_message_id
            ),
            small=True,
            one_statement=True,
        )

    async def commit_turn(self, commit: TurnCommit) -> CommitResult:
        check_commit(commit)

        def work(conn: Connection) -> CommitResult:
            return self._writer(conn).commit(commit)

        action = f"saving a turn of session {commit.context.session_id!r}"
        try:
            return await self._run.write(action, work)
        except MessageIdConflict as e:
            raise await self._message_conflict(e, commit.turn) from e.__cause__


def lock_session(conn: Connection, session_id: str) -> None:
    """Lock the session's row (PostgreSQL; SQLite's write transaction holds the whole file).

    The writes of a session's records take this row first (``Writer.touch_session`` updates
    it as their first statement), so a commit and these deletes lock in the same order and
    cannot deadlock each other.
    """
    conn.execute(select(sessions.c.id).where(sessions.c.id == session_id).with_for_update())
