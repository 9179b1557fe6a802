"""The in-memory backend: a real implementation of ``DatabaseInterface`` kept in dicts.

It obeys every rule of the contract as an SQL store does, so tests and the offline demo can use
it in place of SQLite or PostgreSQL. Records are copied on the way in and on the way out
(messages are frozen, so they are shared). Each operation runs under one ``asyncio.Lock``; a
commit makes every check (``rules``) before it changes anything, which makes it all-or-nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel

from coach.enums import CoachingState, TurnStatus
from coach.errors import PersistenceError
from coach.persistence import rules
from coach.persistence.base import DEFAULT_PAGE_SIZE, DatabaseInterface
from coach.persistence.paging import decode_cursor, encode_cursor
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
    TurnSummary,
    UserRecord,
    UserSummary,
    as_utc,
    utcnow,
)
from coach.persistence.rules import StoredIdentity, StoredSession, StoredTurn, check_page_size

M = TypeVar("M", bound=BaseModel)


def _copy(record: M) -> M:
    return record.model_copy(deep=True)


@dataclass(frozen=True)
class _Session:
    user_id: str
    created_at: datetime
    last_activity_at: datetime


class InMemoryDatabase(DatabaseInterface):
    """``DatabaseInterface`` in process memory. Nothing survives the process."""

    backend_name = "memory"

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._closed = False
        self._users: dict[str, UserRecord] = {}
        self._sessions: dict[str, _Session] = {}
        # States, contexts, messages and turns are keyed by session id: a session has one owner.
        self._states: dict[str, StateRecord] = {}
        self._contexts: dict[str, ContextRecord] = {}  # stored without messages
        self._messages: dict[str, list[MessageRecord]] = {}
        self._message_sessions: dict[str, str] = {}  # message id -> session id
        self._identities: dict[str, IdentityRecord] = {}
        self._turns: dict[str, list[TurnRecord]] = {}
        # Session id -> user message id -> its live (ok or pending) turn.
        self._live: dict[str, dict[str, StoredTurn]] = {}

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[None]:
        async with self._lock:
            if self._closed:
                raise PersistenceError(
                    "the in-memory database is closed; create a new one with "
                    "create_database(DatabaseType.MEMORY)"
                )
            yield

    # -- lifecycle -------------------------------------------------------------------------------

    async def initialize(self) -> None:
        async with self._open():
            pass

    async def check_schema(self) -> None:
        async with self._open():  # no schema to check; a closed database still fails
            pass

    async def close(self) -> None:
        self._closed = True

    async def count_records(self) -> dict[str, int]:
        async with self._open():
            return {
                "users": len(self._users),
                "sessions": len(self._sessions),
                "states": len(self._states),
                "contexts": len(self._contexts),
                "messages": len(self._message_sessions),
                "identities": len(self._identities),
                "turns": sum(len(turns) for turns in self._turns.values()),
            }

    # -- the one write ---------------------------------------------------------------------------

    async def commit_turn(self, commit: TurnCommit) -> CommitResult:
        owner, session_id = rules.commit_owner(commit)
        async with self._open():
            now = utcnow()
            turn = commit.turn
            live = None if turn is None else self._live_turn(turn)
            new = rules.check_commit(commit, self._stored_session(session_id), live=live)
            if commit.user is not None:
                stored_user = self._users.get(owner)
                rules.check_version(
                    f"user {owner!r}",
                    None if stored_user is None else stored_user.version,
                    commit.user.version,
                )
            taken = [m.id for m in new if m.id in self._message_sessions]
            if taken and commit.context is not None:
                raise rules.message_ids_taken(commit.context.session_id, taken)
            rules.check_identities(commit.identities, self._stored_identities(commit.identities))
            for identity in commit.identities:
                if identity.session_id is not None:
                    rules.check_session_owner(
                        identity.session_id,
                        self._stored_session(identity.session_id),
                        identity.user_id,
                    )
            # Every check passed: nothing below can fail.
            return self._apply(commit, owner, session_id, new, now)

    def _apply(
        self,
        commit: TurnCommit,
        owner: str,
        session_id: str | None,
        new: list[MessageRecord],
        now: datetime,
    ) -> CommitResult:
        if commit.user is not None:
            self._save_user(commit.user, now)
        elif owner not in self._users:
            # A placeholder: at version 0, as not saved by anyone yet.
            self._users[owner] = UserRecord(id=owner, created_at=now, updated_at=now)
        if session_id is not None:
            self._touch_session(owner, session_id, now)
        result = CommitResult(committed_at=now)
        if commit.context is not None:
            result.context_version, result.context_created_at = self._save_context(
                commit.context, new, now
            )
        if commit.state is not None:
            self._states[commit.state.session_id] = _copy(commit.state)
        for identity in commit.identities:
            if identity.session_id is not None and identity.session_id not in self._sessions:
                # Editing an identity later is not activity in the session it was found in,
                # so only a new session is registered.
                self._touch_session(owner, identity.session_id, now)
            existing = self._identities.get(identity.id)
            self._identities[identity.id] = identity.model_copy(
                deep=True,
                update={
                    "version": identity.version + 1,
                    "created_at": identity.created_at if existing is None else existing.created_at,
                    "updated_at": now,
                },
            )
        if commit.turn is not None:
            result.turn_seq = self._save_turn(commit.turn)
        return result

    def _stored_session(self, session_id: str | None) -> StoredSession | None:
        session = None if session_id is None else self._sessions.get(session_id)
        if session is None or session_id is None:
            return None
        context = self._contexts.get(session_id)
        return StoredSession(
            user_id=session.user_id,
            context_version=None if context is None else context.version,
            message_count=len(self._messages.get(session_id, ())),
        )

    def _stored_identities(self, written: Iterable[IdentityRecord]) -> list[StoredIdentity]:
        ids = {i.id for i in written}
        users = {i.user_id for i in written}
        return [
            StoredIdentity.of(i)
            for i in self._identities.values()
            if i.id in ids or i.user_id in users
        ]

    def _touch_session(self, user_id: str, session_id: str, now: datetime) -> None:
        session = self._sessions.get(session_id)
        created_at = now if session is None else session.created_at
        self._sessions[session_id] = _Session(user_id, created_at, now)

    def _save_user(self, user: UserRecord, now: datetime) -> None:
        existing = self._users.get(user.id)
        self._users[user.id] = user.model_copy(
            deep=True,
            update={
                "version": user.version + 1,
                "created_at": user.created_at if existing is None else existing.created_at,
                "updated_at": now,
            },
        )

    def _save_context(
        self, context: ContextRecord, new: list[MessageRecord], now: datetime
    ) -> tuple[int, datetime]:
        sid = context.session_id
        stored = self._contexts.get(sid)
        created_at = context.created_at if stored is None else stored.created_at
        version = context.version + 1
        self._contexts[sid] = ContextRecord(
            user_id=context.user_id,
            session_id=sid,
            user_data=context.model_dump(include={"user_data"})["user_data"],
            version=version,
            created_at=created_at,
            updated_at=now,
        )
        self._messages.setdefault(sid, []).extend(new)
        for message in new:
            self._message_sessions[message.id] = sid
        return version, created_at

    def _live_turn(self, turn: TurnSummary) -> StoredTurn | None:
        return self._live.get(turn.session_id, {}).get(turn.user_message_id)

    def _save_turn(self, turn: TurnRecord) -> int:
        turns = self._turns.setdefault(turn.session_id, [])
        seq = turn.seq or len(turns) + 1
        stored = turn.model_copy(deep=True, update={"seq": seq})
        if turn.seq is None:
            turns.append(stored)
        else:
            turns[seq - 1] = stored  # completes its pending turn (checked by the rules)
        live = self._live.setdefault(turn.session_id, {})
        if turn.status is TurnStatus.FAILED:
            live.pop(turn.user_message_id, None)
        else:
            live[turn.user_message_id] = StoredTurn(seq, turn.status)
        return seq

    # -- users -----------------------------------------------------------------------------------

    async def get_user(self, user_id: str) -> UserRecord | None:
        async with self._open():
            user = self._users.get(user_id)
            return None if user is None else _copy(user)

    def _user_summary(self, user: UserRecord) -> UserSummary:
        sessions = [s for s in self._sessions.values() if s.user_id == user.id]
        name = user.data.get("name")
        return UserSummary(
            id=user.id,
            name=name if isinstance(name, str) else None,
            session_count=len(sessions),
            created_at=user.created_at,
            last_activity_at=max((s.last_activity_at for s in sessions), default=None),
        )

    async def list_users(
        self,
        *,
        search: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[UserSummary]:
        check_page_size(limit)
        after = None if cursor is None else decode_cursor(cursor)
        async with self._open():
            users = list(self._users.values())
            if search:
                prefix = search.casefold()
                users = [u for u in users if _user_matches(u, prefix)]
            rows = sorted(users, key=lambda u: (u.created_at, u.id), reverse=True)
            if after is not None:
                rows = [u for u in rows if (u.created_at, u.id) < after]
            page = rows[:limit]
            more = len(rows) > limit
            return Page[UserSummary](
                items=[self._user_summary(u) for u in page],
                next_cursor=encode_cursor(page[-1].created_at, page[-1].id) if more else None,
            )

    async def delete_user(self, user_id: str) -> bool:
        async with self._open():
            for session_id in [s for s, v in self._sessions.items() if v.user_id == user_id]:
                self._delete_session(session_id)
            for identity_id in [i.id for i in self._identities.values() if i.user_id == user_id]:
                del self._identities[identity_id]
            return self._users.pop(user_id, None) is not None

    # -- sessions --------------------------------------------------------------------------------

    def _session_summary(self, session_id: str) -> SessionSummary:
        session = self._sessions[session_id]
        state = self._states.get(session_id)
        return SessionSummary(
            session_id=session_id,
            user_id=session.user_id,
            state=None if state is None else state.state,
            message_count=len(self._messages.get(session_id, ())),
            turn_count=len(self._turns.get(session_id, ())),
            created_at=session.created_at,
            last_activity_at=session.last_activity_at,
        )

    async def get_session(self, session_id: str) -> SessionSummary | None:
        async with self._open():
            if session_id not in self._sessions:
                return None
            return self._session_summary(session_id)

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
        after = None if cursor is None else decode_cursor(cursor)
        low = None if active_after is None else as_utc(active_after)
        high = None if active_before is None else as_utc(active_before)
        prefix = search.casefold() if search else None

        def keep(sid: str, s: _Session) -> bool:
            stored_state = self._states.get(sid)
            return (
                (after is None or (s.last_activity_at, sid) < after)
                and (user_id is None or s.user_id == user_id)
                and (state is None or (stored_state is not None and stored_state.state == state))
                and (low is None or s.last_activity_at >= low)
                and (high is None or s.last_activity_at < high)
                and (
                    prefix is None
                    or sid.casefold().startswith(prefix)
                    or s.user_id.casefold().startswith(prefix)
                )
            )

        async with self._open():
            newest_first = sorted(
                self._sessions.items(),
                key=lambda kv: (kv[1].last_activity_at, kv[0]),
                reverse=True,
            )
            rows = [(sid, s) for sid, s in newest_first if keep(sid, s)][: limit + 1]
            page = rows[:limit]
            more = len(rows) > limit
            return Page[SessionSummary](
                items=[self._session_summary(sid) for sid, _ in page],
                next_cursor=encode_cursor(page[-1][1].last_activity_at, page[-1][0])
                if more
                else None,
            )

    def _delete_session(self, session_id: str) -> None:
        self._delete_messages(session_id)
        self._states.pop(session_id, None)
        self._contexts.pop(session_id, None)
        self._turns.pop(session_id, None)
        self._live.pop(session_id, None)
        del self._sessions[session_id]
        for identity in list(self._identities.values()):
            if identity.session_id == session_id:
                self._identities[identity.id] = identity.model_copy(update={"session_id": None})

    def _delete_messages(self, session_id: str) -> None:
        for message in self._messages.pop(session_id, ()):
            del self._message_sessions[message.id]

    async def delete_session(self, session_id: str) -> bool:
        async with self._open():
            if session_id not in self._sessions:
                return False
            self._delete_session(session_id)
            return True

    # -- state -----------------------------------------------------------------------------------

    async def get_state(self, user_id: str, session_id: str) -> StateRecord | None:
        async with self._open():
            state = self._states.get(session_id)
            return None if state is None or state.user_id != user_id else _copy(state)

    async def delete_state(self, user_id: str, session_id: str) -> bool:
        async with self._open():
            state = self._states.get(session_id)
            if state is None or state.user_id != user_id:
                return False
            del self._states[session_id]
            return True

    # -- context ---------------------------------------------------------------------------------

    async def get_context(
        self, user_id: str, session_id: str, *, message_limit: int | None = None
    ) -> ContextRecord | None:
        if message_limit is not None and message_limit < 0:
            raise ValueError(f"message_limit must be 0 or more, got {message_limit}")
        async with self._open():
            stored = self._contexts.get(session_id)
            if stored is None or stored.user_id != user_id:
                return None
            messages = self._messages.get(session_id, [])
            start = 0 if message_limit is None else max(0, len(messages) - message_limit)
            return stored.model_copy(
                deep=True, update={"messages": messages[start:], "first_message_index": start}
            )

    async def delete_context(self, user_id: str, session_id: str) -> bool:
        async with self._open():
            stored = self._contexts.get(session_id)
            if stored is None or stored.user_id != user_id:
                return False
            self._delete_messages(session_id)
            del self._contexts[session_id]
            return True

    async def get_message(self, session_id: str, message_id: str) -> MessageRecord | None:
        async with self._open():
            if self._message_sessions.get(message_id) != session_id:
                return None
            return next(m for m in self._messages[session_id] if m.id == message_id)

    async def list_messages(
        self, session_id: str, *, start: int = 0, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[MessageRecord]:
        if start < 0 or limit < 0:
            raise ValueError(f"start and limit must be 0 or more, got {start} and {limit}")
        async with self._open():
            return self._messages.get(session_id, [])[start : start + limit]

    # -- identities ------------------------------------------------------------------------------

    async def get_identities(
        self, user_id: str, *, session_id: str | None = None
    ) -> list[IdentityRecord]:
        async with self._open():
            found = [
                i
                for i in self._identities.values()
                if i.user_id == user_id and (session_id is None or i.session_id == session_id)
            ]
            return [_copy(i) for i in sorted(found, key=lambda i: (i.created_at, i.id))]

    async def get_identity(self, identity_id: str) -> IdentityRecord | None:
        async with self._open():
            identity = self._identities.get(identity_id)
            return None if identity is None else _copy(identity)

    async def delete_identity(self, identity_id: str) -> bool:
        async with self._open():
            return self._identities.pop(identity_id, None) is not None

    # -- turns -----------------------------------------------------------------------------------

    async def list_turns(
        self, session_id: str, *, after_seq: int = 0, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[TurnSummary]:
        check_page_size(limit)
        if after_seq < 0:
            raise ValueError(f"after_seq must be 0 or more, got {after_seq}")
        async with self._open():
            turns = self._turns.get(session_id, [])[after_seq : after_seq + limit]
            return [t.summary() for t in turns]

    async def get_turn(self, session_id: str, seq: int) -> TurnRecord | None:
        async with self._open():
            turns = self._turns.get(session_id, [])
            return _copy(turns[seq - 1]) if 1 <= seq <= len(turns) else None

    async def get_turn_for_message(
        self, session_id: str, user_message_id: str
    ) -> TurnSummary | None:
        async with self._open():
            for turn in reversed(self._turns.get(session_id, [])):
                if turn.user_message_id == user_message_id:
                    return turn.summary()
            return None

    async def list_pending_turns(self, *, limit: int = DEFAULT_PAGE_SIZE) -> list[TurnSummary]:
        check_page_size(limit)
        async with self._open():
            pending = [
                self._turns[sid][live.seq - 1]
                for sid, by_message in self._live.items()
                for live in by_message.values()
                if live.status is TurnStatus.PENDING
            ]
            pending.sort(key=lambda t: (t.created_at, t.session_id, t.seq or 0))
            return [t.summary() for t in pending[:limit]]


def _user_matches(user: UserRecord, prefix: str) -> bool:
    name = user.data.get("name")
    return user.id.casefold().startswith(prefix) or (
        isinstance(name, str) and name.casefold().startswith(prefix)
    )


__all__ = ["InMemoryDatabase"]
