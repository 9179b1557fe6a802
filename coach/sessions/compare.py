"""Compare two sessions (a fork, a replay, any two): where they first diverge, their phase
paths, the identities each found, and their totals; and the transcript aligned by turn, a page
at a time.

Nothing unbounded is loaded: the phase paths, totals and the divergence of coaching events
come from the turn summaries, read once per session a page at a time (as the inspector reads
them); the conversations are compared a page of messages at a time, stopping at the first
difference; the transcript is read a page of turns at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import JsonValue

from coach.costs import Price, Priced, total_cost
from coach.enums import TurnStatus
from coach.errors import InputError
from coach.persistence.base import MAX_PAGE_SIZE, DatabaseInterface
from coach.persistence.records import (
    MessageRecord,
    SessionSummary,
    TurnOutline,
    TurnSummary,
)
from coach.sessions.replay import identity_facts, turn_differences

#: Messages compared per read, per session.
MESSAGE_PAGE = 500


@dataclass(frozen=True)
class Side:
    """One session's totals."""

    session_id: str
    user_id: str
    turns: int
    failed_turns: int
    input_tokens: int
    output_tokens: int
    latency_ms: float
    phase_path: list[str]
    cost: Priced

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "cost": self.cost.model_dump()}


@dataclass(frozen=True)
class IdentityChange:
    label: str
    #: ``only in A``, ``only in B``, or ``changed``.
    change: str
    a: dict[str, JsonValue] | None
    b: dict[str, JsonValue] | None


@dataclass
class Comparison:
    a: Side
    b: Side
    #: The first turn whose coaching events (phase, decision, actions) differ, and how.
    first_event_divergence: int | None
    event_divergence: list[str]
    #: The first turn whose client message or reply text differs.
    first_text_divergence: int | None
    identities: list[IdentityChange] = field(default_factory=list)

    @property
    def first_divergence(self) -> int | None:
        found = [s for s in (self.first_event_divergence, self.first_text_divergence) if s]
        return min(found) if found else None

    def as_json(self) -> dict[str, Any]:
        return {
            "a": self.a.as_json(),
            "b": self.b.as_json(),
            "first_divergence": self.first_divergence,
            "first_event_divergence": self.first_event_divergence,
            "event_divergence": self.event_divergence,
            "first_text_divergence": self.first_text_divergence,
            "identities": [asdict(i) for i in self.identities],
        }


@dataclass(frozen=True)
class TurnRow:
    """One turn of both sessions, side by side."""

    seq: int
    a: TurnSummary | None
    b: TurnSummary | None
    a_texts: tuple[str, str]
    b_texts: tuple[str, str]

    @property
    def differs(self) -> bool:
        if self.a is None or self.b is None:
            return True
        return bool(turn_differences(self.a, self.b, None)) or self.a_texts != self.b_texts


async def compare_sessions(
    db: DatabaseInterface, a_id: str, b_id: str, *, prices: Mapping[str, Price] | None = None
) -> Comparison:
    """Compare sessions ``a_id`` and ``b_id`` (their cost from ``prices``, the settings'
    ``model_prices``).

    Raises:
        InputError: either session does not exist.
    """
    a, b = await _summary(db, a_id), await _summary(db, b_id)
    a_turns, b_turns = await _all_turns(db, a_id), await _all_turns(db, b_id)
    seq, how = _event_divergence(a_turns, b_turns)
    return Comparison(
        a=_side(a, a_turns, prices or {}),
        b=_side(b, b_turns, prices or {}),
        first_event_divergence=seq,
        event_divergence=how,
        first_text_divergence=await _text_divergence(db, a_id, b_id),
        identities=_identity_changes(
            await _found_identities(db, a), await _found_identities(db, b)
        ),
    )


async def transcript_page(
    db: DatabaseInterface, a_id: str, b_id: str, *, after_seq: int, limit: int
) -> list[TurnRow]:
    """Turns ``after_seq + 1`` to ``after_seq + limit`` of both sessions, side by side, with
    each turn's client message and reply."""
    a = {t.seq or 0: t for t in await db.list_turns(a_id, after_seq=after_seq, limit=limit)}
    b = {t.seq or 0: t for t in await db.list_turns(b_id, after_seq=after_seq, limit=limit)}
    rows = []
    for seq in sorted(set(a) | set(b)):
        a_turn, b_turn = a.get(seq), b.get(seq)
        rows.append(
            TurnRow(
                seq=seq,
                a=a_turn,
                b=b_turn,
                a_texts=await _texts(db, a_turn),
                b_texts=await _texts(db, b_turn),
            )
        )
    return rows


async def _summary(db: DatabaseInterface, session_id: str) -> SessionSummary:
    summary = await db.get_session(session_id)
    if summary is None:
        raise InputError(f"session {session_id} does not exist")
    return summary


async def _all_turns(db: DatabaseInterface, session_id: str) -> list[TurnSummary]:
    """Every turn's summary (what it did and cost), a page at a time: read once, for the
    totals, the phase path and the divergence."""
    turns: list[TurnSummary] = []
    while page := await db.list_turns(session_id, after_seq=len(turns), limit=MAX_PAGE_SIZE):
        turns += page
    return turns


def _side(summary: SessionSummary, turns: list[TurnSummary], prices: Mapping[str, Price]) -> Side:
    return Side(
        session_id=summary.session_id,
        user_id=summary.user_id,
        turns=len(turns),
        failed_turns=sum(1 for t in turns if t.status is TurnStatus.FAILED),
        input_tokens=sum(t.input_tokens or 0 for t in turns),
        output_tokens=sum(t.output_tokens or 0 for t in turns),
        latency_ms=round(sum(t.latency_ms or 0.0 for t in turns), 1),
        phase_path=[t.state_after.value for t in turns],
        cost=total_cost(
            prices, ((t.provider, t.model, t.input_tokens, t.output_tokens) for t in turns)
        ),
    )


def _event_divergence(
    a: Sequence[TurnOutline], b: Sequence[TurnOutline]
) -> tuple[int | None, list[str]]:
    for first, second in zip(a, b, strict=False):
        found = turn_differences(first, second, None)
        if found:
            return first.seq, [d.describe("in A", "in B") for d in found]
    if len(a) != len(b):
        seq = min(len(a), len(b)) + 1
        longer = "A" if len(a) > len(b) else "B"
        return seq, [f"turn {seq}: only {longer} has it ({len(a)} turns against {len(b)})"]
    return None, []


async def _text_divergence(db: DatabaseInterface, a_id: str, b_id: str) -> int | None:
    """The turn of the first message (client's or coach's) whose text differs, read a page at
    a time; ``None`` when the conversations are the same."""
    start = 0
    while True:
        a = await db.list_messages(a_id, start=start, limit=MESSAGE_PAGE)
        b = await db.list_messages(b_id, start=start, limit=MESSAGE_PAGE)
        for x, y in zip(a, b, strict=False):
            if (x.role, x.content) != (y.role, y.content):
                return await _turn_of(db, a_id, x)
        if len(a) != len(b):
            shorter = a if len(a) < len(b) else b
            longer, session = (b, b_id) if shorter is a else (a, a_id)
            return await _turn_of(db, session, longer[len(shorter)])
        if len(a) < MESSAGE_PAGE:
            return None
        start += MESSAGE_PAGE


async def _turn_of(db: DatabaseInterface, session_id: str, message: MessageRecord) -> int | None:
    """The turn a message belongs to (the welcome belongs to none: 0)."""
    asked = message.reply_to or message.id
    turn = await db.get_turn_for_message(session_id, asked)
    return 0 if turn is None else turn.seq


async def _texts(db: DatabaseInterface, turn: TurnSummary | None) -> tuple[str, str]:
    if turn is None:
        return "", ""
    texts = []
    for message_id in (turn.user_message_id, turn.coach_message_id):
        message = None if message_id is None else await db.get_message(turn.session_id, message_id)
        texts.append("" if message is None else message.content)
    return texts[0], texts[1]


async def _found_identities(
    db: DatabaseInterface, summary: SessionSummary
) -> dict[str, dict[str, JsonValue]]:
    """The identities the session found (those of its client it created), by label."""
    return {
        i.label.casefold(): identity_facts(i)
        for i in await db.get_identities(summary.user_id)
        if i.session_id == summary.session_id
    }


def _identity_changes(
    a: dict[str, dict[str, JsonValue]], b: dict[str, dict[str, JsonValue]]
) -> list[IdentityChange]:
    changes = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if x == y:
            continue
        label = str((x or y or {}).get("label", key))
        change = "only in A" if y is None else "only in B" if x is None else "changed"
        changes.append(IdentityChange(label, change, x, y))
    return changes
