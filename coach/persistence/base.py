"""``DatabaseInterface``: the one contract every storage backend implements.

The Context Manager and the Coach Service keep no storage of their own; they work only through
this interface. The rules below hold for every backend and are proven by one contract test suite
(``tests/persistence/``) run unchanged against the memory, SQLite and PostgreSQL backends:

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
- A ``ContextRecord`` carries ``version``; saving one whose version is not the stored version
  raises ``ConcurrencyError`` and writes nothing. Version 0 means "not stored yet".
- ``commit_turn`` writes a turn's messages, state, identities, user and turn log together or not
  at all. A user message that already has an ``ok`` turn cannot get a second one
  (``DuplicateTurnError``).
- Labels are unique per user, case-insensitively, among identities that are not dismissed
  (``DuplicateLabelError``).
- Timestamps come back timezone-aware UTC.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from coach.enums import CoachingState
from coach.persistence.records import (
    CommitResult,
    ContextRecord,
    IdentityRecord,
    JsonDict,
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

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


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

    # -- users -----------------------------------------------------------------------------------

    @abstractmethod
    async def get_user(self, user_id: str) -> UserRecord | None:
        """Return the user, or ``None`` when no user has this id."""

    @abstractmethod
    async def save_user(self, user: UserRecord) -> UserRecord:
        """Insert or replace a user record.

        ``created_at`` of an existing user is kept; ``updated_at`` is set to now.

        Returns:
            The stored record (a copy).
        """

    @abstractmethod
    async def update_user_data(self, user_id: str, data: Mapping[str, Any]) -> UserRecord | None:
        """Merge ``data`` into the user's ``data`` (top-level keys are replaced).

        Args:
            user_id: the user to change.
            data: plain-JSON values to set.

        Returns:
            The updated record, or ``None`` when the user does not exist (nothing is created).
        """

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
        identities and turns.

        Returns:
            ``True`` if the user existed.
        """

    # -- sessions --------------------------------------------------------------------------------

    @abstractmethod
    async def get_sessions_for_user(self, user_id: str) -> list[str]:
        """Return the ids of the user's sessions, most recently active first (empty if none)."""

    @abstractmethod
    async def get_user_id_for_session(self, session_id: str) -> str | None:
        """Return the id of the user who owns the session, or ``None`` for an unknown session."""

    @abstractmethod
    async def get_session(self, session_id: str) -> SessionSummary | None:
        """Return the session's summary (phase, counts, last activity), or ``None``."""

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
            search: keep sessions whose session id or user id starts with this text.
            limit: page size, 1..``MAX_PAGE_SIZE``.
            cursor: ``next_cursor`` of the previous page.

        Returns:
            A page of summaries. Sessions added while paging do not disturb the pages that
            follow; a session whose activity changes while paging may move.

        Raises:
            ValueError: ``limit`` out of range or a malformed cursor.
        """

    @abstractmethod
    async def delete_session(self, session_id: str) -> bool:
        """Delete a session and its state, context, messages and turns.

        Identities found in the session stay with their user; their ``session_id`` becomes
        ``None``.

        Returns:
            ``True`` if the session existed.
        """

    # -- state -----------------------------------------------------------------------------------

    @abstractmethod
    async def get_state(self, user_id: str, session_id: str) -> StateRecord | None:
        """Return the session's state, or ``None`` when there is none for this user and session."""

    @abstractmethod
    async def save_state(self, state: StateRecord) -> StateRecord:
        """Insert or replace the session's state (last write wins).

        Raises:
            OwnershipError: the session belongs to another user.
        """

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
        """

    @abstractmethod
    async def save_context(self, context: ContextRecord) -> ContextRecord:
        """Store the context: append its new messages and replace ``user_data``.

        New messages are those at positions from the stored message count on
        (``first_message_index + i``). Stored messages are never rewritten.

        Returns:
            The stored context (a copy) with its new ``version``.

        Raises:
            ConcurrencyError: ``context.version`` is not the stored version (someone saved in
                between), or version 0 for a context that exists. Nothing was written.
            PersistenceError: the record drops stored messages (append-only), or a message id
                is already stored.
            OwnershipError: the session belongs to another user.
        """

    @abstractmethod
    async def delete_context(self, user_id: str, session_id: str) -> bool:
        """Delete the context and its messages. Returns ``True`` if it existed."""

    @abstractmethod
    async def list_messages(
        self, session_id: str, *, start: int = 0, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[MessageRecord]:
        """Return up to ``limit`` messages of the session from position ``start`` (0-based).

        Positions never change (messages are append-only), so ``start`` pages without gaps.
        Empty when the session or the range does not exist.
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
    async def save_identity(self, identity: IdentityRecord) -> IdentityRecord:
        """Insert or replace an identity; ``updated_at`` is set to now.

        Raises:
            DuplicateLabelError: another non-dismissed identity of the user has this label.
            OwnershipError: the id belongs to another user's identity, or ``session_id`` to
                another user's session.
        """

    @abstractmethod
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
        """

    @abstractmethod
    async def delete_identity(self, identity_id: str) -> bool:
        """Delete an identity. Returns ``True`` if it existed."""

    # -- turns -----------------------------------------------------------------------------------

    @abstractmethod
    async def save_turn(self, turn: TurnRecord) -> TurnRecord:
        """Append a turn to the session's log, numbering it (``seq``) after the last one.

        Returns:
            The stored turn with its ``seq``.

        Raises:
            DuplicateTurnError: an ``ok`` turn for the turn's user message already exists.
            OwnershipError: the session belongs to another user.
        """

    @abstractmethod
    async def list_turns(
        self, session_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[TurnRecord]:
        """Return the session's turns with ``seq > after_seq`` in order (empty if none)."""

    @abstractmethod
    async def get_turn_for_message(
        self, session_id: str, user_message_id: str
    ) -> TurnRecord | None:
        """Return the latest turn answering this user message, or ``None``."""

    @abstractmethod
    async def commit_turn(self, commit: TurnCommit) -> CommitResult:
        """Write everything one turn changed, as one unit.

        In one transaction: append the context's new messages and bump its version (as
        ``save_context``), then upsert the state, the identities and the user, then append the
        turn log (as ``save_turn``). If any part fails, nothing of the turn is stored.

        Raises:
            ConcurrencyError: the context version is stale.
            DuplicateTurnError: the user message already has an ``ok`` turn.
            DuplicateLabelError, OwnershipError, PersistenceError: as the single operations.
        """


def check_page_size(limit: int) -> None:
    """Raise ``ValueError`` unless ``1 <= limit <= MAX_PAGE_SIZE``."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"page size must be between 1 and {MAX_PAGE_SIZE}, got {limit}")


#: Fields of an identity that ``update_identity`` refuses to change.
FROZEN_IDENTITY_FIELDS = frozenset({"id", "user_id", "created_at"})


def merged_user_data(current: JsonDict, data: Mapping[str, Any]) -> JsonDict:
    """``current`` with ``data``'s top-level keys replaced (a new dict)."""
    return {**current, **data}


def apply_identity_changes(identity: IdentityRecord, changes: Mapping[str, Any]) -> IdentityRecord:
    """Return a validated copy of ``identity`` with ``changes`` applied and ``updated_at`` now.

    Raises:
        ValueError: a field that does not exist or cannot be changed, or an invalid value.
    """
    unknown = set(changes) - set(IdentityRecord.model_fields)
    frozen = set(changes) & FROZEN_IDENTITY_FIELDS
    if unknown or frozen:
        raise ValueError(f"cannot change identity fields: {sorted(unknown | frozen)}")
    data = identity.model_dump()
    data.update(changes)
    data["updated_at"] = utcnow()
    try:
        return IdentityRecord.model_validate(data)
    except ValidationError as e:
        raise ValueError(f"invalid identity change: {e}") from e


def label_key(label: str) -> str:
    """The form in which labels are compared for uniqueness (case-insensitive, trimmed)."""
    return " ".join(label.split()).casefold()
