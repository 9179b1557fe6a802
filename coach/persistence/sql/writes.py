"""The write steps shared by the single-record saves and ``commit_turn``.

A ``Writer`` works on one connection inside one transaction, with Core statements against the
ORM tables (cheaper per statement than an ORM session: a whole turn is a handful of statements),
built once (``statements``) and run by the connection's ``Executor`` (``execute``: on SQLite's
driver cursor). Any error it raises aborts the caller's transaction, so a failed step leaves
nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from coach.errors import (
    ConcurrencyError,
    DuplicateLabelError,
    DuplicateTurnError,
    OwnershipError,
    PersistenceError,
)
from coach.persistence.records import (
    CommitResult,
    ContextRecord,
    IdentityRecord,
    StateRecord,
    TurnCommit,
    TurnRecord,
    UserRecord,
)
from coach.persistence.sql.convert import (
    context_user_data,
    empty_user_values,
    identity_values,
    message_values,
    search_key,
    state_values,
    turn_values,
    user_values,
)
from coach.persistence.sql.engine import violates
from coach.persistence.sql.execute import executor
from coach.persistence.sql.statements import statements, touch_statement

LABEL_INDEX = ("uq_identities_user_id_label_key", "identities.user_id, identities.label_key")
OK_TURN_INDEX = ("uq_turns_session_id_user_message_id", "turns.session_id, turns.user_message_id")


class MessageIdConflict(PersistenceError):
    """Inserting the new messages hit a message id that is already stored.

    Raised inside the transaction; the caller tells, after the rollback, whether it was the
    turn's user message (a duplicate turn) or another message.
    """

    def __init__(self, session_id: str, message_ids: list[str]) -> None:
        super().__init__(
            f"saving the messages of session {session_id!r} failed: a message id is already "
            "stored; message ids must be unique"
        )
        self.message_ids = message_ids


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What a write needs to know about a session (and its context) before changing it."""

    user_id: str
    turn_count: int
    context_version: int | None
    context_message_count: int
    context_created_at: datetime | None


class Writer:
    """The write steps of one transaction. ``now`` is the time every step records."""

    def __init__(self, conn: Connection, dialect: str, now: datetime) -> None:
        self.conn = conn
        self.db = executor(conn)
        self.sql = statements(dialect)
        self.now = now
        self._sessions: dict[str, SessionInfo] = {}
        self._users: set[str] = set()

    # -- users and sessions ----------------------------------------------------------------------

    def ensure_user(self, user_id: str) -> None:
        """Create an empty user record unless the user exists."""
        if user_id in self._users:
            return
        self.db.run(self.sql.insert_user_if_missing, empty_user_values(user_id, self.now))
        self._users.add(user_id)

    def claim_session(self, user_id: str, session_id: str) -> SessionInfo:
        """Register the session for ``user_id`` unless it exists; return what is stored of it.

        Raises:
            OwnershipError: the session belongs to another user.
        """
        info = self._sessions.get(session_id)
        if info is None:
            info = self._session_info(session_id)
            if info is None:
                self.ensure_user(user_id)
                values = {
                    "id": session_id,
                    "user_id": user_id,
                    "id_key": search_key(session_id),
                    "user_key": search_key(user_id),
                    "state": None,
                    "message_count": 0,
                    "turn_count": 0,
                    "created_at": self.now,
                    "last_activity_at": self.now,
                }
                result = self.db.run(self.sql.insert_session_if_missing, values)
                if result.rowcount == 1:
                    info = SessionInfo(user_id, 0, None, 0, None)
                else:  # created concurrently by another transaction
                    info = self._session_info(session_id)
                    assert info is not None
            self._sessions[session_id] = info
        self._check_owner(info, user_id, session_id)
        return info

    def _check_owner(self, info: SessionInfo, user_id: str, session_id: str) -> None:
        if info.user_id != user_id:
            raise OwnershipError(
                f"session {session_id!r} belongs to another user than {user_id!r}; "
                "use a new session id for this user"
            )
        self._users.add(user_id)

    def _session_info(self, session_id: str) -> SessionInfo | None:
        row = self.db.run(self.sql.session_info, {"b_session_id": session_id}).first()
        if row is None:
            return None
        return SessionInfo(row[0], row[1], row[2], row[3] or 0, row[4])

    def touch_session(
        self,
        user_id: str,
        session_id: str,
        *,
        message_count: int | None = None,
        state: str | None = None,
        add_turn: bool = False,
    ) -> SessionInfo:
        """Record a write on the session row (last activity, counts, phase), registering the
        session first if it is new; return what is stored of it.

        One ``UPDATE ... RETURNING`` in the common case: it returns the owner, the new turn
        count (the ``seq`` of a new turn with ``add_turn``) and the context's version, size and
        creation time as they were before this transaction changes the context. Call it
        before the other steps of a write, which then need no lookup of their own.

        Raises:
            OwnershipError: the session belongs to another user (the update is undone with
                the caller's transaction).
        """
        stmt = touch_statement(message_count is not None, state is not None, add_turn)
        params = {
            "b_session_id": session_id,
            "b_now": self.now,
            "b_message_count": message_count,
            "b_state": state,
        }
        row = self.db.run(stmt, params).first()
        if row is None:  # a new session
            self.claim_session(user_id, session_id)
            row = self.db.run(stmt, params).first()
            assert row is not None
        info = SessionInfo(row[0], row[1], row[2], row[3] or 0, row[4])
        self._check_owner(info, user_id, session_id)
        self._sessions[session_id] = info
        return info

    def upsert_user(self, user: UserRecord) -> datetime:
        """Insert or replace the user (keeping ``created_at``); return its ``created_at``."""
        values = user_values(user, updated_at=self.now)
        created = self.db.run(self.sql.upsert_user, values).scalar()
        assert created is not None
        self._users.add(user.id)
        return created  # type: ignore[no-any-return]

    # -- state -----------------------------------------------------------------------------------

    def upsert_state(self, state: StateRecord) -> None:
        """Insert or replace the session's state, as given (timestamps included)."""
        self.claim_session(state.user_id, state.session_id)
        self.db.run(self.sql.upsert_state, state_values(state))

    # -- context ---------------------------------------------------------------------------------

    def write_context(self, context: ContextRecord) -> tuple[int, datetime]:
        """Append the context's new messages and bump its version.

        Returns:
            The new version and the context's ``created_at``.

        Raises:
            ConcurrencyError: the version is stale (or 0 for a context that exists).
            PersistenceError: the record drops stored messages or skips some.
            MessageIdConflict: a new message's id is already stored.
        """
        sid = context.session_id
        info = self.claim_session(context.user_id, sid)
        stored_version = info.context_version
        if context.version == 0 and stored_version is not None:
            raise ConcurrencyError(
                f"the context of session {sid!r} already exists (version {stored_version}); "
                "load it and apply the change again"
            )
        if context.version != 0 and stored_version != context.version:
            stored = "none" if stored_version is None else f"version {stored_version}"
            raise ConcurrencyError(
                f"the context of session {sid!r} was saved by someone else (stored: {stored}, "
                f"yours: version {context.version}); load it and apply the change again"
            )
        stored_count = info.context_message_count
        if context.first_message_index > stored_count:
            raise PersistenceError(
                f"the context of session {sid!r} starts at message "
                f"{context.first_message_index} but only {stored_count} messages are stored; "
                "load the context again before saving it"
            )
        if context.total_messages < stored_count:
            raise PersistenceError(
                f"the context of session {sid!r} holds {context.total_messages} messages but "
                f"{stored_count} are stored: messages are append-only and cannot be removed"
            )
        ids = [m.id for m in context.messages]
        if len(set(ids)) != len(ids):
            raise PersistenceError(
                f"the context of session {sid!r} holds the same message id twice; "
                "message ids must be unique"
            )
        new_messages = context.messages[stored_count - context.first_message_index :]
        total = context.total_messages
        user_data = context_user_data(context)
        if context.version == 0:
            values = {
                "session_id": sid,
                "user_id": context.user_id,
                "user_data": user_data,
                "version": 1,
                "message_count": total,
                "created_at": context.created_at,
                "updated_at": self.now,
            }
            result = self.db.run(self.sql.insert_context_if_missing, values)
            created_at = context.created_at
        else:
            values = {
                "b_session_id": sid,
                "b_version": context.version,
                "version": context.version + 1,
                "message_count": total,
                "user_data": user_data,
                "updated_at": self.now,
            }
            result = self.db.run(self.sql.update_context, values)
            created_at = info.context_created_at or context.created_at
        if result.rowcount != 1:
            raise ConcurrencyError(
                f"the context of session {sid!r} was saved by someone else at the same time; "
                "load it and apply the change again"
            )
        if new_messages:
            first = stored_count
            rows = [message_values(sid, first + i, m) for i, m in enumerate(new_messages)]
            try:
                self.db.run_many(self.sql.insert_messages, rows)
            except IntegrityError as e:
                raise MessageIdConflict(sid, [m.id for m in new_messages]) from e
        version = context.version + 1
        self._sessions[sid] = SessionInfo(info.user_id, info.turn_count, version, total, created_at)
        return version, created_at

    # -- identities ------------------------------------------------------------------------------

    def upsert_identity(self, identity: IdentityRecord) -> datetime:
        """Insert or replace the identity (keeping ``created_at``); return its ``created_at``.

        Raises:
            OwnershipError: the id is another user's identity, or the session another user's.
            DuplicateLabelError: another non-dismissed identity of the user has the label.
        """
        if identity.session_id is not None:
            self.claim_session(identity.user_id, identity.session_id)
        else:
            self.ensure_user(identity.user_id)
        values = identity_values(identity, updated_at=self.now)
        try:
            result = self.db.run(self.sql.upsert_identity, values)
        except IntegrityError as e:
            if violates(e, *LABEL_INDEX):
                raise duplicate_label(identity) from e
            raise
        created = result.scalar()
        if created is None:
            raise OwnershipError(
                f"identity {identity.id!r} belongs to another user than {identity.user_id!r}"
            )
        return created  # type: ignore[no-any-return]

    # -- turns -----------------------------------------------------------------------------------

    def ok_turn_exists(self, session_id: str, user_message_id: str) -> bool:
        params = {"b_session_id": session_id, "b_user_message_id": user_message_id}
        return bool(self.db.run(self.sql.ok_turn_exists, params).scalar())

    def insert_turn(self, turn: TurnRecord, seq: int) -> None:
        """Store the turn as number ``seq`` of its session (after ``touch_session``).

        A check, then a plain ``INSERT``: nothing can slip in between, as the transaction
        holds SQLite's write lock, or on PostgreSQL the session row that ``touch_session``
        updated (so the check's snapshot is taken after any other commit of the session).
        Two concurrent ``ok`` turns are stopped by the partial unique index anyway. (One
        ``INSERT ... SELECT ... WHERE NOT EXISTS`` reads the table it writes, which makes
        SQLite copy the row through a temporary table: 130-300 us against 15 us here.)

        Raises:
            DuplicateTurnError: the user message already has an ``ok`` turn (then no further
                turn of it is stored, not even a failed one).
        """
        if self.ok_turn_exists(turn.session_id, turn.user_message_id):
            raise duplicate_turn(turn.session_id, turn.user_message_id)
        try:
            self.db.run(self.sql.insert_turn, turn_values(turn, seq))
        except IntegrityError as e:
            if violates(e, *OK_TURN_INDEX):
                raise duplicate_turn(turn.session_id, turn.user_message_id) from e
            raise

    # -- a whole turn ----------------------------------------------------------------------------

    def commit(self, commit: TurnCommit) -> CommitResult:
        """Write everything of one turn (see ``DatabaseInterface.commit_turn``).

        Seven statements for a turn of an existing session: the session row first (which
        returns the context's stored version and size, and on PostgreSQL locks the session),
        the context row, the new messages (one ``executemany``), the state, each identity, the
        turn log (a check and an insert); plus the user if given. (It was eight, with a
        ``SELECT`` of the session and an ``INSERT ... SELECT`` for the turn.)
        """
        context, turn = commit.context, commit.turn
        session = self.touch_session(
            context.user_id,
            context.session_id,
            message_count=context.total_messages,
            state=None if commit.state is None else commit.state.state.value,
            add_turn=turn is not None,
        )
        try:
            version, _ = self.write_context(context)
        except ConcurrencyError:
            # The same message sent twice: say so rather than "stale version".
            if turn is not None and self.ok_turn_exists(turn.session_id, turn.user_message_id):
                raise duplicate_turn(turn.session_id, turn.user_message_id) from None
            raise
        if commit.state is not None:
            self.upsert_state(commit.state)
        for identity in commit.identities:
            self.upsert_identity(identity)
        if commit.user is not None:
            self.upsert_user(commit.user)
        if turn is None:
            return CommitResult(context_version=version, turn_seq=None)
        self.insert_turn(turn, session.turn_count)
        return CommitResult(context_version=version, turn_seq=session.turn_count)


def check_commit(commit: TurnCommit) -> None:
    """Every part of a turn must belong to the context's user and session."""
    context = commit.context
    owner, session = context.user_id, context.session_id
    parts: list[tuple[str, str, str]] = []
    if commit.state is not None:
        parts.append(("state", commit.state.user_id, commit.state.session_id))
    if commit.turn is not None:
        parts.append(("turn", commit.turn.user_id, commit.turn.session_id))
    for kind, user_id, session_id in parts:
        if session_id != session:
            raise ValueError(f"the {kind} is for session {session_id!r}, the context {session!r}")
        if user_id != owner:
            raise OwnershipError(f"the {kind} is for user {user_id!r}, the context {owner!r}")
    if commit.user is not None and commit.user.id != owner:
        raise OwnershipError(f"the user record is {commit.user.id!r}, the context's {owner!r}")
    for identity in commit.identities:
        if identity.user_id != owner:
            raise OwnershipError(
                f"identity {identity.id!r} belongs to user {identity.user_id!r}, not {owner!r}"
            )


def duplicate_label(identity: IdentityRecord) -> DuplicateLabelError:
    return DuplicateLabelError(
        f"user {identity.user_id!r} already has an identity labelled {identity.label!r} "
        "(labels are compared case-insensitively); choose another label or dismiss the other "
        "identity first"
    )


def duplicate_turn(session_id: str, user_message_id: str) -> DuplicateTurnError:
    return DuplicateTurnError(
        f"message {user_message_id!r} of session {session_id!r} already has a completed turn; "
        "load the session to see its reply instead of sending it again"
    )
