"""Judging a played conversation on its coaching events, as the turn log stored them.

Each assertion of a scenario gives one ``CheckOutcome``: passed or not, and what was seen. The
checks read only stored records (the conversation's turns, replies and the client's
identities), so a conversation is judged the same whether it was just played or read back.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Literal, assert_never

from coach.enums import ActionStatus, TurnStatus
from coach.evals.scenario import (
    ActionsNeverUsed,
    ActionsUsed,
    Assertion,
    IdentitiesCreated,
    NoFailedTurn,
    PhaseReached,
    RefusedTransitions,
    ReplyRules,
)
from coach.persistence.records import IdentityRecord, JsonDict, TurnSummary

_QUESTION = re.compile(r"\?+")


@dataclass(frozen=True)
class CheckOutcome:
    """One assertion (or rubric criterion) judged on one conversation."""

    name: str
    passed: bool
    detail: str
    kind: Literal["check", "rubric"] = "check"

    def to_json(self) -> JsonDict:
        return asdict(self)


@dataclass
class Played:
    """What a conversation left: its own turns in order (a fixture's excluded), the client's
    message and the reply of each (``""`` for a failed turn), and the client's identities at
    its end."""

    turns: list[TurnSummary]
    said: list[str]
    replies: list[str]
    identities: list[IdentityRecord] = field(default_factory=list)


def judge(assertions: list[Assertion], played: Played) -> list[CheckOutcome]:
    """Every assertion judged on the conversation, in order."""
    return [_judge(a, played) for a in assertions]


def _judge(assertion: Assertion, played: Played) -> CheckOutcome:
    name = assertion.describe()
    passed, detail = _outcome(assertion, played)
    return CheckOutcome(name=name, passed=passed, detail=detail)


def _outcome(assertion: Assertion, played: Played) -> tuple[bool, str]:
    turns = played.turns
    if isinstance(assertion, PhaseReached):
        at = next(
            (i for i, t in enumerate(turns, 1) if t.state_after is assertion.phase),
            None,
        )
        if at is None:
            last = turns[-1].state_after.value if turns else "no turn"
            return False, f"not reached in {_turns(len(turns))}; ended in {last}"
        if assertion.by_turn is not None and at > assertion.by_turn:
            return False, f"reached at turn {at}, after turn {assertion.by_turn}"
        return True, f"reached at turn {at}"
    if isinstance(assertion, RefusedTransitions):
        refused = [i for i, t in enumerate(turns, 1) if t.transition_refused_reason]
        ok = (assertion.at_least is None or len(refused) >= assertion.at_least) and (
            assertion.at_most is None or len(refused) <= assertion.at_most
        )
        where = f" (turns {', '.join(map(str, refused))})" if refused else ""
        return ok, f"{len(refused)} refused{where}"
    if isinstance(assertion, IdentitiesCreated):
        return _identities(assertion, played)
    if isinstance(assertion, ActionsUsed):
        applied = {a.type for t in turns for a in t.actions if a.status is ActionStatus.APPLIED}
        missing = [a.value for a in assertion.actions if a.value not in applied]
        if missing:
            return False, "never applied: " + ", ".join(missing)
        return True, "all applied"
    if isinstance(assertion, ActionsNeverUsed):
        asked = [
            (i, a.type)
            for i, t in enumerate(turns, 1)
            for a in t.actions
            if a.type in {x.value for x in assertion.actions}
        ]
        if asked:
            return False, "asked for: " + ", ".join(f"{kind} (turn {i})" for i, kind in asked)
        return True, "never asked for"
    if isinstance(assertion, ReplyRules):
        return _replies(assertion, played.replies)
    if isinstance(assertion, NoFailedTurn):
        failed = [i for i, t in enumerate(turns, 1) if t.status is TurnStatus.FAILED]
        if failed:
            first = turns[failed[0] - 1].error or "no reason stored"
            return False, f"turns {', '.join(map(str, failed))} failed (first: {first})"
        return True, f"{_turns(len(turns))}, none failed"
    assert_never(assertion)


def _identities(assertion: IdentitiesCreated, played: Played) -> tuple[bool, str]:
    created_ids = [
        str(a.params.get("identity_id", ""))
        for t in played.turns
        for a in t.actions
        if a.type == "create_identity" and a.status is ActionStatus.APPLIED
    ]
    by_id = {i.id: i for i in played.identities}
    created = [by_id[i] for i in created_ids if i in by_id]
    count = len(created_ids)
    problems = []
    if assertion.min is not None and count < assertion.min:
        problems.append(f"{count} created, fewer than {assertion.min}")
    if assertion.max is not None and count > assertion.max:
        problems.append(f"{count} created, more than {assertion.max}")
    if assertion.categories:
        off = [
            f"{i.label} ({i.category.value})"
            for i in created
            if i.category not in assertion.categories
        ]
        if off:
            problems.append("other categories: " + ", ".join(off))
    if assertion.states:
        off = [f"{i.label} ({i.state.value})" for i in created if i.state not in assertion.states]
        if off:
            problems.append("other states: " + ", ".join(off))
    if problems:
        return False, "; ".join(problems)
    kinds = ", ".join(f"{i.label} ({i.category.value}, {i.state.value})" for i in created)
    return True, f"{count} created" + (f": {kinds}" if kinds else "")


def _replies(rules: ReplyRules, replies: list[str]) -> tuple[bool, str]:
    broken = []
    for i, text in enumerate(replies, 1):
        if rules.max_chars is not None and len(text) > rules.max_chars:
            broken.append(f"turn {i}: {len(text)} characters")
        questions = len(_QUESTION.findall(text))
        if rules.max_questions is not None and questions > rules.max_questions:
            broken.append(f"turn {i}: {questions} questions")
    if broken:
        return False, "; ".join(broken)
    return True, f"{len(replies)} replies kept to it"


def _turns(n: int) -> str:
    return f"{n} turn{'s' * (n != 1)}"
