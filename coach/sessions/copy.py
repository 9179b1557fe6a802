"""A fork for the same client: a new session of the session's own client holding its first N
turns as they were (the conversation up to the reply of turn N, the turn log, the phase and
focus after turn N), written in one transaction (``import_records``).

The client's identities belong to the client, not to a session, so such a fork shares them as
they are now; a fork into a copy of the client (``SessionJobs.fork``) holds them as they were.
The summary is not carried over: the next turn folds older messages again if they do not fit.
"""

from __future__ import annotations

from coach.enums import JobStatus, MessageRole, OriginKind, TurnStatus
from coach.errors import InputError
from coach.inspection.replay import replay as snapshots
from coach.persistence.base import DatabaseInterface
from coach.persistence.records import (
    ContextRecord,
    MessageRecord,
    RecordBatch,
    SessionOrigin,
    SessionRecords,
    StateRecord,
    TurnRecord,
    utcnow,
)
from coach.prompts.library import METADATA_KEY
from coach.sessions.bundles import session_records, with_new_ids


async def same_client_fork(
    db: DatabaseInterface, source_session_id: str, at_turn: int, *, by: str = ""
) -> RecordBatch:
    """The records of a fork of the session after turn ``at_turn``, for its own client, under
    new ids (not stored yet).

    Raises:
        InputError: no such session or turn, or a turn still running.
    """
    summary = await db.get_session(source_session_id)
    if summary is None:
        raise InputError(f"session {source_session_id} does not exist")
    if not 0 <= at_turn <= summary.turn_count:
        raise InputError(
            f"session {source_session_id} has turns 1 to {summary.turn_count}; "
            f"there is no turn {at_turn} to fork at"
        )
    source = await session_records(db, summary, up_to=at_turn)
    if any(t.status is TurnStatus.PENDING for t in source.turns):
        raise InputError(
            f"session {source_session_id} has a turn still being answered; try again when it ends"
        )
    context = source.context
    messages = _conversation_until(context.messages if context else [], source.turns)
    state = _state_after(summary.user_id, source_session_id, source.turns)
    metadata = context.user_data.get(METADATA_KEY, {}) if context else {}
    now = utcnow()
    fork = SessionRecords(
        session_id=source_session_id,  # renamed below, with every message id
        user_id=summary.user_id,
        created_at=now,
        last_activity_at=now,
        state=state,
        context=ContextRecord(
            user_id=summary.user_id,
            session_id=source_session_id,
            messages=messages,
            user_data={METADATA_KEY: metadata} if metadata else {},
            version=1,
            created_at=now,
            updated_at=now,
        ),
        turns=source.turns,
        origin=SessionOrigin(
            session_id=source_session_id,
            source_session_id=source_session_id,
            kind=OriginKind.FORK,
            at_turn=at_turn,
            status=JobStatus.DONE,
            turns_done=at_turn,
            turns_total=at_turn,
            created_by=by,
            created_at=now,
            ended_at=now,
        ),
    )
    copied = with_new_ids(RecordBatch(sessions=[fork]), keep=[summary.user_id])
    origin = copied.sessions[0].origin
    assert origin is not None
    origin.source_session_id = source_session_id  # the source keeps its id
    return copied


def _conversation_until(
    messages: list[MessageRecord], turns: list[TurnRecord]
) -> list[MessageRecord]:
    """The messages up to the last one of the kept turns; with no turn kept, those before the
    client's first message (the welcome)."""
    if not turns:
        first = next((i for i, m in enumerate(messages) if m.role is MessageRole.USER), None)
        return messages if first is None else messages[:first]
    kept = {t.user_message_id for t in turns} | {t.coach_message_id for t in turns}
    last = max(i for i, m in enumerate(messages) if m.id in kept)
    return messages[: last + 1]


def _state_after(user_id: str, session_id: str, turns: list[TurnRecord]) -> StateRecord:
    """The phase and focus after the last kept turn, as the turn log tells them."""
    if not turns:
        return StateRecord(user_id=user_id, session_id=session_id)
    after = snapshots([t.outline() for t in turns])[-1]
    return StateRecord(
        user_id=user_id,
        session_id=session_id,
        state=after.state,
        focus_identity_id=after.focus_identity_id,
    )
