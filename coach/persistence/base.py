"""``DatabaseInterface``: the one contract every storage backend implements.

The Context Manager and the Coach Service keep no storage of its own; they work only through
this interface. The rules below hold for every backend and are proven by one contract test suite
(``tests/persistence/contract/``) run unchanged against the memory, SQLite and PostgreSQL
backends. The checks behind them are written once, in ``rules``, and called by every backend.

- "Not found" is ``None``, ``False`` or an empty list. A failure is an exception: a
  ``PersistenceError`` (or subclass) chained to its cause with ``from``; never a logged warning and
  a ``None``.
- Records passed in and returned are copies: changing a returned record changes nothing stored.
- A session belongs to one user; session ids are globally unique. Saving any record of a session
  (state, context, turn, identity) registers the session and, if needed, an empty user record, so
  the session is found whichever record was saved first. A record naming another user's session
  raises ``OwnershipError``.
- Messages are append-only: saving a context writes only the messages after the ones stored, so a
  turn costs the same at message 10 and at message 10,000.
- ``ContextRecord``, ``UserRecord`` and ``IdentityRecord`` carry ``version``: 0 means "not saved
  yet" (a user registered with a session is stored at version 0 until saved), and each save
  stores the next version. Saving a record whose version is not the stored one
  raises ``ConcurrencyError`` and writes nothing, so no edit is ever overwritten unseen. (A
  session's ``StateRecord`` is only written with its context, whose version guards it.)
- ``commit_turn`` is the one write: it writes a turn's messages, state, identities, user and turn
  log together or not at all. The single-record saves are commits of one record. A user message
  that already has an ``ok`` turn cannot get a second one (``DuplicateTurnError``).
- Labels are unique per user, case-insensitively, among identities that are not dismissed
  (``DuplicateLabelError``).
- Timestamps come back timezone-aware UTC.
- The audit log is append-only and outlives what it names: deleting a session or a user leaves
  the entries naming their ids (they hold ids, never content).

A backend implements the abstract methods below. The others (the design note's single-record
saves and lookups) are derived here from them, once for every backend.

(The module is longer than most because it is the contract itself: each method documents its
arguments, results, errors and edge cases. The checks behind them live in ``rules``.)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from coach.enums import CoachingState, JobStatus, OriginKind
from coach.errors import ConcurrencyError
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
)
from coach.persistence.rules import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    apply_identity_changes,
    label_key,
    merged_user_data,
)

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "DatabaseInterface", "label_key"]

R = TypeVar("R")


class DatabaseInterface(ABC):
    """Async storage of users, sessions, states, contexts, identities and turn logs."""

    #: A short name for logs and the UI ("memory", "sqlite", "postgresql").
    backend_name: str = "unknown"

    # -- lifecycle -------------------------------------------------------------------------------

    @abstractmethod
    async def initialize(self) -> None:
        """Make the store ready: create it, or migrate its schema to the latest revision.

        Safe to call more than once.

        Raises:
            PersistenceError: the store cannot be reached or migrated; the message says why.
        """

    @abstractmethod
    async def check_schema(self) -> None:
        """Check that the store's schema is the one this code needs; change nothing.

        Stores without a schema (memory) have nothing to check.

        Raises:
            SchemaMissingError: a new store with no schema yet (``initialize()`` creates it).
            SchemaOutdatedError: the schema is older or newer than this code; the message
                says what to run.
            PersistenceError: the store cannot be reached.
        """

    @abstractmethod
    async def close(self) -> None:
        """Release connections. The object must not be used afterwards. Safe to call twice."""

    @abstractmethod
    async def count_records(self) -> dict[str, int]:
        """Count the stored records per kind.

        Returns:
            ``{"users": n, "sessions": n, "states": n, "contexts": n, "messages": n,
            "identities": n, "turns": n}``.
        """

    # -- the one write ---------------------------------------------------------------------------

    @abstractmethod
    async def commit_turn(self, commit: TurnCommit) -> CommitResult:
        """Write everything one turn changed, as one unit.

        In one transaction, in this order: the user (versioned), the session's registration,
        the context's new messages and its next version, the state (replaced), the identities
        (versioned, in order: dismissing one frees its label for the next), and the turn log
        (numbered after the session's last turn). If any part fails, nothing is stored. The
        checks are ``rules.check_commit`` and ``rules.check_identities``.

        Raises:
            ValueError: an empty commit, or parts naming different sessions.
            OwnershipError: parts of different users; a session or identity of another user.
            DuplicateTurnError: the turn's user message already has an ``ok`` turn.
            ConcurrencyError: a record's version is not the stored one.
            DuplicateLabelError: an identity's label is taken.
            PersistenceError: the context drops or skips stored messages, or a new message's
                id is already stored.
        """

    # -- users -----------------------------------------------------------------------------------

    @abstractmethod
    async def get_user(self, user_id: str) -> UserRecord | None:
        """Return the user, or ``None`` when no user has this id."""

    @abstractmethod
    async def list_users(
        self,
        *,
        search: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[UserSummary]:
        """List users, newest first, one page at a time (keyset paging).

        Args:
            search: keep users whose id or name starts with this text (case-insensitive).
            limit: page size, 1..``MAX_PAGE_SIZE``.
            cursor: ``next_cursor`` of the previous page; ``None`` for the first page.

        Returns:
            A page of summaries. Paging through all pages returns every user that existed when
            paging began exactly once, even while users are being added.

        Raises:
            ValueError: ``limit`` out of range or a cursor this backend did not make.
        """

    @abstractmethod
    async def delete_user(self, user_id: str) -> bool:
        """Delete a user and everything of theirs: sessions, states, contexts, messages,
        identities and turns. Audit entries naming them stay (see ``add_audit_entry``).

        Returns:
            ``True`` if the user existed.
        """

    # -- sessions --------------------------------------------------------------------------------

    @abstractmethod
    async def get_session(self, session_id: str) -> SessionSummary | None:
        """Return the session's summary (owner and their name, phase, counts, last activity), or
        ``None``."""

    @abstractmethod
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
        """List sessions, most recently active first, one page at a time (keyset paging).

        Args:
            user_id: only this user's sessions.
            state: only sessions in this phase.
            active_after / active_before: bounds on the last activity (inclusive / exclusive).
            search: keep sessions whose session id, user id or client's name (the user's
                ``data["name"]``) starts with this text, case-insensitive, as ``list_users``
                matches users. A prefix, not a substring, so that SQL serves it from indexes.
            limit: page size, 1..``MAX_PAGE_SIZE``.
            cursor: ``next_cursor`` of the previous page.

        Returns:
            A page of summaries, each with its client's name (``user_name``). Sessions added
            while paging do not disturb the pages that follow; a session whose activity
            changes while paging may move.

        Raises:
            ValueError: ``limit`` out of range or a malformed cursor.
        """

    @abstractmethod
    async def delete_session(self, session_id: str) -> bool:
        """Delete a session and its state, context, messages and turns.

        Identities found in the session stay with their user; their ``session_id`` becomes
        ``None``. Audit entries naming the session stay (see ``add_audit_entry``).

        Returns:
            ``True`` if the session existed.
        """

    # -- state -----------------------------------------------------------------------------------

    @abstractmethod
    async def get_state(self, user_id: str, session_id: str) -> StateRecord | None:
        """Return the session's state, or ``None`` when there is none for this user and session."""

    @abstractmethod
    async def delete_state(self, user_id: str, session_id: str) -> bool:
        """Delete the state record only. Returns ``True`` if it existed."""

    # -- context ---------------------------------------------------------------------------------

    @abstractmethod
    async def get_context(
        self, user_id: str, session_id: str, *, message_limit: int | None = None
    ) -> ContextRecord | None:
        """Return the session's conversation, or ``None`` when there is none for this user.

        Args:
            message_limit: load only the newest ``message_limit`` messages (``None``: all).
                ``first_message_index`` tells where the loaded part starts, so a turn can be
                read and saved at a cost that does not grow with the conversation.

        Raises:
            ValueError: a negative ``message_limit``.
        """

    @abstractmethod
    async def delete_context(self, user_id: str, session_id: str) -> bool:
        """Delete the context and its messages. Returns ``True`` if it existed."""

    @abstractmethod
    async def get_message(self, session_id: str, message_id: str) -> MessageRecord | None:
        """Return one message of the session by id, or ``None``."""

    @abstractmethod
    async def list_messages(
        self, session_id: str, *, start: int = 0, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[MessageRecord]:
        """Return up to ``limit`` messages of the session from position ``start`` (0-based).

        Positions never change (messages are append-only), so ``start`` pages without gaps.
        Empty when the session or the range does not exist.

        Raises:
            ValueError: a negative ``start`` or ``limit``.
        """

    # -- identities ------------------------------------------------------------------------------

    @abstractmethod
    async def get_identities(
        self, user_id: str, *, session_id: str | None = None
    ) -> list[IdentityRecord]:
        """Return the user's identities in creation order, dismissed ones included.

        Args:
            session_id: only those found in this session.
        """

    @abstractmethod
    async def get_identity(self, identity_id: str) -> IdentityRecord | None:
        """Return one identity by id, or ``None``."""

    @abstractmethod
    async def delete_identity(self, identity_id: str) -> bool:
        """Delete an identity. Returns ``True`` if it existed."""

    # -- turns -----------------------------------------------------------------------------------

    @abstractmethod
    async def list_turns(
        self, session_id: str, *, after_seq: int = 0, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[TurnSummary]:
        """Return up to ``limit`` of the session's turns with ``seq > after_seq``, in order,
        without their prompts, raw outputs and details (``get_turn`` has those).

        Pass the last ``seq`` of a page as ``after_seq`` for the next one (keyset paging).

        Raises:
            ValueError: ``limit`` out of range (1..``MAX_PAGE_SIZE``) or a negative ``after_seq``.
        """

    @abstractmethod
    async def get_turn(self, session_id: str, seq: int) -> TurnRecord | None:
        """Return turn ``seq`` of the session, whole, or ``None``."""

    @abstractmethod
    async def get_turn_for_message(
        self, session_id: str, user_message_id: str
    ) -> TurnSummary | None:
        """Return the latest turn answering this user message, or ``None``."""

    @abstractmethod
    async def list_pending_turns(self, *, limit: int = DEFAULT_PAGE_SIZE) -> list[TurnSummary]:
        """Return up to ``limit`` pending turns of any session, oldest first (for recovery:
        a pending turn whose process died is marked failed by its engine).

        Raises:
            ValueError: ``limit`` out of range (1..``MAX_PAGE_SIZE``).
        """

    @abstractmethod
    async def list_model_usage(self, session_ids: Sequence[str]) -> list[ModelUsage]:
        """The tokens each model used in each of these sessions' turns (every status; a turn
        without a count counts 0), by session, provider and model. A session without turns, or
        unknown, has no row. At most ``MAX_PAGE_SIZE`` ids: one page of a sessions table.

        Raises:
            ValueError: more than ``MAX_PAGE_SIZE`` ids.
        """

    @abstractmethod
    async def list_failed_turns(self, *, limit: int = DEFAULT_PAGE_SIZE) -> list[TurnSummary]:
        """Return up to ``limit`` failed turns of any session, newest first (for the Admin
        page: what went wrong lately, with each turn's ``error``). Ties in ``created_at``
        come by session id, then ``seq``, both descending.

        Raises:
            ValueError: ``limit`` out of range (1..``MAX_PAGE_SIZE``).
        """

    # -- prompt versions and labels ---------------------------------------------------------

    @abstractmethod
    async def add_prompt_version(self, version: PromptVersion) -> PromptVersion:
        """Store a new version of ``version.part``, numbered after the part's newest, and
        return it as stored. Versions are never changed or deleted.

        A part holds each content (body and front matter) once: saving the content of an
        existing version returns that version, unchanged (its number, note and author).

        Raises:
            ValueError: ``version.version`` is set, or the body is empty.
        """

    @abstractmethod
    async def list_prompt_versions(
        self, part: str, *, after_version: int = 0, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[PromptVersion]:
        """Return up to ``limit`` versions of ``part`` numbered after ``after_version``,
        oldest first (keyset paging, as ``list_turns``).

        Raises:
            ValueError: ``limit`` out of range (1..``MAX_PAGE_SIZE``) or a negative
                ``after_version``.
        """

    @abstractmethod
    async def get_prompt_version(self, part: str, version: int) -> PromptVersion | None:
        """Return version ``version`` of ``part``, or ``None``."""

    @abstractmethod
    async def list_prompt_labels(self, part: str | None = None) -> list[PromptLabel]:
        """Return the labels of ``part`` (of every part when ``None``), by part and label."""

    @abstractmethod
    async def set_prompt_label(
        self,
        part: str,
        label: str,
        version: int,
        *,
        expected_revision: int | None,
        by: str = "",
    ) -> PromptLabel:
        """Point ``label`` of ``part`` at ``version``, atomically, and return the label.

        ``expected_revision`` is the label's revision the caller saw (``None``: the label does
        not exist yet); the stored revision goes up by one with each move.

        Raises:
            NotFoundError: ``part`` has no version ``version``; nothing changed.
            ConcurrencyError: the label moved since (or exists, or does not); nothing changed.
            ValueError: an empty label.
        """

    # -- experiments (stored turns tried again) -----------------------------------------------

    @abstractmethod
    async def add_experiment(self, experiment: Experiment) -> Experiment:
        """Store a new experiment (``running``, without runs) and return it as stored.

        Raises:
            NotFoundError: the session does not exist; nothing is stored.
            ValueError: it is not ``running``, or it holds runs.
        """

    @abstractmethod
    async def add_experiment_run(self, run: ExperimentRun) -> ExperimentRun:
        """Store one run of a running experiment, and note the experiment's heartbeat.

        Raises:
            NotFoundError: no such experiment.
            ConcurrencyError: the experiment has ended, or holds a run of that number.
            ValueError: the number is above the experiment's ``runs_requested``.
        """

    @abstractmethod
    async def end_experiment(self, experiment_id: str, *, error: str | None = None) -> Experiment:
        """End a running experiment: ``done``, or ``failed`` with ``error``. Returns it with
        its runs.

        Raises:
            NotFoundError: no such experiment.
            ConcurrencyError: it has ended already (by another process, say); nothing changed.
        """

    @abstractmethod
    async def get_experiment(self, experiment_id: str) -> Experiment | None:
        """Return the experiment with its runs (by number), or ``None``."""

    @abstractmethod
    async def list_experiments(
        self,
        *,
        session_id: str | None = None,
        status: JobStatus | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> list[Experiment]:
        """Return up to ``limit`` experiments, newest first, without their runs: of one
        session, and/or with one status (``running`` ones, for recovery).

        Raises:
            ValueError: ``limit`` out of range (1..``MAX_PAGE_SIZE``).
        """

    # -- session origins (forks and replays) ------------------------------------------------

    @abstractmethod
    async def save_session_origin(self, origin: SessionOrigin) -> SessionOrigin:
        """Store where ``origin.session_id`` came from, or its progress since (the whole record
        is replaced: only the task making the session writes it).

        Raises:
            NotFoundError: the session does not exist; nothing is stored.
        """

    @abstractmethod
    async def get_session_origin(self, session_id: str) -> SessionOrigin | None:
        """Return where the session came from, or ``None`` for a session made by chatting."""

    @abstractmethod
    async def list_session_origins(
        self,
        *,
        source_session_id: str | None = None,
        status: JobStatus | None = None,
        kind: OriginKind | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> list[SessionOrigin]:
        """Return up to ``limit`` origins, newest first: the sessions made from one session,
        and/or those with one status (``running`` ones, for recovery) or kind.

        Raises:
            ValueError: ``limit`` out of range (1..``MAX_PAGE_SIZE``).
        """

    # -- eval runs (scenarios played by simulated clients) ---------------------------------

    @abstractmethod
    async def save_eval_run(self, run: EvalRun) -> EvalRun:
        """Store a new eval run, or its progress and end since (its fields are replaced whole,
        except ``conversations``, which are saved one by one). Returns it without its
        conversations.

        Raises:
            ValueError: ``ended_at`` is set on a running run, or missing on an ended one.
        """

    @abstractmethod
    async def save_eval_conversation(self, conversation: EvalConversation) -> EvalConversation:
        """Store one conversation of a run when it starts, or replace it when it ends (keyed by
        its session), and note the run's heartbeat (now) while the run is running. Returns it
        as stored. An ended run still takes conversations (its heartbeat stays as it was).

        Raises:
            NotFoundError: no such run, or the session does not exist (store it first).
            ValueError: the scenario is not one of the run's, or ``repeat`` is above its
                ``repeats``; ``ended_at`` set on a running one or missing on an ended one.
            ConcurrencyError: the stored conversation has ended: it is not changed again.
            OwnershipError: the session is another user's, or the conversation of another run.
        """

    @abstractmethod
    async def get_eval_run(self, run_id: str) -> EvalRun | None:
        """Return the run with its conversations (by scenario in the run's order, repeat, then
        start), or ``None``. A conversation whose session was deleted is gone with it."""

    @abstractmethod
    async def list_eval_runs(
        self, *, status: JobStatus | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[EvalRun]:
        """Return up to ``limit`` runs, newest first, without their conversations; with one
        status (``running`` ones, for recovery).

        Raises:
            ValueError: ``limit`` out of range (1..``MAX_PAGE_SIZE``).
        """

    # -- audit log and storage (access control and the Admin page) -------------------------

    @abstractmethod
    async def add_audit_entry(self, entry: AuditEntry) -> AuditEntry:
        """Append an entry to the audit log and return it as stored.

        Entries are never changed or deleted: ``delete_session`` and ``delete_user`` leave the
        entries naming their ids, as an audit trail that forgot deletions would be useless.

        Raises:
            IdsTakenError: an entry with this id is stored already; nothing was written.
        """

    @abstractmethod
    async def list_audit_entries(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target_id: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[AuditEntry]:
        """List audit entries, newest first (by ``at``, then id), one page at a time (keyset
        paging).

        Args:
            actor: only this actor's entries (exact match).
            action: only entries of this action (exact match).
            target_id: only entries whose ``target_ids`` hold this id.
            limit: page size, 1..``MAX_PAGE_SIZE``.
            cursor: ``next_cursor`` of the previous page; ``None`` for the first page.

        Returns:
            A page of entries. Paging through all pages returns every entry that existed when
            paging began exactly once, even while entries are being added.

        Raises:
            ValueError: ``limit`` out of range or a cursor this backend did not make.
        """

    @abstractmethod
    async def describe_storage(self) -> StorageReport:
        """Report the store's schema revision and, per table, its rows, size and growth.

        Rows are exact counts, and growth counts the rows created in the last 24 hours and 7
        days by each table's creation time (``None`` for a table without one: the prompt
        labels, and on SQL ``prompt_parts`` and ``audit_targets``). Both read every row, which
        takes seconds on millions of messages: the report is for an Admin page opened on
        demand, not for every page load (``count_records`` is that). Records keep their own
        creation times, so imported ones count when they were first created, not imported.

        Returns:
            The backend's name, its schema revision (``None`` for memory) and its tables. The
            memory backend names its collections after the SQL tables holding the same records
            and cannot tell their size (``bytes`` is ``None``); PostgreSQL reports
            ``pg_total_relation_size`` (the table, its indexes and TOAST); SQLite the pages of
            the table and its indexes from the ``dbstat`` table, or ``None`` when its SQLite
            library was built without it.

        Raises:
            PersistenceError: the store cannot be reached.
        """

    # -- imports -------------------------------------------------------------------------------

    @abstractmethod
    async def import_records(self, batch: RecordBatch) -> None:
        """Store whole users and sessions that do not exist yet, with their identities, in one
        transaction: everything or nothing. Records keep their ids, versions and times. A
        session (or identity) may belong to a stored user instead of one of the batch's.

        A prompt version is stored under its own part and number when the store has no such
        version; one it has with the same content is left as stored.

        Raises:
            ValueError: the records do not hold together (``rules.batch_problems``: every
                problem is listed).
            IdsTakenError: an id of a user, session, message or identity is stored already,
                or a prompt version's number is taken by other content.
        """

    # -- derived: the design note's single-record methods, built on the ones above -------------

    async def save_user(self, user: UserRecord) -> UserRecord:
        """Insert a user (version 0) or update it (the stored version).

        ``created_at`` of an existing user is kept; ``updated_at`` is set to now.

        Returns:
            The stored record (a copy), at its new version.

        Raises:
            ConcurrencyError: the version is not the stored one; nothing was written.
        """
        await self.commit_turn(TurnCommit(user=user))
        return await _read_back(self.get_user(user.id), f"user {user.id!r}")

    async def update_user_data(self, user_id: str, data: Mapping[str, Any]) -> UserRecord | None:
        """Merge ``data`` into the user's ``data`` (top-level keys are replaced).

        Args:
            user_id: the user to change.
            data: plain-JSON values to set.

        Returns:
            The updated record, or ``None`` when the user does not exist (nothing is created).

        Raises:
            ValueError: a value is not plain JSON.
            ConcurrencyError: the user was changed in between by another writer.
        """
        user = await self.get_user(user_id)
        if user is None:
            return None
        try:
            changed = UserRecord.model_validate(
                {**user.model_dump(), "data": merged_user_data(user.data, dict(data))}
            )
        except ValidationError as e:
            raise ValueError(f"user data must be plain JSON: {e}") from e
        return await self.save_user(changed)

    async def get_sessions_for_user(self, user_id: str) -> list[str]:
        """Return the ids of the user's sessions, most recently active first (empty if none).

        Reads every page; a page that shows a user's sessions should use ``list_sessions``.
        """
        ids: list[str] = []
        cursor: str | None = None
        while True:
            page = await self.list_sessions(user_id=user_id, limit=MAX_PAGE_SIZE, cursor=cursor)
            ids += [s.session_id for s in page.items]
            if page.next_cursor is None:
                return ids
            cursor = page.next_cursor

    async def get_user_id_for_session(self, session_id: str) -> str | None:
        """Return the id of the user who owns the session, or ``None`` for an unknown session."""
        session = await self.get_session(session_id)
        return None if session is None else session.user_id

    async def list_turn_outlines(
        self, session_id: str, *, after_seq: int = 0, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[TurnOutline]:
        """Return what ``list_turns`` returns, each turn reduced to its outline (its phase
        decision, actions and outcome): for pages that draw every turn of a session.

        A backend may read only those columns; this default reduces ``list_turns``.

        Raises:
            ValueError: as ``list_turns``.
        """
        return [
            t.outline() for t in await self.list_turns(session_id, after_seq=after_seq, limit=limit)
        ]

    async def save_state(self, state: StateRecord) -> StateRecord:
        """Insert or replace the session's state (last write wins: turns write it together
        with the context, whose version guards it).

        Raises:
            OwnershipError: the session belongs to another user.
        """
        await self.commit_turn(TurnCommit(state=state))
        return state.model_copy(deep=True)

    async def save_context(self, context: ContextRecord) -> ContextRecord:
        """Store the context: append its new messages and replace ``user_data``.

        New messages are those at positions from the stored message count on
        (``first_message_index + i``). Stored messages are never rewritten or copied.

        Returns:
            The context at its new ``version`` (a new record sharing the frozen messages).

        Raises:
            ConcurrencyError: ``context.version`` is not the stored version (someone saved in
                between), or version 0 for a context that exists. Nothing was written.
            PersistenceError: the record drops stored messages (append-only), or a message id
                is already stored.
            OwnershipError: the session belongs to another user.
        """
        result = await self.commit_turn(TurnCommit(context=context))
        return context.model_copy(
            update={
                "messages": list(context.messages),
                "user_data": context.model_dump(include={"user_data"})["user_data"],
                "version": result.context_version,
                "created_at": result.context_created_at,
                "updated_at": result.committed_at,
            }
        )

    async def save_identity(self, identity: IdentityRecord) -> IdentityRecord:
        """Insert an identity (version 0) or update it (the stored version); ``updated_at`` is
        set to now.

        Returns:
            The stored record (a copy), at its new version.

        Raises:
            ConcurrencyError: the version is not the stored one; nothing was written.
            DuplicateLabelError: another non-dismissed identity of the user has this label.
            OwnershipError: the id belongs to another user's identity, or ``session_id`` to
                another user's session.
        """
        await self.commit_turn(TurnCommit(identities=[identity]))
        return await _read_back(self.get_identity(identity.id), f"identity {identity.id!r}")

    async def update_identity(
        self, identity_id: str, changes: Mapping[str, Any]
    ) -> IdentityRecord | None:
        """Change some fields of an identity (``label``, ``state``, ``notes``, ...).

        ``id``, ``user_id`` and ``created_at`` cannot be changed.

        Returns:
            The updated record, or ``None`` when no identity has this id.

        Raises:
            ValueError: an unknown or unchangeable field, or an invalid value.
            DuplicateLabelError: the new label clashes with another identity of the user.
            ConcurrencyError: the identity was changed in between by another writer.
        """
        identity = await self.get_identity(identity_id)
        if identity is None:
            return None
        return await self.save_identity(apply_identity_changes(identity, changes))

    async def save_turn(self, turn: TurnRecord) -> TurnRecord:
        """Append a turn to the session's log, numbering it (``seq``) after the last one; or,
        for a turn with a ``seq``, complete that pending turn.

        Returns:
            The stored turn with its ``seq``.

        Raises:
            DuplicateTurnError: an ``ok`` turn for the turn's user message already exists.
            TurnInProgressError: a pending turn for it exists.
            ConcurrencyError: the turn to complete is no longer pending.
            OwnershipError: the session belongs to another user.
        """
        result = await self.commit_turn(TurnCommit(turn=turn))
        return turn.model_copy(update={"seq": result.turn_seq}, deep=True)


async def _read_back(read: Awaitable[R | None], what: str) -> R:
    """A record as stored right after its commit (read back, so it carries the stored
    ``created_at``); a record deleted in between is an error, never ``None``."""
    stored = await read
    if stored is None:
        raise ConcurrencyError(f"{what} was deleted by someone else right after it was saved")
    return stored
