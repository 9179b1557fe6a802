"""Parsing the model's reply and applying its actions to a ``CoachContext``, one at a time.

A reply is ``{message, actions: [{type, params}]}``. Parsing is tolerant (``CoachReply``): an
unknown type, bad params or a malformed entry never fails the reply; it becomes a rejected
action. ``apply_actions`` then checks each action on its own, in order — allowed in this phase,
params valid, ids known and this client's, labels unique, the lifecycle move legal — and applies
it or rejects it with a reason. Later actions see the effects of earlier ones (an identity created
and accepted in one reply works). ``transition_state`` is only recorded here; the state machine
decides after all the actions are applied.

The parts live in this package's modules and the public names are re-exported here: the
vocabulary (``ActionType``, params models, ``ALLOWED_ACTIONS``) in ``params``, the schema sent to
the model in ``schema``, tolerant reply parsing in ``reply``, and what each action does in
``effects``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from coach.actions.effects import ActionOutcome, Rejected, TurnState, apply_effect
from coach.actions.params import (
    ACTION_PHASES,
    ALLOWED_ACTIONS,
    PARAMS_MODELS,
    ActionType,
    allowed_in_order,
)
from coach.actions.reply import (
    MALFORMED,
    CoachReply,
    RawAction,
    describe_validation_error,
    parse_reply,
)
from coach.actions.schema import response_schema
from coach.enums import ActionStatus, CoachingState
from coach.models import CoachContext
from coach.persistence.records import ActionResultRecord, JsonDict, utcnow


def referenced_identity_ids(actions: Iterable[RawAction]) -> set[str]:
    """Every ``identity_id`` the actions name, so the engine can look up unknown ones' owners."""
    return {
        value.strip()
        for a in actions
        if isinstance(value := a.params.get("identity_id"), str) and value.strip()
    }


def apply_actions(
    context: CoachContext,
    raw_actions: Iterable[RawAction | Mapping[str, Any]],
    *,
    now: datetime | None = None,
    identity_owners: Mapping[str, str] | None = None,
) -> ActionOutcome:
    """Apply the model's actions to ``context`` one at a time; one bad action never stops the rest.

    Args:
        context: the session; its ``identities`` are all of the client's. Changed attributes
            (``identities``, ``focus_identity_id``, ``user_profile``) are reassigned with new
            values; the records and containers they held before are never mutated, so a caller
            may keep them to compare.
        raw_actions: the actions in the order the model wrote them.
        now: the time stamped on what is created or changed (default: now, UTC).
        identity_owners: optional ``identity id -> user id`` for ids that are not in the context
            (see ``referenced_identity_ids``). With it, an id of another user's identity is
            rejected as such and an id found nowhere as unknown; without it, both are rejected
            as "not one of this client's identities".

    Returns:
        One result per action (applied, or rejected with a reason) and what changed.
    """
    turn = TurnState(
        user_id=context.user_id,
        session_id=context.session_id,
        now=now or utcnow(),
        owners=identity_owners,
        identities=list(context.identities),
        focus=context.focus_identity_id,
        profile=dict(context.user_profile),
    )
    for item in raw_actions:
        raw = _raw(item)
        try:
            echo = _apply_one(turn, raw, context.current_state)
        except Rejected as rejection:
            _record(turn, raw.type, raw.params, ActionStatus.REJECTED, str(rejection))
        else:
            _record(turn, raw.type, echo, ActionStatus.APPLIED)
    outcome = turn.outcome
    if outcome.changed_identity_ids:
        context.identities = turn.identities
    if outcome.focus_changed:
        context.focus_identity_id = turn.focus
    if outcome.user_data_changes:
        context.user_profile = turn.profile
    return outcome


def _raw(item: RawAction | Mapping[str, Any]) -> RawAction:
    """``item`` as a ``RawAction``; one that is not plain JSON becomes a malformed action."""
    if isinstance(item, RawAction):
        return item
    try:
        return RawAction.model_validate(item)
    except ValidationError as e:
        kind = item.get("type") if isinstance(item, Mapping) else None
        return RawAction.malformed(
            f"malformed action: {describe_validation_error(e)}",
            kind=kind if isinstance(kind, str) and kind else MALFORMED,
        )


def _record(
    turn: TurnState, kind: str, params: JsonDict, status: ActionStatus, reason: str | None = None
) -> None:
    result = ActionResultRecord(type=kind, params=params, status=status, reason=reason)
    turn.outcome.results.append(result)


def _apply_one(turn: TurnState, raw: RawAction, state: CoachingState) -> JsonDict:
    """Check and apply one action; return the params to echo. Raises ``Rejected``."""
    if raw.problem:
        raise Rejected(raw.problem)
    try:
        action = ActionType(raw.type)
    except ValueError:
        known = ", ".join(a.value for a in ActionType)
        raise Rejected(f"unknown action type {raw.type!r}; the actions are: {known}") from None
    if action not in ALLOWED_ACTIONS[state]:
        allowed = ", ".join(a.value for a in allowed_in_order(state))
        raise Rejected(
            f"{action.value} is not allowed in phase {state.value}; allowed there: {allowed}"
        )
    try:
        params = PARAMS_MODELS[action].model_validate(raw.params)
    except ValidationError as e:
        fields = PARAMS_MODELS[action].model_fields
        raise Rejected(f"bad params: {describe_validation_error(e, fields=fields)}") from None
    echo: JsonDict = params.model_dump(mode="json", exclude_none=True)
    echo.update(apply_effect(turn, params))
    return echo


__all__ = [
    "ACTION_PHASES",
    "ALLOWED_ACTIONS",
    "PARAMS_MODELS",
    "ActionOutcome",
    "ActionType",
    "CoachReply",
    "RawAction",
    "allowed_in_order",
    "apply_actions",
    "parse_reply",
    "referenced_identity_ids",
    "response_schema",
]
