"""``commit_turn`` on SQL: read what the rules need, let them decide, then write.

A ``Writer`` works on one connection inside one write transaction (``BEGIN IMMEDIATE`` on
SQLite; on PostgreSQL the session's row, updated first, is locked until the commit). It reads
what is stored (the session with its context's version and size, the user's version, the user's
identities), calls the shared checks of ``coach.persistence.rules``, and only then writes, with
Core statements built once (``statements``). Any error aborts the caller's transaction, so a
refused or failed commit leaves nothing behind.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from coach.enums import IdentityState, TurnStatus
from coach.errors import ConcurrencyError
from coach.persistence import rules
from coach.persistence.records import (
    CommitResult,
    ContextRecord,
    IdentityRecord,
    MessageRecord,
    TurnCommit,
    TurnRecord,
)
from coach.persistence.rules import StoredIdentity, StoredSession, StoredTurn
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
from coach.persistence.sql.errors import violates
from coach.persistence.sql.statements import statements, touch_statement

LABEL_INDEX = ("uq_identities_user_id_label_key", "identities.user_id, identities.label_key")
LIVE_TURN_INDEX = (
    "uq_turns_session_id_user_message_id",
    "turns.session_id, turns.user_message_id",
)


class Writer:
    """The steps of one commit. ``now`` is the time every written record gets."""

    def __init__(self, conn: Connection, now: datetime) -> None:
        self.conn = conn
        self.sql = statements(conn.dialect.name)
        self.now = now

    def run(self, statement: Any, params: Any) -> Any:
        return self.conn.execute(statement, params)

    def commit(self, commit: TurnCommit) -> CommitResult:
        """Write a whole commit (see ``DatabaseInterface.commit_turn``)."""
        owner, session_id = rules.commit_owner(commit)
        # The user's version is read before the session is registered, which creates an
        # empty user when there is none.
        user_version = None
        if commit.user is not None:
            user_version = self.run(self.sql.user_version, {"b_user_id": owner}).scalar()
        session, turn_count, context_created_at = self._touch(commit, session_id)
        turn = commit.turn
        live = None
        if turn is not None:
            row = self.run(
                self.sql.live_turn,
                {"b_session_id": turn.session_id, "b_user_message_id": turn.user_message_id},
            ).first()
            live = None if row is None else StoredTurn(row.seq, TurnStatus(row.status))
        new = rules.check_commit(commit, session, live=live)
        if commit.user is not None:
            rules.check_version(f"user {owner!r}", user_version, commit.user.version)
        if new and commit.context is not None:
            ids = [m.id for m in new]
            taken = self.run(self.sql.taken_message_ids, {"b_ids": ids}).scalars().all()
            if taken:
                sid = commit.context.session_id
                if session is None and self._session(sid) is not None:
                    # The session did not exist when this write began: another writer created
                    # it since, with these messages (PostgreSQL: read committed).
                    raise ConcurrencyError(
                        f"session {sid!r} was created by someone else at the same time; "
                        "load it and apply the change again"
                    )
                raise rules.message_ids_taken(sid, taken)
        if commit.identities:
            rules.check_identities(commit.identities, self._stored_identities(owner, commit))
            for identity in commit.identities:
                if identity.session_id is not None and identity.session_id != session_id:
                    rules.check_session_owner(
                        identity.session_id, self._session(identity.session_id), owner
                    )

        # Every check passed; the statements' own guards catch writers in other transactions.
        if commit.user is not None:
            self._upsert_user(commit)
        else:
            self.run(self.sql.insert_user_if_missing, empty_user_values(owner, self.now))
        if session_id is not None and session is None:
            turn_count = self._register(owner, session_id, commit)
        result = CommitResult(committed_at=self.now)
        if commit.context is not None:
            result.context_version = self._write_context(commit.context, session, new)
            result.context_created_at = context_created_at or commit.context.created_at
        if commit.state is not None:
            self.run(self.sql.upsert_state, state_values(commit.state))
        for identity in commit.identities:
            if identity.session_id not in (None, session_id):
                # A session named only by an identity is registered, not touched: editing an
                # identity later is not activity in the session it was found in.
                self.run(
                    self.sql.insert_session_if_missing,
                    _new_session_values(identity.user_id, identity.session_id, self.now),
                )
            self._upsert_identity(identity)
        if turn is not None:
            result.turn_seq = self._write_turn(turn, turn_count)
        return result

    # -- sessions ---------------------------------------------------------------------------------

    def _touch(
        self, commit: TurnCommit, session_id: str | None
    ) -> tuple[StoredSession | None, int, datetime | None]:
        """Record the write on the session's row (activity, counts, phase) and return what is
        stored of the session (``None`` for a new session, or no session), its turn count
        after this commit, and its context's creation time."""
        if session_id is None:
            return None, 0, None
        context, state, turn = commit.context, commit.state, commit.turn
        new_turn = turn is not None and turn.seq is None
        statement = touch_statement(context is not None, state is not None, new_turn)
        row = self.run(
            statement,
            {
                "b_session_id": session_id,
                "b_now": self.now,
                "b_message_count": None if context is None else context.total_messages,
                "b_state": None if state is None else state.state.value,
            },
        ).first()
        if row is None:
            return None, 0, None
        return StoredSession(row[0], row[2], row[3] or 0), row[1], row[4]

    def _session(self, session_id: str) -> StoredSession | None:
        row = self.run(self.sql.session_info, {"b_session_id": session_id}).first()
        return None if row is None else StoredSession(row[0], row[2], row[3] or 0)

    def _register(self, owner: str, session_id: str, commit: TurnCommit) -> int:
        """Create a new session row (its user exists by now) with the commit's counts; return
        its turn count."""
        values = _new_session_values(owner, session_id, self.now)
        values["state"] = None if commit.state is None else commit.state.state.value
        values["message_count"] = 0 if commit.context is None else commit.context.total_messages
        values["turn_count"] = 0 if commit.turn is None or commit.turn.seq is not None else 1
        if self.run(self.sql.insert_session_if_missing, values).rowcount != 1:
            # Created by another transaction since ``_touch`` found nothing.
            raise ConcurrencyError(
                f"session {session_id!r} was created by someone else at the same time; "
                "load it and apply the change again"
            )
        return int(values["turn_count"])

    # -- records ----------------------------------------------------------------------------------

    def _upsert_user(self, commit: TurnCommit) -> None:
        user = commit.user
        assert user is not None
        values = user_values(user, updated_at=self.now)
        values["b_expected_version"] = user.version
        if self.run(self.sql.upsert_user, values).first() is None:
            raise ConcurrencyError(
                f"user {user.id!r} was saved by someone else at the same time; "
                "reload it and apply the change again"
            )

    def _write_context(
        self, context: ContextRecord, session: StoredSession | None, new: list[MessageRecord]
    ) -> int:
        """Store the context's next version and append its new messages (checked already);
        return the new version."""
        sid = context.session_id
        user_data = context_user_data(context)
        if context.version == 0:
            result = self.run(
                self.sql.insert_context_if_missing,
                {
                    "session_id": sid,
                    "user_id": context.user_id,
                    "user_data": user_data,
                    "version": 1,
                    "message_count": context.total_messages,
                    "created_at": context.created_at,
                    "updated_at": self.now,
                },
            )
        else:
            result = self.run(
                self.sql.update_context,
                {
                    "b_session_id": sid,
                    "b_version": context.version,
                    "version": context.version + 1,
                    "message_count": context.total_messages,
                    "user_data": user_data,
                    "updated_at": self.now,
                },
            )
        if result.rowcount != 1:
            raise ConcurrencyError(
                f"the context of session {sid!r} was saved by someone else at the same time; "
                "load it and apply the change again"
            )
        if new:
            first = 0 if session is None else session.message_count
            rows = [message_values(sid, first + i, m) for i, m in enumerate(new)]
            self.run(self.sql.insert_messages, rows)
        return context.version + 1

    def _stored_identities(self, owner: str, commit: TurnCommit) -> list[StoredIdentity]:
        """The owner's stored identities, and any stored one with an id being written."""
        rows = self.run(
            self.sql.stored_identities,
            {"b_user_id": owner, "b_ids": [i.id for i in commit.identities]},
        )
        return [
            StoredIdentity(
                row.id, row.user_id, row.label, row.state == IdentityState.DISMISSED, row.version
            )
            for row in rows
        ]

    def _write_turn(self, turn: TurnRecord, turn_count: int) -> int:
        """Insert a new turn as number ``turn_count``, or complete its pending turn; return
        its ``seq``."""
        if turn.seq is not None:
            values = turn_values(turn, turn.seq)
            values.update(b_session_id=turn.session_id, b_seq=turn.seq)
            if self.run(self.sql.update_pending_turn, values).rowcount != 1:
                raise rules.turn_not_pending(turn)  # completed by another transaction
            return turn.seq
        try:
            self.run(self.sql.insert_turn, turn_values(turn, turn_count))
        except IntegrityError as e:
            if violates(e, *LIVE_TURN_INDEX):  # started by another transaction
                raise rules.duplicate_turn(turn.session_id, turn.user_message_id) from e
            raise
        return turn_count

    def _upsert_identity(self, identity: IdentityRecord) -> None:
        values = identity_values(identity, updated_at=self.now)
        values["b_expected_version"] = identity.version
        try:
            row = self.run(self.sql.upsert_identity, values).first()
        except IntegrityError as e:
            if violates(e, *LABEL_INDEX):
                raise rules.duplicate_label(identity) from e
            raise
        if row is None:
            raise ConcurrencyError(
                f"identity {identity.label!r} ({identity.id}) was saved by someone else at the "
                "same time; reload it and apply the change again"
            )


def _new_session_values(user_id: str, session_id: str, now: datetime) -> dict[str, Any]:
    return {
        "id": session_id,
        "user_id": user_id,
        "id_key": search_key(session_id),
        "user_key": search_key(user_id),
        "state": None,
        "message_count": 0,
        "turn_count": 0,
        "created_at": now,
        "last_activity_at": now,
    }
