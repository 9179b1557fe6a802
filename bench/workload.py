"""One coaching turn as the engine stores it: the reads before the model call, then one commit.

A turn reads the newest window of the conversation, the session's state and the user's
identities; it then appends the user and coach messages, changes the state, creates or changes
one identity and logs the turn, all through one ``commit_turn``. The model call itself is left
out: this is the persistence overhead of a turn.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

from bench.common import IDENTITY_LABELS, SYSTEM_PROMPT, TextSource
from coach.enums import ActionStatus, CoachingState, IdentityCategory, MessageRole
from coach.persistence.base import DatabaseInterface
from coach.persistence.records import (
    ActionResultRecord,
    ContextRecord,
    IdentityRecord,
    MessageRecord,
    StateRecord,
    TurnCommit,
    TurnRecord,
    new_id,
    utcnow,
)

#: How many recent messages a turn loads. The window is full from turn 10 on (two messages a
#: turn), so what grows between turn 10 and turn 1,000 is the stored history, not the window.
DEFAULT_MESSAGE_LIMIT = 20
#: How many identities a benchmark user ends up with (one is created per turn until then).
IDENTITIES_PER_USER = 5
PHASES = tuple(CoachingState)
PROMPT_HASH = hashlib.sha256(SYSTEM_PROMPT.encode()).hexdigest()[:16]


@dataclass
class Conversation:
    """One benchmark session and the text its turns use."""

    user_id: str = field(default_factory=new_id)
    session_id: str = field(default_factory=new_id)
    text: TextSource = field(default_factory=TextSource)
    turns: int = 0

    def next_texts(self) -> tuple[str, str]:
        return self.text.user_message(), self.text.coach_message()


@dataclass(frozen=True)
class TurnTiming:
    """Seconds spent reading and committing one turn (wall clock), and the CPU seconds the
    process used for it (all its threads: for SQLite that includes the database work itself).

    On a busy machine the wall clock also counts waiting for a core; the CPU time does not.
    """

    read: float
    commit: float
    cpu: float

    @property
    def total(self) -> float:
        return self.read + self.commit


def phase_for_turn(turn: int) -> CoachingState:
    """A phase that changes every 25 turns, so the state row really changes now and then."""
    return PHASES[(turn // 25) % len(PHASES)]


async def play_turn(
    db: DatabaseInterface,
    conv: Conversation,
    *,
    message_limit: int = DEFAULT_MESSAGE_LIMIT,
    texts: tuple[str, str] | None = None,
) -> TurnTiming:
    """Play the conversation's next turn against ``db`` and time its two halves."""
    user_text, coach_text = texts or conv.next_texts()
    turn_no = conv.turns + 1

    c0 = time.process_time()
    t0 = time.perf_counter()
    context = await db.get_context(conv.user_id, conv.session_id, message_limit=message_limit)
    state = await db.get_state(conv.user_id, conv.session_id)
    identities = await db.get_identities(conv.user_id)
    t1 = time.perf_counter()

    commit = build_commit(conv, turn_no, context, state, identities, user_text, coach_text)
    await db.commit_turn(commit)
    t2 = time.perf_counter()
    c2 = time.process_time()
    conv.turns = turn_no
    return TurnTiming(read=t1 - t0, commit=t2 - t1, cpu=c2 - c0)


def build_commit(
    conv: Conversation,
    turn_no: int,
    context: ContextRecord | None,
    state: StateRecord | None,
    identities: list[IdentityRecord],
    user_text: str,
    coach_text: str,
) -> TurnCommit:
    """Everything the turn changes, shaped as the engine writes it."""
    now = utcnow()
    if context is None:
        context = ContextRecord(user_id=conv.user_id, session_id=conv.session_id)
    user_msg = MessageRecord(role=MessageRole.USER, content=user_text, created_at=now)
    coach_msg = MessageRecord(role=MessageRole.COACH, content=coach_text, created_at=now)
    new_context = context.model_copy(
        update={
            "messages": [*context.messages, user_msg, coach_msg],
            "user_data": {"summary": f"Summary up to turn {turn_no}.", "turns": turn_no},
            "updated_at": now,
        }
    )

    state_before = state.state if state else CoachingState.INTRODUCTION
    state_after = phase_for_turn(turn_no)
    if len(identities) < IDENTITIES_PER_USER:
        label, category = IDENTITY_LABELS[len(identities)]
        identity = IdentityRecord(
            user_id=conv.user_id,
            label=label,
            category=IdentityCategory(category),
            description=f"Found in turn {turn_no}.",
            session_id=conv.session_id,
            created_at=now,
            updated_at=now,
        )
        action = ActionResultRecord(
            type="create_identity",
            params={"label": label, "category": category},
            status=ActionStatus.APPLIED,
        )
    else:
        current = identities[turn_no % len(identities)]
        note = f"Turn {turn_no}: {user_text[:60]}"
        identity = current.model_copy(
            update={"notes": [*current.notes[-2:], note], "updated_at": now}
        )
        action = ActionResultRecord(
            type="add_identity_note",
            params={"identity_id": identity.id, "note": note},
            status=ActionStatus.APPLIED,
        )
    new_state = StateRecord(
        user_id=conv.user_id,
        session_id=conv.session_id,
        state=state_after,
        focus_identity_id=identities[0].id if identities else None,
        created_at=state.created_at if state else now,
        updated_at=now,
    )
    raw_output = json.dumps(
        {"message": coach_text, "actions": [{"type": action.type, "params": action.params}]}
    )
    turn = TurnRecord(
        session_id=conv.session_id,
        user_id=conv.user_id,
        user_message_id=user_msg.id,
        coach_message_id=coach_msg.id,
        state_before=state_before,
        state_after=state_after,
        prompt_name=f"phase/{state_before.value}",
        prompt_version="1",
        prompt_hash=PROMPT_HASH,
        system_prompt=SYSTEM_PROMPT,
        model="bench-model",
        provider="scripted",
        raw_output=raw_output,
        actions=[action],
        input_tokens=900 + 12 * min(turn_no, 40),
        output_tokens=len(coach_text) // 4,
        latency_ms=850.0,
        ttft_ms=210.0,
        created_at=now,
    )
    return TurnCommit(context=new_context, state=new_state, identities=[identity], turn=turn)


@dataclass(frozen=True)
class DesignNoteTiming:
    """Seconds spent in the design note's two calls for one turn."""

    get: float
    save: float

    @property
    def total(self) -> float:
        return self.get + self.save


async def play_design_note_turn(
    db: DatabaseInterface, conv: Conversation, *, message_limit: int | None
) -> DesignNoteTiming:
    """One turn on the design note's path, as ``ContextManager`` takes it: ``get_context`` (the
    newest ``message_limit`` messages; ``None``: all), append the exchange, ``save_context``."""
    user_text, coach_text = conv.next_texts()
    t0 = time.perf_counter()
    context = await db.get_context(conv.user_id, conv.session_id, message_limit=message_limit)
    t1 = time.perf_counter()
    if context is None:
        context = ContextRecord(user_id=conv.user_id, session_id=conv.session_id)
    context.messages += [
        MessageRecord(role=MessageRole.USER, content=user_text),
        MessageRecord(role=MessageRole.COACH, content=coach_text),
    ]
    context.user_data = {"summary": f"Summary up to turn {conv.turns + 1}."}
    await db.save_context(context)
    t2 = time.perf_counter()
    conv.turns += 1
    return DesignNoteTiming(get=t1 - t0, save=t2 - t1)
