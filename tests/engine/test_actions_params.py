"""Where each action is allowed, and what its params and the ids it names must be."""

from __future__ import annotations

from typing import Any

import pytest

from coach.actions import ALLOWED_ACTIONS, PARAMS_MODELS, ActionType
from coach.enums import CoachingState
from coach.persistence.records import ActionItemRecord
from tests.engine.action_helpers import (
    OTHER_USER,
    SPEC_PHASES,
    A,
    act,
    context,
    identity,
    phase_of,
    rejected,
    valid_params,
)


def test_there_are_13_actions() -> None:
    assert len(ActionType) == 13 == len(SPEC_PHASES)


def test_allowed_actions_are_exactly_the_spec_table() -> None:
    for state in CoachingState:
        assert ALLOWED_ACTIONS[state] == {a for a, phases in SPEC_PHASES.items() if state in phases}


NOT_ALLOWED = [(a, s) for a in ActionType for s in CoachingState if s not in SPEC_PHASES[a]]


@pytest.mark.parametrize(("action", "phase"), NOT_ALLOWED, ids=str)
def test_an_action_outside_its_phases_is_rejected(action: ActionType, phase: CoachingState) -> None:
    target = identity("Creative Visionary", action_items=[ActionItemRecord(text="Sketch")])
    ctx = context(phase, target)
    allowed = ", ".join(a.value for a in ActionType if a in ALLOWED_ACTIONS[phase])
    reason = f"{action.value} is not allowed in phase {phase.value}; allowed there: {allowed}"
    rejected(ctx, act(action.value, **valid_params(target)[action]), reason)


ID_ACTIONS = [a for a in ActionType if "identity_id" in PARAMS_MODELS[a].model_fields]


@pytest.mark.parametrize("action", ID_ACTIONS, ids=str)
def test_an_unknown_identity_id_is_rejected(action: ActionType) -> None:
    target = identity("Creative Visionary", action_items=[ActionItemRecord(text="Sketch")])
    params = valid_params(target)[action] | {"identity_id": "nope"}
    ctx = context(phase_of(action), target)
    rejected(ctx, act(action.value, **params), "unknown identity id 'nope': not one of this client")
    rejected(
        ctx, act(action.value, **params), "unknown identity id 'nope': no identity has", owners={}
    )


@pytest.mark.parametrize("action", ID_ACTIONS, ids=str)
def test_another_users_identity_id_is_rejected(action: ActionType) -> None:
    theirs = identity("Their Identity", user_id=OTHER_USER)
    mine = identity("Creative Visionary", action_items=[ActionItemRecord(text="Sketch")])
    params = valid_params(mine)[action] | {"identity_id": theirs.id}
    reason = f"identity {theirs.id!r} belongs to another user"
    # known from the owners lookup the engine passes in ...
    rejected(
        context(phase_of(action), mine),
        act(action.value, **params),
        reason,
        owners={theirs.id: OTHER_USER},
    )
    # ... or because a record of another user slipped into the context
    rejected(context(phase_of(action), mine, theirs), act(action.value, **params), reason)


BAD_PARAMS: list[tuple[ActionType, dict[str, Any], str]] = [
    (A.SAVE_USER_INFO, {"key": "age", "value": "41"}, "key: Input should be 'name' or 'goal'"),
    (A.SAVE_USER_INFO, {"key": "name", "value": "  "}, "value: String should have at least 1"),
    (
        A.SAVE_USER_INFO,
        {"key": "name", "value": "x" * 101},
        "value: a name must be one line of at most",
    ),
    (A.SAVE_USER_INFO, {"key": "goal"}, "value: required"),
    (
        A.CREATE_IDENTITY,
        {"label": "Visionary", "category": "spiritual"},
        "label: must be 2–4 words; 'Visionary' has 1",
    ),
    (
        A.CREATE_IDENTITY,
        {"label": "A Very Long Label Here", "category": "spiritual"},
        "label: must be 2–4 words; 'A Very Long Label Here' has 5",
    ),
    (
        A.CREATE_IDENTITY,
        {"label": "Line\nBreak", "category": "spiritual"},
        "label: must be a single line",
    ),
    (
        A.CREATE_IDENTITY,
        {"label": "Good Label", "category": "hobbies"},
        "category: Input should be",
    ),
    (
        A.CREATE_IDENTITY,
        {"label": "Good Label", "category": "spiritual", "mood": 1},
        "mood: unknown field (the params are: label, category, note)",
    ),
    (
        A.CREATE_IDENTITY,
        {"label": "Good Label", "category": "spiritual", "note": "x" * 1001},
        "note: String should have at most 1000",
    ),
    (A.UPDATE_IDENTITY, {"identity_id": "id-1"}, "nothing to change: give a label, a category"),
    (A.ACCEPT_IDENTITY, {}, "identity_id: required"),
    (A.ACCEPT_IDENTITY, {"identity_id": 7}, "identity_id: Input should be a valid string"),
    (A.DISMISS_IDENTITY, {"identity_id": "x" * 65}, "identity_id: String should have at most 64"),
    (
        A.ADD_IDENTITY_NOTE,
        {"identity_id": "id-1", "note": ""},
        "note: String should have at least 1",
    ),
    (
        A.ADD_IDENTITY_NOTE,
        {"identity_id": "id-1", "note": "bell\x07"},
        "note: must not contain control characters",
    ),
    (A.SELECT_FOCUS_IDENTITY, {"identity_id": None}, "identity_id: Input should be a valid string"),
    (
        A.SET_AFFIRMATION,
        {"identity_id": "id-1", "affirmation": "You are bold"},
        'affirmation: must be an "I am …" statement',
    ),
    (A.MARK_IDENTITY_REFINED, {"id": "id-1"}, "identity_id: required; id: unknown field"),
    (
        A.SAVE_VISUALIZATION,
        {"identity_id": "id-1", "visualization": "x" * 4001},
        "visualization: String should have at most 4000",
    ),
    (
        A.ADD_ACTION_ITEM,
        {"identity_id": "id-1", "text": "x" * 301},
        "text: String should have at most 300",
    ),
    (A.COMPLETE_ACTION_ITEM, {"identity_id": "id-1"}, "action_item_id: required"),
    (A.TRANSITION_STATE, {"to_state": "nirvana"}, "to_state: Input should be 'introduction', "),
]


@pytest.mark.parametrize(("action", "params", "reason"), BAD_PARAMS, ids=str)
def test_bad_params_are_rejected_naming_the_field(
    action: ActionType, params: dict[str, Any], reason: str
) -> None:
    ctx = context(phase_of(action), identity("Creative Visionary", id="id-1"))
    rejected(ctx, act(action.value, **params), "bad params: " + reason)


def test_every_action_has_a_bad_params_case() -> None:
    assert {a for a, _, _ in BAD_PARAMS} == set(ActionType)
