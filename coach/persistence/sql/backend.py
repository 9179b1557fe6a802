"""``SQLDatabase``: the ``DatabaseInterface`` on SQLite or PostgreSQL with SQLAlchemy 2.

Each public method is one unit of work: a plain function of a ``Connection``, run in one read
transaction, or in one write transaction (``BEGIN IMMEDIATE`` on SQLite) that commits
everything or nothing, the stock way for its dialect (``engine.Engines``). Driver and
SQLAlchemy errors never escape: they become ``PersistenceError`` (or a subclass) chained with
``from``, with a message that says what failed and how to fix it (``errors``).

The module is about 400 lines because it is the whole interface, one short method each; the
statements and row conversions live in ``reads``, ``writes``, ``prompts`` and ``convert``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import TypeVar

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.engine import Connection

from coach.enums import CoachingState, JobStatus, OriginKind, TurnStatus
from coach.errors import CoachError, ConcurrencyError, PersistenceError, SchemaMissingError
from coach.persistence.base import DEFAULT_PAGE_SIZE, DatabaseInterface
from coach.persistence.records import (
    AuditEntry,
    CommitResult,
    ContextRecord,
    EvalConversation,
    EvalRun,
    Experiment,
    ExperimentRun,
    IdentityRecord,
    MessageRecord,
    ModelUsage,
    Page,
    PromptLabel,
    PromptVersion,
    RecordBatch,
    SessionOrigin,
    SessionSummary,
    StateRecord,
    StorageReport,
    TurnCommit,
    TurnOutline,
    TurnRecord,
    TurnSummary,
    UserRecord,
    UserSummary,
    utcnow,
)
from coach.persistence.rules import (
    check_keyset_page,
    check_new_prompt_version,
    check_page_size,
)
from coach.persistence.sql import (
    audit,
    evals,
    experiments,
    imports,
    migrate,
    origins,
    prompts,
    queries,
    reads,
    storage,
)
from coach.persistence.sql.engine import Engines, is_sqlite_memory, parse_url, sqlite_path
from coach.persistence.sql.errors import DRIVER_ERRORS, INIT_COMMAND, translate
from coach.persistence.sql.tables import contexts, identities, sessions, states, users
from coach.persistence.sql.writes import Writer
from coach.persistence.urls import mask_url

T = TypeVar("T")


class SQLDatabase(DatabaseInterface):
    """The SQL backend. ``connection_string`` is ``sqlite:///path.db`` or
    ``postgresql+asyncpg://user:password@host:port/dbname``.

    Creating the object opens nothing; ``initialize()`` creates or migrates the schema.
    """

    def __init__(self, connection_string: str) -> None:
        self._url = parse_url(connection_string)
        self.backend_name = self._url.get_backend_name()
        self._shown = mask_url(connection_string)
        self._engines = Engines(self._url)
        self._closed = False

    def __repr__(self) -> str:
        return f"SQLDatabase({self._shown!r})"

    @property
    def url(self) -> str:
        """The connection string with its password masked, safe to show."""
        return self._shown

    @property
    def sync_engine(self) -> Engine:
        """The engine whose events see every statement (diagnostics, tests, benchmarks)."""
        return self._engines.sync_engine

    async def run_sync(self, work: Callable[[Connection], T], *, write: bool = False) -> T:
        """Run ``work``, a function of a ``Connection``, in one transaction: how every operation
        of this backend runs (and diagnostics, tests and benchmarks with their own SQL).

        Raises:
            PersistenceError: translated from the driver's error, saying what to check.
        """
        return await self._run("running SQL", work, write=write)

    async def _run(self, action: str, work: Callable[[Connection], T], *, write: bool) -> T:
        if self._closed:
            raise PersistenceError(
                f"the database {self._shown} is closed; create a new SQLDatabase to use it again"
            )
        try:
            return await self._engines.run(work, write=write)
        except CoachError:
            raise
        except DRIVER_ERRORS as e:
            raise translate(e, action) from e

    async def _read(self, action: str, work: Callable[[Connection], T]) -> T:
        return await self._run(action, work, write=False)

    async def _write(self, action: str, work: Callable[[Connection], T]) -> T:
        return await self._run(action, work, write=True)

    # -- lifecycle -------------------------------------------------------------------------------

    async def initialize(self) -> None:
        """Create the schema, or migrate it to the latest revision (Alembic). Idempotent.

        Runs on a short-lived engine of its own (Alembic's async pattern: ``NullPool`` and
        ``run_sync``), with SQLite's foreign keys off while tables are rebuilt. Creates the
        folder of a SQLite file if needed.
        """
        if is_sqlite_memory(self._url):
            # Only this database's one connection sees an in-memory database.
            await self._write("migrating the database schema", migrate.migrate_in_transaction)
            return
        await migrate.upgrade_database(self._url, self._shown)

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
        current = await self._read("checking the database schema", migrate.current_revisions)
        problem = migrate.schema_problem(current, self._shown)
        if problem is not None:
            raise problem

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._engines.dispose()

    async def count_records(self) -> dict[str, int]:
        return await self._read("counting records", reads.count_records)

    # -- the one write ---------------------------------------------------------------------------

    async def commit_turn(self, commit: TurnCommit) -> CommitResult:
        part = commit.context or commit.state or commit.turn
        where = f"session {part.session_id!r}" if part is not None else "a user's records"
        return await self._write(
            f"saving {where}", lambda conn: Writer(conn, utcnow()).commit(commit)
        )

    # -- users -----------------------------------------------------------------------------------

    async def get_user(self, user_id: str) -> UserRecord | None:
        return await self._read(
            f"loading user {user_id!r}", partial(reads.get_user, user_id=user_id)
        )

    async def list_users(
        self,
        *,
        search: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[UserSummary]:
        check_page_size(limit)
        return await self._read(
            "listing users", partial(queries.list_users, search=search, limit=limit, cursor=cursor)
        )

    async def delete_user(self, user_id: str) -> bool:
        def work(conn: Connection) -> bool:
            return conn.execute(delete(users).where(users.c.id == user_id)).rowcount > 0

        return await self._write(f"deleting user {user_id!r}", work)

    # -- sessions --------------------------------------------------------------------------------

    async def get_session(self, session_id: str) -> SessionSummary | None:
        return await self._read(
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
        return await self._read("listing sessions", work)

    async def delete_session(self, session_id: str) -> bool:
        def work(conn: Connection) -> bool:
            return conn.execute(delete(sessions).where(sessions.c.id == session_id)).rowcount > 0

        return await self._write(f"deleting session {session_id!r}", work)

    # -- state -----------------------------------------------------------------------------------

    async def get_state(self, user_id: str, session_id: str) -> StateRecord | None:
        return await self._read(
            f"loading the state of session {session_id!r}",
            partial(reads.get_state, user_id=user_id, session_id=session_id),
        )

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

        return await self._write(f"deleting the state of session {session_id!r}", work)

    # -- context ---------------------------------------------------------------------------------

    async def get_context(
        self, user_id: str, session_id: str, *, message_limit: int | None = None
    ) -> ContextRecord | None:
        if message_limit is not None and message_limit < 0:
            raise ValueError(f"message_limit must be 0 or more, got {message_limit}")
        return await self._read(
            f"loading the context of session {session_id!r}",
            partial(
                reads.get_context,
                user_id=user_id,
                session_id=session_id,
                message_limit=message_limit,
            ),
        )

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

        return await self._write(f"deleting the context of session {session_id!r}", work)

    async def get_message(self, session_id: str, message_id: str) -> MessageRecord | None:
        return await self._read(
            f"loading message {message_id!r} of session {session_id!r}",
            partial(reads.get_message, session_id=session_id, message_id=message_id),
        )

    async def list_messages(
        self, session_id: str, *, start: int = 0, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[MessageRecord]:
        if start < 0 or limit < 0:
            raise ValueError(f"start and limit must be 0 or more, got {start} and {limit}")
        return await self._read(
            f"loading the messages of session {session_id!r}",
            partial(reads.messages_between, session_id=session_id, start=start, stop=start + limit),
        )

    # -- identities ------------------------------------------------------------------------------

    async def get_identities(
        self, user_id: str, *, session_id: str | None = None
    ) -> list[IdentityRecord]:
        return await self._read(
            f"loading the identities of user {user_id!r}",
            partial(reads.get_identities, user_id=user_id, session_id=session_id),
        )

    async def get_identity(self, identity_id: str) -> IdentityRecord | None:
        return await self._read(
            f"loading identity {identity_id!r}",
            partial(reads.get_identity, identity_id=identity_id),
        )

    async def delete_identity(self, identity_id: str) -> bool:
        def work(conn: Connection) -> bool:
            result = conn.execute(delete(identities).where(identities.c.id == identity_id))
            return result.rowcount > 0

        return await self._write(f"deleting identity {identity_id!r}", work)

    # -- turns -----------------------------------------------------------------------------------

    async def list_turns(
        self, session_id: str, *, after_seq: int = 0, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[TurnSummary]:
        return await self._turn_page(reads.list_turns, session_id, after_seq, limit)

    async def list_turn_outlines(
        self, session_id: str, *, after_seq: int = 0, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[TurnOutline]:
        # Only the outline's columns: a third of a summary's, for every turn of a session.
        return await self._turn_page(reads.list_turn_outlines, session_id, after_seq, limit)

    async def _turn_page(
        self,
        read: Callable[[Connection, str, int, int], list[T]],
        session_id: str,
        after_seq: int,
        limit: int,
    ) -> list[T]:
        check_keyset_page(limit, after_seq, "after_seq")
        return await self._read(
            f"loading the turns of session {session_id!r}",
            lambda conn: read(conn, session_id, after_seq, limit),
        )

    # -- prompt versions and labels ---------------------------------------------------------

    async def add_prompt_version(self, version: PromptVersion) -> PromptVersion:
        check_new_prompt_version(version)
        action = f"saving a version of prompt part {version.part!r}"
        save = partial(prompts.add_version, version=version)
        try:
            return await self._write(action, save)
        except ConcurrencyError:  # saved by another writer at once: now it finds that one
            return await self._write(action, save)

    async def list_prompt_versions(
        self, part: str, *, after_version: int = 0, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[PromptVersion]:
        check_keyset_page(limit, after_version, "after_version")
        return await self._read(
            f"loading the versions of prompt part {part!r}",
            lambda conn: prompts.list_versions(conn, part, after_version, limit),
        )

    async def get_prompt_version(self, part: str, version: int) -> PromptVersion | None:
        return await self._read(
            f"loading version {version} of prompt part {part!r}",
            lambda conn: prompts.get_version(conn, part, version),
        )

    async def list_prompt_labels(self, part: str | None = None) -> list[PromptLabel]:
        return await self._read(
            "loading the prompt labels", lambda conn: prompts.list_labels(conn, part)
        )

    async def set_prompt_label(
        self,
        part: str,
        label: str,
        version: int,
        *,
        expected_revision: int | None,
        by: str = "",
    ) -> PromptLabel:
        return await self._write(
            f"moving label {label!r} of prompt part {part!r}",
            lambda conn: prompts.set_label(conn, part, label, version, expected_revision, by),
        )

    # -- experiments ---------------------------------------------------------------------------

    async def add_experiment(self, experiment: Experiment) -> Experiment:
        return await self._write(
            f"saving experiment {experiment.name!r}",
            partial(experiments.add, experiment=experiment),
        )

    async def add_experiment_run(self, run: ExperimentRun) -> ExperimentRun:
        return await self._write(
            f"saving run {run.number} of experiment {run.experiment_id}",
            partial(experiments.add_run, run=run),
        )

    async def end_experiment(self, experiment_id: str, *, error: str | None = None) -> Experiment:
        return await self._write(
            f"ending experiment {experiment_id}",
            lambda conn: experiments.end(conn, experiment_id, error),
        )

    async def get_experiment(self, experiment_id: str) -> Experiment | None:
        return await self._read(
            f"loading experiment {experiment_id}",
            partial(experiments.get, experiment_id=experiment_id),
        )

    async def list_experiments(
        self,
        *,
        session_id: str | None = None,
        status: JobStatus | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> list[Experiment]:
        check_page_size(limit)
        return await self._read(
            "loading the experiments",
            lambda conn: experiments.listed(conn, session_id, status, limit),
        )

    # -- imports -------------------------------------------------------------------------------

    async def import_records(self, batch: RecordBatch) -> None:
        await self._write(
            f"importing {len(batch.users)} users and {len(batch.sessions)} sessions",
            partial(imports.import_records, batch=batch),
        )

    # -- session origins -----------------------------------------------------------------------

    async def save_session_origin(self, origin: SessionOrigin) -> SessionOrigin:
        return await self._write(
            f"saving where session {origin.session_id} came from",
            partial(origins.save, origin=origin),
        )

    async def get_session_origin(self, session_id: str) -> SessionOrigin | None:
        return await self._read(
            f"loading where session {session_id} came from",
            partial(origins.get, session_id=session_id),
        )

    async def list_session_origins(
        self,
        *,
        source_session_id: str | None = None,
        status: JobStatus | None = None,
        kind: OriginKind | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> list[SessionOrigin]:
        check_page_size(limit)
        return await self._read(
            "loading the sessions' origins",
            lambda conn: origins.listed(conn, source_session_id, status, kind, limit),
        )

    # -- eval runs -----------------------------------------------------------------------------

    async def save_eval_run(self, run: EvalRun) -> EvalRun:
        return await self._write(f"saving eval run {run.name!r}", partial(evals.save_run, run=run))

    async def save_eval_conversation(self, conversation: EvalConversation) -> EvalConversation:
        return await self._write(
            f"saving the eval conversation of session {conversation.session_id}",
            partial(evals.save_conversation, conversation=conversation),
        )

    async def get_eval_run(self, run_id: str) -> EvalRun | None:
        return await self._read(f"loading eval run {run_id}", partial(evals.get_run, run_id=run_id))

    async def list_eval_runs(
        self, *, status: JobStatus | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[EvalRun]:
        check_page_size(limit)
        return await self._read(
            "loading the eval runs", lambda conn: evals.listed(conn, status, limit)
        )

    async def get_turn(self, session_id: str, seq: int) -> TurnRecord | None:
        return await self._read(
            f"loading turn {seq} of session {session_id!r}",
            partial(reads.get_turn, session_id=session_id, seq=seq),
        )

    async def get_turn_for_message(
        self, session_id: str, user_message_id: str
    ) -> TurnSummary | None:
        return await self._read(
            f"loading a turn of session {session_id!r}",
            partial(
                reads.get_turn_for_message, session_id=session_id, user_message_id=user_message_id
            ),
        )

    async def list_pending_turns(self, *, limit: int = DEFAULT_PAGE_SIZE) -> list[TurnSummary]:
        return await self._turns_with_status(TurnStatus.PENDING, limit, newest_first=False)

    async def list_model_usage(self, session_ids: Sequence[str]) -> list[ModelUsage]:
        check_page_size(len(session_ids) or 1)
        if not session_ids:
            return []
        return await self._read(
            "adding up the tokens of sessions", lambda conn: reads.model_usage(conn, session_ids)
        )

    async def list_failed_turns(self, *, limit: int = DEFAULT_PAGE_SIZE) -> list[TurnSummary]:
        return await self._turns_with_status(TurnStatus.FAILED, limit, newest_first=True)

    async def _turns_with_status(
        self, status: TurnStatus, limit: int, *, newest_first: bool
    ) -> list[TurnSummary]:
        check_page_size(limit)
        return await self._read(
            f"loading {status.value} turns",
            lambda conn: reads.turns_with_status(conn, status, limit, newest_first=newest_first),
        )

    # -- audit log and storage -------------------------------------------------------------

    async def add_audit_entry(self, entry: AuditEntry) -> AuditEntry:
        return await self._write(
            f"saving an audit entry of {entry.action!r}", partial(audit.add, entry=entry)
        )

    async def list_audit_entries(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target_id: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[AuditEntry]:
        check_page_size(limit)
        work = partial(
            audit.listed,
            actor=actor,
            action=action,
            target_id=target_id,
            limit=limit,
            cursor=cursor,
        )
        return await self._read("loading the audit log", work)

    async def describe_storage(self) -> StorageReport:
        return await self._read(
            "describing the database's storage", partial(storage.describe, now=utcnow())
        )


def lock_session(conn: Connection, session_id: str) -> None:
    """Lock the session's row (PostgreSQL; SQLite's write transaction holds the whole file).

    The writes of a session's records take this row first (``Writer`` updates it as its first
    statement), so a commit and these deletes lock in the same order and cannot deadlock.
    """
    conn.execute(select(sessions.c.id).where(sessions.c.id == session_id).with_for_update())
