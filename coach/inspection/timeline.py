"""The phase timeline of a session: each turn's requested, made or refused phase change,
and summary rows of the turns and their actions."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from coach.costs import Price, turn_cost, usd_text
from coach.enums import ActionStatus, CoachingState, TurnStatus
from coach.models import PHASE_ORDER
from coach.persistence.records import TurnOutline, TurnSummary

PHASE_LABELS: dict[CoachingState, str] = {
    CoachingState.INTRODUCTION: "Introduction",
    CoachingState.IDENTITY_BRAINSTORMING: "Brainstorming",
    CoachingState.IDENTITY_REFINEMENT: "Refinement",
    CoachingState.IDENTITY_VISUALIZATION: "Visualization",
    CoachingState.ACTION_PLANNING: "Action planning",
    CoachingState.ACCOUNTABILITY: "Accountability",
}


def phase_number(state: CoachingState) -> int:
    """The phase's position in the usual order, from 1 to 6."""
    return PHASE_ORDER.index(state) + 1


def phase_label(state: CoachingState | None) -> str:
    """A short human name for the phase ("Brainstorming"); "—" for none."""
    return PHASE_LABELS[state] if state is not None else "—"


TransitionOutcome = Literal["moved", "refused", "stayed", "no request", "failed"]


@dataclass(frozen=True)
class PhaseStep:
    """One turn on the phase timeline: where the session was, what was asked, what happened."""

    seq: int
    at: datetime
    state_before: CoachingState
    state_after: CoachingState
    requested: CoachingState | None
    outcome: TransitionOutcome
    reason: str | None

    def row(self) -> dict[str, Any]:
        """A table row."""
        return {
            "turn": self.seq,
            "at": self.at,
            "before": self.state_before.value,
            "after": self.state_after.value,
            "requested": self.requested.value if self.requested else "",
            "outcome": self.outcome,
            "reason": self.reason or "",
        }


def phase_timeline(turns: Iterable[TurnOutline]) -> list[PhaseStep]:
    """One step per turn, in order: the phase change each turn requested, made or refused."""
    steps = []
    for turn in turns:
        outcome: TransitionOutcome
        reason = turn.transition_refused_reason
        if turn.status is TurnStatus.FAILED:
            outcome, reason = "failed", turn.error
        elif turn.requested_transition is None:
            outcome = "no request"
        elif turn.transition_refused_reason:
            outcome = "refused"
        elif turn.state_after is not turn.state_before:
            outcome = "moved"
        else:
            outcome = "stayed"
        steps.append(
            PhaseStep(
                seq=turn.seq or 0,
                at=turn.created_at,
                state_before=turn.state_before,
                state_after=turn.state_after,
                requested=turn.requested_transition,
                outcome=outcome,
                reason=reason,
            )
        )
    return steps


#: Outcomes that leave the phase as it was and tell nothing else.
QUIET_OUTCOMES = frozenset({"stayed", "no request"})


def timeline_points(
    steps: Sequence[PhaseStep], *, quiet_turns: bool = True
) -> list[dict[str, Any]]:
    """Points for a phase-over-turns chart: the phase after each turn, plus a point at the
    requested phase for every refused request (``kind`` tells them apart). The first point
    (turn 0) is where the session started.

    Args:
        quiet_turns: also a point for each turn that left the phase as it was without a
            refused request or a failure. Without them (for sessions of thousands of turns)
            a step line through the points is the same, since the phase only changes at the
            points kept; the last turn is always kept, so the line reaches it.
    """
    points: list[dict[str, Any]] = []
    if steps:
        first = steps[0].state_before
        points.append(
            {
                "turn": 0,
                "phase": phase_label(first),
                "phase_number": phase_number(first),
                "kind": "start",
                "detail": "",
            }
        )
    last = len(steps) - 1
    for i, step in enumerate(steps):
        if not quiet_turns and step.outcome in QUIET_OUTCOMES and i != last:
            continue
        points.append(
            {
                "turn": step.seq,
                "phase": phase_label(step.state_after),
                "phase_number": phase_number(step.state_after),
                "kind": step.outcome,
                "detail": step.reason or "",
            }
        )
        if step.outcome == "refused" and step.requested is not None:
            points.append(
                {
                    "turn": step.seq,
                    "phase": phase_label(step.requested),
                    "phase_number": phase_number(step.requested),
                    "kind": "refused request",
                    "detail": step.reason or "",
                }
            )
    return points


# --- turns --------------------------------------------------------------------------------------


def turn_rows(
    turns: Iterable[TurnSummary], prices: Mapping[str, Price] | None = None
) -> list[dict[str, Any]]:
    """One summary row per turn (with ``prices``, its cost too)."""
    rows = []
    for turn in turns:
        applied = sum(1 for a in turn.actions if a.status is ActionStatus.APPLIED)
        rows.append(
            {
                "turn": turn.seq,
                "status": turn.status.value,
                "phase": f"{turn.state_before.value} → {turn.state_after.value}",
                "applied": applied,
                "rejected": len(turn.actions) - applied,
                "input tokens": turn.input_tokens,
                "output tokens": turn.output_tokens,
                "latency ms": round(turn.latency_ms, 1) if turn.latency_ms is not None else None,
                "ttft ms": round(turn.ttft_ms, 1) if turn.ttft_ms is not None else None,
                "at": turn.created_at,
            }
        )
        if prices is not None:
            usd = turn_cost(
                prices, turn.provider, turn.model, turn.input_tokens, turn.output_tokens
            )
            rows[-1]["cost"] = usd_text(usd)
    return rows


def action_rows(turn: TurnOutline) -> list[dict[str, Any]]:
    """The turn's actions with their results."""
    return [
        {
            "action": a.type,
            "status": a.status.value,
            "reason": a.reason or "",
            "params": json.dumps(a.params, ensure_ascii=False),
        }
        for a in turn.actions
    ]


def prompt_refs(prompt_version: str) -> list[tuple[str, str]]:
    """The parts and versions a turn's ``prompt_version`` names (``persona@1+intro@2``), in
    order; empty when it names none in that form."""
    refs = []
    for ref in prompt_version.split("+"):
        part, at, number = ref.partition("@")
        if not (at and part and number):
            return []
        refs.append((part, number))
    return refs
