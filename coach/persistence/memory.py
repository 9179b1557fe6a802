"""The in-memory backend: a real implementation of ``DatabaseInterface`` kept in dicts.

It obeys every rule of the contract as an SQL store does, so tests and the offline demo can use
it in place of SQLite or PostgreSQL. Records are copied on the way in and on the way out. Each
write runs under one ``asyncio.Lock`` and records how to undo each change in a ``_Journal``; when
any step fails, the journal puts everything back, which makes every write, ``commit_turn``
included, all-or-nothing.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable, Mapping, MutableSet
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from coach.enums import CoachingState, IdentityState, TurnStatus
from coach.errors import (
    ConcurrencyError,
    DuplicateLabelError,
    DuplicateTurnError,
    OwnershipError,
    PersistenceError,
)
from coach.persistence.base import (
    DEFAULT_PAGE_SIZE,
    DatabaseInterface,
    apply_identity_changes,
    check_page_size,
    label_key,
    merged_user_data,
)
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
    UserRecord,
    UserSummary,
    as_utc,
    utcnow,
)

K = TypeVar("K")
V = TypeVar("V")
M = TypeVar("M", bound=BaseModel)

_MISSING: Any = object()


def _copy(record: M) -> M:
    return record.model_copy(deep=True)


def _restore(store: dict[K, V], key: K, old: V) -> None:
    if old is _MISSING:
        store.pop(key, None)
    else:
        store[key] = old


def _truncate(items: list[V], length: int) -> None:
    del items[length:]


class _Journal:
    """The undo steps of one write, so a failure halfway leaves the store as it was."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def set(self, store: dict[K, V], key: K, value: V) -> None:
        self._undo.append(partial(_restore, store, key, store.get(key, _MISSING)))
        store[key] = value

    def pop(self, store: dict[K, V], key: K) -> None:
        if key in store:
            self._undo.append(partial(_restore, store, key, store[key]))
            del store[key]

    def extend(self, items: list[V], new: list[V]) -> None:
        self._undo.append(partial(_truncate, items, len(items)))
        items.extend(new)

    def add(self, items: MutableSet[V], value: V) -> None:
        if value not in items:
            self._undo.append(partial(items.discard, value))
            items.add(value)

    def rollback(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


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
        # Session id -> the user message ids that have an ``ok`` turn (the duplicate check).
        self._answered: dict[str, set[str]] = {}

    # -- plumbing --------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise PersistenceError(
                "the in-memory database is closed; create a new one with "
                "create_database(DatabaseType.MEMORY)"
            )

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[None]:
        async with self._lock:
            self._check_open()
            yield

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[_Journal]:
        async with self._lock:
            self._check_open()
            journal = _Journal()
            try:
                yield journal
            except BaseException:
                journal.rollback()
                raise

    def _register_session(
        self, j: _Journal, user_id: str, session_id: str, now: datetime, *, touch: bool = True
    ) -> None:
        """Check the session is ``user_id``'s and record activity on it (``touch``), creating
        it (and an empty user) when it is new."""
        session = self._sessions.get(session_id)
        if session is not None and session.user_id != user_id:
            raise OwnershipError(
                f"session {session_id!r} belongs to another user, not to {user_id!r}; "
                "session ids are global: start a new session id for this user"
            )
        if session is not None and not touch:
            return
        if user_id not in self._users:
            j.set(self._users, user_id, UserRecord(id=user_id, created_at=now, updated_at=now))
        created_at = session.created_at if session is not None else now
        j.set(self._sessions, session_id, _Session(user_id, created_at, now))

    def _owned(self, session_id: str, user_id: str) -> bool:
        session = self._sessions.get(session_id)
        return session is not None and session.user_id == user_id

    # -- lifecycle -------------------------------------------------------------------------------

    async def initialize(self) -> None:
        async with self._reading():
            pass

    async def check_schema(self) -> None:
        async with self._reading():  # no schema to check; a closed database still fails
            pass

    async def close(self) -> None:
        self._closed = True

    async def count_records(self) -> dict[str, int]:
        async with self._reading():
            return {
                "users": len(self._users),
                "sessions": len(self._sessions),
                "states": len(self._states),
                "contexts": len(self._contexts),
                "messages": len(self._message_sessions),
                "identities": len(self._identities),
                "turns": sum(len(turns) for turns in self._turns.values()),
            }

    # -- users -----------------------------------------------------------------------------------

    async def get_user(self, user_id: str) -> UserRecord | None:
        async with self._reading():
            user = self._users.get(user_id)
            return None if user is None else _copy(user)

    def _save_user(self, j: _Journal, user: UserRecord, now: datetime) -> UserRecord:
        existing = self._users.get(user.id)
        created_at = user.created_at if existing is None else existing.created_at
        stored = user.model_copy(deep=True, update={"created_at": created_at, "updated_at": now})
        j.set(self._users, user.id, stored)
        return stored

    async def save_user(self, user: UserRecord) -> UserRecord:
        async with self._writing() as j:
            return _copy(self._save_user(j, user, utcnow()))

    async def update_user_data(self, user_id: str, data: Mapping[str, Any]) -> UserRecord | None:
        async with self._writing() as j:
            user = self._users.get(user_id)
            if user is None:
                return None
            merged = merged_user_data(user.data, copy.deepcopy(dict(data)))
            try:
                updated = UserRecord.model_validate(
                    {**user.model_dump(), "data": merged, "updated_at": utcnow()}
                )
            except ValidationError as e:
                raise ValueError(f"user data must be plain JSON: {e}") from e
            j.set(self._users, user_id, updated)
            return _copy(updated)

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
        async with self._reading():
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
        async with self._writing() as j:
            existed = user_id in self._users
            for session_id in [s for s, v in self._sessions.items() if v.user_id == user_id]:
                self._delete_session(j, session_id)
            for identity_id in [i.id for i in self._identities.values() if i.user_id == user_id]:
                j.pop(self._identities, identity_id)
            j.pop(self._users, user_id)
            return existed

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

    def _sessions_newest_first(self) -> list[tuple[str, _Session]]:
        return sorted(
            self._sessions.items(), key=lambda kv: (kv[1].last_activity_at, kv[0]), reverse=True
        )

    async def get_sessions_for_user(self, user_id: str) -> list[str]:
        async with self._reading():
            return [sid for sid, s in self._sessions_newest_first() if s.user_id == user_id]

    async def get_user_id_for_session(self, session_id: str) -> str | None:
        async with self._reading():
            session = self._sessions.get(session_id)
            return None if session is None else session.user_id

    async def get_session(self, session_id: str) -> SessionSummary | None:
        async with self._reading():
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
        async with self._reading():
            rows: list[tuple[str, _Session]] = []
            for sid, s in self._sessions_newest_first():
                if after is not None and (s.last_activity_at, sid) >= after:
                    continue
                if user_id is not None and s.user_id != user_id:
                    continue
                if state is not None and (
                    sid not in self._states or self._states[sid].state != state
                ):
                    continue
                if low is not None and s.last_activity_at < low:
                    continue
                if high is not None and s.last_activity_at >= high:
                    continue
                if prefix is not None and not (
                    sid.casefold().startswith(prefix) or s.user_id.casefold().startswith(prefix)
                ):
                    continue
                rows.append((sid, s))
                if len(rows) > limit:
                    break
            page = rows[:limit]
            more = len(rows) > limit
            return Page[SessionSummary](
                items=[self._session_summary(sid) for sid, _ in page],
                next_cursor=encode_cursor(page[-1][1].last_activity_at, page[-1][0])
                if more
                else None,
            )

    def _delete_session(self, j: _Journal, session_id: str) -> None:
        for message in self._messages.get(session_id, ()):
            j.pop(self._message_sessions, message.id)
        j.pop(self._states, session_id)
        j.pop(self._contexts, session_id)
        j.pop(self._messages, session_id)
        j.pop(self._turns, session_id)
        j.pop(self._answered, session_id)
        j.pop(self._sessions, session_id)
        for identity in list(self._identities.values()):
            if identity.session_id == session_id:
                j.set(
                    self._identities,
                    identity.id,
                    identity.model_copy(update={"session_id": None}),
                )

    async def delete_session(self, session_id: str) -> bool:
        async with self._writing() as j:
            if session_id not in self._sessions:
                return False
            self._delete_session(j, session_id)
            return True

    # -- state -----------------------------------------------------------------------------------

    async def get_state(self, user_id: str, session_id: str) -> StateRecord | None:
        async with self._reading():
            state = self._states.get(session_id)
            return None if state is None or state.user_id != user_id else _copy(state)

    def _save_state(self, j: _Journal, state: StateRecord, now: datetime) -> StateRecord:
        self._register_session(j, state.user_id, state.session_id, now)
        stored = _copy(state)
        j.set(self._states, state.session_id, stored)
        return stored

    async def save_state(self, state: StateRecord) -> StateRecord:
        async with self._writing() as j:
            return _copy(self._save_state(j, state, utcnow()))

    async def delete_state(self, user_id: str, session_id: str) -> bool:
        async with self._writing() as j:
            state = self._states.get(session_id)
            if state is None or state.user_id != user_id:
                return False
            j.pop(self._states, session_id)
            return True

    # -- context ---------------------------------------------------------------------------------

    async def get_context(
        self, user_id: str, session_id: str, *, message_limit: int | None = None
    ) -> ContextRecord | None:
        if message_limit is not None and message_limit < 0:
            raise ValueError(f"message_limit must be 0 or more, got {message_limit}")
        async with self._reading():
            stored = self._contexts.get(session_id)
            if stored is None or stored.user_id != user_id:
                return None
            messages = self._messages.get(session_id, [])
            start = 0 if message_limit is None else max(0, len(messages) - message_limit)
            return stored.model_copy(
                deep=True,
                update={
                    "messages": [_copy(m) for m in messages[start:]],
                    "first_message_index": start,
                },
            )

    def _save_context(self, j: _Journal, context: ContextRecord, now: datetime) -> ContextRecord:
        sid = context.session_id
        stored = self._contexts.get(sid)
        stored_version = 0 if stored is None else stored.version
        if sid in self._sessions and not self._owned(sid, context.user_id):
            raise OwnershipError(
                f"session {sid!r} belongs to another user, not to {context.user_id!r}"
            )
        if context.version != stored_version:
            raise ConcurrencyError(
                f"the context of session {sid!r} was saved by someone else (version "
                f"{context.version} was read, the stored version is {stored_version}); "
                "reload it and apply the change again"
            )
        messages = self._messages.get(sid, [])
        count = len(messages)
        if not context.first_message_index <= count <= context.total_messages:
            raise PersistenceError(
                f"the context of session {sid!r} holds messages {context.first_message_index}.."
                f"{context.total_messages} but {count} are stored: messages are append-only, "
                "so a saved context must end at or after the stored messages and start at or "
                "before their end"
            )
        new = [_copy(m) for m in context.messages[count - context.first_message_index :]]
        new_ids = [m.id for m in new]
        clash = [i for i in new_ids if i in self._message_sessions]
        if clash or len(set(new_ids)) != len(new_ids):
            raise PersistenceError(
                f"message ids repeated or already stored: {clash or new_ids}; "
                "every message needs an id of its own"
            )
        self._register_session(j, context.user_id, sid, now)
        version = stored_version + 1
        created_at = context.created_at if stored is None else stored.created_at
        j.set(
            self._contexts,
            sid,
            ContextRecord(
                user_id=context.user_id,
                session_id=sid,
                user_data=copy.deepcopy(context.user_data),
                version=version,
                created_at=created_at,
                updated_at=now,
            ),
        )
        if sid not in self._messages:
            j.set(self._messages, sid, [])
        j.extend(self._messages[sid], new)
        for message_id in new_ids:
            j.set(self._message_sessions, message_id, sid)
        return context.model_copy(
            deep=True, update={"version": version, "created_at": created_at, "updated_at": now}
        )

    async def save_context(self, context: ContextRecord) -> ContextRecord:
        async with self._writing() as j:
            return self._save_context(j, context, utcnow())

    async def delete_context(self, user_id: str, session_id: str) -> bool:
        async with self._writing() as j:
            stored = self._contexts.get(session_id)
            if stored is None or stored.user_id != user_id:
                return False
            for message in self._messages.get(session_id, ()):
                j.pop(self._message_sessions, message.id)
            j.pop(self._messages, session_id)
            j.pop(self._contexts, session_id)
            return True

    async def list_messages(
        self, session_id: str, *, start: int = 0, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[MessageRecord]:
        if start < 0 or limit < 0:
            raise ValueError(f"start and limit must be 0 or more, got {start} and {limit}")
        async with self._reading():
            messages = self._messages.get(session_id, [])
            return [_copy(m) for m in messages[start : start + limit]]

    # -- identities ------------------------------------------------------------------------------

    async def get_identities(
        self, user_id: str, *, session_id: str | None = None
    ) -> list[IdentityRecord]:
        async with self._reading():
            found = [
                i
                for i in self._identities.values()
                if i.user_id == user_id and (session_id is None or i.session_id == session_id)
            ]
            return [_copy(i) for i in sorted(found, key=lambda i: (i.created_at, i.id))]

    async def get_identity(self, identity_id: str) -> IdentityRecord | None:
        async with self._reading():
            identity = self._identities.get(identity_id)
            return None if identity is None else _copy(identity)

    def _save_identity(
        self, j: _Journal, identity: IdentityRecord, now: datetime
    ) -> IdentityRecord:
        existing = self._identities.get(identity.id)
        if existing is not None and existing.user_id != identity.user_id:
            raise OwnershipError(f"identity {identity.id!r} belongs to another user")
        if identity.state is not IdentityState.DISMISSED:
            key = label_key(identity.label)
            for other in self._identities.values():
                if (
                    other.user_id == identity.user_id
                    and other.id != identity.id
                    and other.state is not IdentityState.DISMISSED
                    and label_key(other.label) == key
                ):
                    raise DuplicateLabelError(
                        f"the user already has an identity labelled {other.label!r}; "
                        "choose another label or dismiss that identity first"
                    )
        if identity.session_id is not None:
            # An identity edited later (maybe from another session) is not activity in the
            # session it was found in, so only a new session is registered here.
            self._register_session(j, identity.user_id, identity.session_id, now, touch=False)
        elif identity.user_id not in self._users:
            j.set(self._users, identity.user_id, UserRecord(id=identity.user_id, created_at=now))
        created_at = identity.created_at if existing is None else existing.created_at
        stored = identity.model_copy(
            deep=True, update={"created_at": created_at, "updated_at": now}
        )
        j.set(self._identities, identity.id, stored)
        return stored

    async def save_identity(self, identity: IdentityRecord) -> IdentityRecord:
        async with self._writing() as j:
            return _copy(self._save_identity(j, identity, utcnow()))

    async def update_identity(
        self, identity_id: str, changes: Mapping[str, Any]
    ) -> IdentityRecord | None:
        async with self._writing() as j:
            existing = self._identities.get(identity_id)
            if existing is None:
                return None
            changed = apply_identity_changes(existing, copy.deepcopy(dict(changes)))
            return _copy(self._save_identity(j, changed, utcnow()))

    async def delete_identity(self, identity_id: str) -> bool:
        async with self._writing() as j:
            existed = identity_id in self._identities
            j.pop(self._identities, identity_id)
            return existed

    # -- turns -----------------------------------------------------------------------------------

    def _save_turn(self, j: _Journal, turn: TurnRecord, now: datetime) -> TurnRecord:
        self._register_session(j, turn.user_id, turn.session_id, now)
        turns = self._turns.get(turn.session_id, [])
        if turn.user_message_id in self._answered.get(turn.session_id, ()):
            raise DuplicateTurnError(
                f"message {turn.user_message_id!r} already has a completed turn; "
                "load the stored reply instead of running the turn again"
            )
        seq = 1 if not turns else (turns[-1].seq or 0) + 1
        stored = turn.model_copy(deep=True, update={"seq": seq})
        if turn.session_id not in self._turns:
            j.set(self._turns, turn.session_id, [])
        j.extend(self._turns[turn.session_id], [stored])
        if stored.status is TurnStatus.OK:
            if turn.session_id not in self._answered:
                j.set(self._answered, turn.session_id, set())
            j.add(self._answered[turn.session_id], turn.user_message_id)
        return stored

    async def save_turn(self, turn: TurnRecord) -> TurnRecord:
        async with self._writing() as j:
            return _copy(self._save_turn(j, turn, utcnow()))

    async def list_turns(
        self, session_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[TurnRecord]:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be 0 or more, got {limit}")
        async with self._reading():
            turns = [t for t in self._turns.get(session_id, ()) if (t.seq or 0) > after_seq]
            return [_copy(t) for t in turns[:limit]]

    async def get_turn_for_message(
        self, session_id: str, user_message_id: str
    ) -> TurnRecord | None:
        async with self._reading():
            for turn in reversed(self._turns.get(session_id, [])):
                if turn.user_message_id == user_message_id:
                    return _copy(turn)
            return None

    async def commit_turn(self, commit: TurnCommit) -> CommitResult:
        _check_commit(commit)
        async with self._writing() as j:
            now = utcnow()
            context = self._save_context(j, commit.context, now)
            if commit.state is not None:
                self._save_state(j, commit.state, now)
            for identity in commit.identities:
                self._save_identity(j, identity, now)
            if commit.user is not None:
                self._save_user(j, commit.user, now)
            turn = None if commit.turn is None else self._save_turn(j, commit.turn, now)
            return CommitResult(
                context_version=context.version, turn_seq=None if turn is None else turn.seq
            )


def _check_commit(commit: TurnCommit) -> None:
    """The state and turn of a commit must be the context's session's, as in the SQL backend."""
    owner, session = commit.context.user_id, commit.context.session_id
    for kind, part in (("state", commit.state), ("turn", commit.turn)):
        if part is None:
            continue
        if part.session_id != session:
            raise ValueError(f"the {kind} is for session {part.session_id!r}, not {session!r}")
        if part.user_id != owner:
            raise OwnershipError(f"the {kind} is for user {part.user_id!r}, not {owner!r}")


def _user_matches(user: UserRecord, prefix: str) -> bool:
    name = user.data.get("name")
    return user.id.casefold().startswith(prefix) or (
        isinstance(name, str) and name.casefold().startswith(prefix)
    )


__all__ = ["InMemoryDatabase"]
