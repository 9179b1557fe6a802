"""Builders for the contract tests: valid records with plain defaults and fresh ids.

Timestamps from ``tick()`` strictly increase, so records built one after another sort in the
order they were built on every backend, even on a clock that repeats a microsecond.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest

from coach.enums import CoachingState, IdentityCategory, IdentityState, MessageRole, TurnStatus
from coach.persistence import (
    ContextRecord,
    DatabaseInterface,
    IdentityRecord,
    MessageRecord,
    StateRecord,
    TurnRecord,
    UserRecord,
)
from coach.persistence.records import utcnow

_last: list[datetime] = [utcnow()]


@contextmanager
def raises(
    error: type[BaseException], *, match: str | None = None
) -> Iterator[pytest.ExceptionInfo[BaseException]]:
    """``pytest.raises``, but the error must be exactly ``error``, not a subclass of it: every
    backend must raise the same type for the same refusal."""
    with pytest.raises(error, match=match) as info:
        yield info
    assert type(info.value) is error, (
        f"expected exactly {error.__name__}, got {type(info.value).__name__}: {info.value}"
    )


def tick() -> datetime:
    """The current UTC time, always later than the previous ``tick()``."""
    now = max(utcnow(), _last[0] + timedelta(microseconds=1))
    _last[0] = now
    return now


def uid(prefix: str = "id") -> str:
    """A new id that no other test uses, readable in failure messages."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def user(user_id: str | None = None, **fields: Any) -> UserRecord:
    fields.setdefault("created_at", tick())
    return UserRecord(id=user_id or uid("user"), **fields)


def state(
    user_id: str, session_id: str, phase: CoachingState = CoachingState.INTRODUCTION, **fields: Any
) -> StateRecord:
    return StateRecord(user_id=user_id, session_id=session_id, state=phase, **fields)


def message(
    content: str = "hello", role: MessageRole = MessageRole.USER, **fields: Any
) -> MessageRecord:
    fields.setdefault("created_at", tick())
    return MessageRecord(role=role, content=content, **fields)


def messages(count: int, *, start: int = 0) -> list[MessageRecord]:
    """``count`` messages numbered from ``start``, alternating user and coach."""
    roles = (MessageRole.USER, MessageRole.COACH)
    return [message(f"message {i}", roles[i % 2]) for i in range(start, start + count)]


def context(
    user_id: str,
    session_id: str,
    msgs: list[MessageRecord] | None = None,
    **fields: Any,
) -> ContextRecord:
    return ContextRecord(user_id=user_id, session_id=session_id, messages=msgs or [], **fields)


def identity(
    user_id: str,
    label: str | None = None,
    *,
    session_id: str | None = None,
    category: IdentityCategory = IdentityCategory.PASSIONS_AND_TALENTS,
    state: IdentityState = IdentityState.PROPOSED,
    **fields: Any,
) -> IdentityRecord:
    fields.setdefault("created_at", tick())
    return IdentityRecord(
        user_id=user_id,
        label=label or f"Label {uuid.uuid4().hex[:8]}",
        category=category,
        state=state,
        session_id=session_id,
        **fields,
    )


def turn(
    user_id: str,
    session_id: str,
    user_message_id: str | None = None,
    *,
    status: TurnStatus = TurnStatus.OK,
    **fields: Any,
) -> TurnRecord:
    fields.setdefault("created_at", tick())
    fields.setdefault("state_before", CoachingState.INTRODUCTION)
    fields.setdefault("state_after", CoachingState.INTRODUCTION)
    if status is TurnStatus.FAILED:
        fields.setdefault("error", "the model timed out")
    return TurnRecord(
        user_id=user_id,
        session_id=session_id,
        user_message_id=user_message_id or uid("msg"),
        status=status,
        **fields,
    )


async def stored_context(
    db: DatabaseInterface, user_id: str, session_id: str, count: int
) -> ContextRecord:
    """Save a new context holding ``count`` messages and return it as loaded back."""
    await db.save_context(context(user_id, session_id, messages(count)))
    loaded = await db.get_context(user_id, session_id)
    assert loaded is not None
    return loaded


async def snapshot(db: DatabaseInterface, user_id: str, session_id: str) -> dict[str, Any]:
    """Everything stored about a user and one session, to prove a write changed nothing."""
    return {
        "user": await db.get_user(user_id),
        "state": await db.get_state(user_id, session_id),
        "context": await db.get_context(user_id, session_id),
        "identities": await db.get_identities(user_id),
        "turns": [
            await db.get_turn(session_id, t.seq or 0)
            for t in await db.list_turns(session_id, limit=1000)
        ],
        "session": await db.get_session(session_id),
        "sessions": await db.get_sessions_for_user(user_id),
        "counts": await db.count_records(),
    }
