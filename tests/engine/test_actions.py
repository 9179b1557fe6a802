"""The 13 actions: where they are allowed, their params, what they do, and why they are rejected."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from coach.actions import (
    ALLOWED_ACTIONS,
    PARAMS_MODELS,
    ActionOutcome,
    ActionType,
    CoachReply,
    RawAction,
    apply_actions,
    parse_reply,
    referenced_identity_ids,
    response_schema,
)
from coach.enums import ActionStatus, CoachingState, IdentityCategory, IdentityState
from coach.errors import LLMResponseError
from coach.models import CoachContext
from coach.persistence.records import ActionItemRecord, ActionResultRecord, IdentityRecord

S, I, A = CoachingState, IdentityState, ActionType  # noqa: E741
USER, OTHER_USER = "user-1", "user-2"
NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
EARLIER = datetime(2026, 1, 1, tzinfo=UTC)

# --- helpers ------------------------------------------------------------------------------------


def identity(
    label: str, state: IdentityState = I.ACCEPTED, *, user_id: str = USER, **fields: Any
) -> IdentityRecord:
    return IdentityRecord.model_validate(
        {
            "user_id": user_id,
            "label": label,
            "category": IdentityCategory.PASSIONS_AND_TALENTS,
            "state": state,
            "created_at": EARLIER,
            "updated_at": EARLIER,
        }
        | fields
    )


def context(
    phase: CoachingState, *identities: IdentityRecord, focus: str | None = None, **fields: Any
) -> CoachContext:
    return CoachContext(
        user_id=USER,
        session_id="session-1",
        current_state=phase,
        identities=list(identities),
        focus_identity_id=focus,
        **fields,
    )


def act(kind: str, **params: Any) -> dict[str, Any]:
    return {"type": kind, "params": params}


def run(ctx: CoachContext, *actions: Any, owners: dict[str, str] | None = None) -> ActionOutcome:
    return apply_actions(ctx, actions, now=NOW, identity_owners=owners)


def only(outcome: ActionOutcome) -> ActionResultRecord:
    assert len(outcome.results) == 1
    return outcome.results[0]


def applied(ctx: CoachContext, action: dict[str, Any]) -> ActionResultRecord:
    result = only(run(ctx, action))
    assert result.status is ActionStatus.APPLIED, result.reason
    assert result.reason is None
    return result


def rejected(ctx: CoachContext, action: dict[str, Any], reason: str, **kw: Any) -> None:
    """The action is rejected with ``reason`` in its reason, and nothing changes."""
    before = ctx.model_dump()
    outcome = run(ctx, action, **kw)
    result = only(outcome)
    assert result.status is ActionStatus.REJECTED
    assert result.reason is not None and reason in result.reason, result.reason
    assert result.params == action["params"]
    assert ctx.model_dump() == before
    assert not outcome.changed_identity_ids and not outcome.user_data_changes
    assert outcome.requested_transition is None


def get(ctx: CoachContext, identity_id: str) -> IdentityRecord:
    found = ctx.identity(identity_id)
    assert found is not None
    return found


# --- the table ----------------------------------------------------------------------------------

SPEC_PHASES: dict[ActionType, set[CoachingState]] = {
    A.SAVE_USER_INFO: set(S),
    A.CREATE_IDENTITY: {S.IDENTITY_BRAINSTORMING},
    A.UPDATE_IDENTITY: {S.IDENTITY_BRAINSTORMING, S.IDENTITY_REFINEMENT},
    A.ACCEPT_IDENTITY: {S.IDENTITY_BRAINSTORMING},
    A.DISMISS_IDENTITY: {S.IDENTITY_BRAINSTORMING},
    A.ADD_IDENTITY_NOTE: set(S) - {S.INTRODUCTION},
    A.SELECT_FOCUS_IDENTITY: {S.IDENTITY_REFINEMENT, S.ACCOUNTABILITY},
    A.SET_AFFIRMATION: {S.IDENTITY_REFINEMENT},
    A.MARK_IDENTITY_REFINED: {S.IDENTITY_REFINEMENT},
    A.SAVE_VISUALIZATION: {S.IDENTITY_VISUALIZATION},
    A.ADD_ACTION_ITEM: {S.ACTION_PLANNING},
    A.COMPLETE_ACTION_ITEM: {S.ACCOUNTABILITY},
    A.TRANSITION_STATE: set(S),
}


def test_there_are_13_actions() -> None:
    assert len(ActionType) == 13 == len(SPEC_PHASES)


def test_allowed_actions_are_exactly_the_spec_table() -> None:
    for state in CoachingState:
        assert ALLOWED_ACTIONS[state] == {a for a, phases in SPEC_PHASES.items() if state in phases}


#: Valid params for each action, given an accepted identity with one open action item.
def valid_params(target: IdentityRecord) -> dict[ActionType, dict[str, Any]]:
    return {
        A.SAVE_USER_INFO: {"key": "name", "value": "Maya"},
        A.CREATE_IDENTITY: {"label": "Devoted Parent", "category": "familial_relations"},
        A.UPDATE_IDENTITY: {"identity_id": target.id, "category": "spiritual"},
        A.ACCEPT_IDENTITY: {"identity_id": target.id},
        A.DISMISS_IDENTITY: {"identity_id": target.id},
        A.ADD_IDENTITY_NOTE: {"identity_id": target.id, "note": "Loves mornings"},
        A.SELECT_FOCUS_IDENTITY: {"identity_id": target.id},
        A.SET_AFFIRMATION: {"identity_id": target.id, "affirmation": "I am bold"},
        A.MARK_IDENTITY_REFINED: {"identity_id": target.id},
        A.SAVE_VISUALIZATION: {"identity_id": target.id, "visualization": "At dawn"},
        A.ADD_ACTION_ITEM: {"identity_id": target.id, "text": "Run 5k"},
        A.COMPLETE_ACTION_ITEM: {"action_item_id": target.action_items[0].id},
        A.TRANSITION_STATE: {"to_state": "accountability"},
    }


NOT_ALLOWED = [(a, s) for a in ActionType for s in CoachingState if s not in SPEC_PHASES[a]]


@pytest.mark.parametrize(("action", "phase"), NOT_ALLOWED, ids=str)
def test_an_action_outside_its_phases_is_rejected(action: ActionType, phase: CoachingState) -> None:
    target = identity("Creative Visionary", action_items=[ActionItemRecord(text="Sketch")])
    ctx = context(phase, target)
    allowed = ", ".join(a.value for a in ActionType if a in ALLOWED_ACTIONS[phase])
    reason = f"{action.value} is not allowed in phase {phase.value}; allowed there: {allowed}"
    rejected(ctx, act(action.value, **valid_params(target)[action]), reason)


ID_ACTIONS = [a for a in ActionType if "identity_id" in PARAMS_MODELS[a].model_fields]


def phase_of(action: ActionType) -> CoachingState:
    return min(SPEC_PHASES[action], key=list(CoachingState).index)


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


# --- each action applied ------------------------------------------------------------------------


def test_save_user_info_sets_the_name() -> None:
    ctx = context(S.INTRODUCTION, user_profile={"name": "M", "goals": ["Rest"]})
    outcome = run(ctx, act("save_user_info", key="name", value="  Maya "))
    assert outcome.results[0].params == {"key": "name", "value": "Maya"}
    assert ctx.user_profile == {"name": "Maya", "goals": ["Rest"]}
    assert outcome.user_data_changes == {"name": "Maya"}


def test_save_user_info_appends_a_goal_and_refuses_the_same_goal_twice() -> None:
    profile = {"goals": ["Rest more"]}
    ctx = context(S.ACCOUNTABILITY, user_profile=profile)
    outcome = run(ctx, act("save_user_info", key="goal", value="Sketch daily"))
    assert ctx.user_profile == {"goals": ["Rest more", "Sketch daily"]}
    assert outcome.user_data_changes == {"goals": ["Rest more", "Sketch daily"]}
    assert profile == {"goals": ["Rest more"]}  # the old value is not mutated
    rejected(ctx, act("save_user_info", key="goal", value="sketch  DAILY"), "already has the goal")


def test_create_identity_adds_a_proposed_identity_of_this_user_and_session() -> None:
    ctx = context(S.IDENTITY_BRAINSTORMING)
    params = {"label": "creative  visionary", "category": "passions_and_talents", "note": "Ideas"}
    outcome = run(ctx, act("create_identity", **params))
    (created,) = ctx.identities
    assert outcome.results[0].params == {
        "label": "Creative Visionary",
        "category": "passions_and_talents",
        "note": "Ideas",
        "identity_id": created.id,
    }
    assert (created.label, created.category, created.state) == (
        "Creative Visionary",
        IdentityCategory.PASSIONS_AND_TALENTS,
        I.PROPOSED,
    )
    assert (created.user_id, created.session_id, created.notes) == (USER, "session-1", ["Ideas"])
    assert created.created_at == created.updated_at == NOW
    assert outcome.changed_identity_ids == {created.id}
    assert outcome.changed_identities(ctx) == [created]


def test_title_case_keeps_minor_words_and_inner_capitals_as_they_are() -> None:
    ctx = context(S.IDENTITY_BRAINSTORMING)
    run(
        ctx,
        act("create_identity", label="keeper of money", category="keeper_of_money"),
        act("create_identity", label="DIY maker", category="doer_of_things"),
    )
    assert [i.label for i in ctx.identities] == ["Keeper of Money", "DIY Maker"]


def test_create_identity_rejects_a_duplicate_label_among_live_identities() -> None:
    ctx = context(S.IDENTITY_BRAINSTORMING, identity("Creative Visionary", I.PROPOSED))
    rejected(
        ctx,
        act("create_identity", label="CREATIVE VISIONARY", category="spiritual"),
        "duplicate label 'CREATIVE VISIONARY': "
        "the client already has 'Creative Visionary' (proposed)",
    )


def test_create_identity_may_reuse_a_dismissed_label() -> None:
    ctx = context(S.IDENTITY_BRAINSTORMING, identity("Creative Visionary", I.DISMISSED))
    applied(ctx, act("create_identity", label="Creative Visionary", category="spiritual"))
    assert [i.state for i in ctx.identities] == [I.DISMISSED, I.PROPOSED]


def test_duplicate_labels_within_one_turn_are_caught() -> None:
    ctx = context(S.IDENTITY_BRAINSTORMING)
    outcome = run(
        ctx,
        act("create_identity", label="Devoted Parent", category="spiritual"),
        act("create_identity", label="devoted parent", category="spiritual"),
    )
    assert [r.status for r in outcome.results] == [ActionStatus.APPLIED, ActionStatus.REJECTED]
    assert "duplicate label" in (outcome.results[1].reason or "")
    assert len(ctx.identities) == 1


def test_update_identity_changes_label_and_category() -> None:
    target = identity("Creative Visionary")
    ctx = context(S.IDENTITY_REFINEMENT, target)
    applied(
        ctx,
        act(
            "update_identity",
            identity_id=target.id,
            label="bold creative visionary",
            category="maker_of_money",
        ),
    )
    updated = get(ctx, target.id)
    assert (updated.label, updated.category) == ("Bold Creative Visionary", "maker_of_money")
    assert updated.updated_at == NOW
    assert target.label == "Creative Visionary"  # the old record is untouched


def test_update_identity_may_change_only_the_case_of_its_own_label() -> None:
    target = identity("Creative visionary")
    ctx = context(S.IDENTITY_BRAINSTORMING, target)
    applied(ctx, act("update_identity", identity_id=target.id, label="creative visionary"))
    assert get(ctx, target.id).label == "Creative Visionary"


def test_update_identity_rejects_a_label_another_identity_has() -> None:
    target, other = identity("Creative Visionary"), identity("Devoted Parent")
    ctx = context(S.IDENTITY_BRAINSTORMING, target, other)
    rejected(
        ctx,
        act("update_identity", identity_id=target.id, label="devoted parent"),
        "duplicate label 'Devoted Parent'",
    )


def test_update_identity_rejects_a_dismissed_identity() -> None:
    target = identity("Creative Visionary", I.DISMISSED)
    ctx = context(S.IDENTITY_BRAINSTORMING, target)
    rejected(
        ctx,
        act("update_identity", identity_id=target.id, category="spiritual"),
        "cannot update 'Creative Visionary': it was dismissed",
    )


def test_an_update_that_changes_nothing_is_applied_and_changes_nothing() -> None:
    target = identity("Creative Visionary")
    ctx = context(S.IDENTITY_BRAINSTORMING, target)
    outcome = run(ctx, act("update_identity", identity_id=target.id, label="Creative Visionary"))
    assert outcome.results[0].status is ActionStatus.APPLIED
    assert not outcome.changed_identity_ids and ctx.identities[0] is target


def test_accept_identity_moves_proposed_to_accepted() -> None:
    target = identity("Creative Visionary", I.PROPOSED)
    ctx = context(S.IDENTITY_BRAINSTORMING, target)
    applied(ctx, act("accept_identity", identity_id=target.id))
    assert get(ctx, target.id).state is I.ACCEPTED


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (I.DISMISSED, "cannot accept 'Creative Visionary': it was dismissed"),
        (I.ACCEPTED, "'Creative Visionary' is already accepted"),
        (I.REFINED, "'Creative Visionary' is already refined"),
    ],
)
def test_accept_identity_rejects_other_states(state: IdentityState, reason: str) -> None:
    target = identity("Creative Visionary", state)
    rejected(
        context(S.IDENTITY_BRAINSTORMING, target),
        act("accept_identity", identity_id=target.id),
        reason,
    )


@pytest.mark.parametrize("state", [I.PROPOSED, I.ACCEPTED])
def test_dismiss_identity_dismisses_and_clears_the_focus(state: IdentityState) -> None:
    target = identity("Creative Visionary", state)
    ctx = context(S.IDENTITY_BRAINSTORMING, target, focus=target.id)
    outcome = run(ctx, act("dismiss_identity", identity_id=target.id))
    assert get(ctx, target.id).state is I.DISMISSED
    assert ctx.focus_identity_id is None and outcome.focus_changed


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (I.DISMISSED, "'Creative Visionary' is already dismissed"),
        (I.REFINED, "cannot dismiss 'Creative Visionary': it is refined"),
    ],
)
def test_dismiss_identity_rejects_other_states(state: IdentityState, reason: str) -> None:
    target = identity("Creative Visionary", state)
    rejected(
        context(S.IDENTITY_BRAINSTORMING, target),
        act("dismiss_identity", identity_id=target.id),
        reason,
    )


@pytest.mark.parametrize("phase", sorted(SPEC_PHASES[A.ADD_IDENTITY_NOTE]))
def test_add_identity_note_appends_a_note(phase: CoachingState) -> None:
    target = identity("Creative Visionary", notes=["First"])
    ctx = context(phase, target)
    applied(ctx, act("add_identity_note", identity_id=target.id, note=" Second "))
    assert get(ctx, target.id).notes == ["First", "Second"]
    assert target.notes == ["First"]


@pytest.mark.parametrize("state", [I.ACCEPTED, I.REFINED])
def test_select_focus_identity_sets_the_focus(state: IdentityState) -> None:
    target = identity("Creative Visionary", state)
    ctx = context(S.ACCOUNTABILITY, target, identity("Devoted Parent"))
    outcome = run(ctx, act("select_focus_identity", identity_id=target.id))
    assert ctx.focus_identity_id == target.id and outcome.focus_changed
    assert not outcome.changed_identity_ids


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (
            I.PROPOSED,
            "cannot focus on 'Creative Visionary': "
            "it is proposed, not accepted or refined; accept it first",
        ),
        (I.DISMISSED, "cannot focus on 'Creative Visionary': it is dismissed"),
    ],
)
def test_select_focus_identity_rejects_other_states(state: IdentityState, reason: str) -> None:
    target = identity("Creative Visionary", state)
    rejected(
        context(S.IDENTITY_REFINEMENT, target),
        act("select_focus_identity", identity_id=target.id),
        reason,
    )


def test_set_affirmation_stores_the_statement() -> None:
    target = identity("Creative Visionary")
    ctx = context(S.IDENTITY_REFINEMENT, target)
    applied(ctx, act("set_affirmation", identity_id=target.id, affirmation="I'm bold and curious"))
    assert get(ctx, target.id).affirmation == "I'm bold and curious"


def test_set_affirmation_needs_an_accepted_identity() -> None:
    target = identity("Creative Visionary", I.PROPOSED)
    rejected(
        context(S.IDENTITY_REFINEMENT, target),
        act("set_affirmation", identity_id=target.id, affirmation="I am bold"),
        "cannot set the affirmation of 'Creative Visionary': it is proposed",
    )


def test_mark_identity_refined_after_an_affirmation_in_the_same_turn() -> None:
    target = identity("Creative Visionary")
    ctx = context(S.IDENTITY_REFINEMENT, target)
    outcome = run(
        ctx,
        act("set_affirmation", identity_id=target.id, affirmation="I am bold"),
        act("mark_identity_refined", identity_id=target.id),
    )
    assert [r.status for r in outcome.results] == [ActionStatus.APPLIED] * 2
    assert get(ctx, target.id).state is I.REFINED
    assert outcome.changed_identity_ids == {target.id}


@pytest.mark.parametrize(
    ("state", "affirmation", "reason"),
    [
        (I.ACCEPTED, None, "cannot mark 'Creative Visionary' refined: it has no affirmation yet"),
        (I.REFINED, "I am bold", "'Creative Visionary' is already refined"),
        (I.PROPOSED, "I am bold", "it is proposed; accept it first"),
        (I.DISMISSED, "I am bold", "it is dismissed; it was dismissed"),
    ],
)
def test_mark_identity_refined_rejects_invalid_moves(
    state: IdentityState, affirmation: str | None, reason: str
) -> None:
    target = identity("Creative Visionary", state, affirmation=affirmation)
    rejected(
        context(S.IDENTITY_REFINEMENT, target),
        act("mark_identity_refined", identity_id=target.id),
        reason,
    )


def test_save_visualization_stores_the_picture() -> None:
    target = identity("Creative Visionary", I.REFINED)
    ctx = context(S.IDENTITY_VISUALIZATION, target)
    applied(ctx, act("save_visualization", identity_id=target.id, visualization="Dawn, coffee"))
    assert get(ctx, target.id).visualization == "Dawn, coffee"


def test_save_visualization_needs_an_accepted_identity() -> None:
    target = identity("Creative Visionary", I.DISMISSED)
    rejected(
        context(S.IDENTITY_VISUALIZATION, target),
        act("save_visualization", identity_id=target.id, visualization="Dawn"),
        "cannot save a visualization for 'Creative Visionary': it is dismissed",
    )


def test_add_action_item_adds_an_open_item() -> None:
    target = identity("Creative Visionary", I.REFINED)
    ctx = context(S.ACTION_PLANNING, target)
    result = applied(ctx, act("add_action_item", identity_id=target.id, text="Sketch at 6am"))
    (item,) = get(ctx, target.id).action_items
    assert (item.text, item.done, item.created_at) == ("Sketch at 6am", False, NOW)
    assert result.params["action_item_id"] == item.id


def test_add_action_item_rejects_the_same_open_item_twice_and_a_proposed_identity() -> None:
    target = identity("Creative Visionary", action_items=[ActionItemRecord(text="Sketch at 6am")])
    rejected(
        context(S.ACTION_PLANNING, target),
        act("add_action_item", identity_id=target.id, text="sketch AT 6am"),
        "'Creative Visionary' already has the open action item 'Sketch at 6am'",
    )
    proposed = identity("Devoted Parent", I.PROPOSED)
    rejected(
        context(S.ACTION_PLANNING, proposed),
        act("add_action_item", identity_id=proposed.id, text="Read"),
        "it is proposed",
    )


def test_complete_action_item_marks_it_done_wherever_it_is() -> None:
    items = [ActionItemRecord(text="Sketch"), ActionItemRecord(text="Phone away")]
    target = identity("Creative Visionary", I.REFINED, action_items=items)
    ctx = context(S.ACCOUNTABILITY, identity("Devoted Parent"), target)
    applied(ctx, act("complete_action_item", action_item_id=items[1].id))
    done = get(ctx, target.id).action_items
    assert [(i.done, i.done_at) for i in done] == [(False, None), (True, NOW)]
    assert not items[1].done


def test_complete_action_item_rejects_unknown_done_and_other_users_items() -> None:
    done = ActionItemRecord(text="Sketch", done=True, done_at=EARLIER)
    ctx = context(S.ACCOUNTABILITY, identity("Creative Visionary", action_items=[done]))
    rejected(
        ctx,
        act("complete_action_item", action_item_id=done.id),
        "the action item 'Sketch' is already done",
    )
    rejected(ctx, act("complete_action_item", action_item_id="nope"), "unknown action item id")
    theirs = ActionItemRecord(text="Their item")
    ctx.identities.append(identity("Their Identity", user_id=OTHER_USER, action_items=[theirs]))
    rejected(
        ctx,
        act("complete_action_item", action_item_id=theirs.id),
        f"action item {theirs.id!r} belongs to another user's identity",
    )


def test_transition_state_is_recorded_not_applied() -> None:
    ctx = context(S.INTRODUCTION)
    outcome = run(ctx, act("transition_state", to_state="accountability"))
    assert outcome.requested_transition is S.ACCOUNTABILITY
    assert outcome.results[0].status is ActionStatus.APPLIED
    assert ctx.current_state is S.INTRODUCTION


def test_a_later_transition_request_supersedes_an_earlier_one() -> None:
    outcome = run(
        context(S.INTRODUCTION),
        act("transition_state", to_state="identity_brainstorming"),
        act("transition_state", to_state="bogus"),
        act("transition_state", to_state="identity_refinement"),
    )
    assert outcome.requested_transition is S.IDENTITY_REFINEMENT
    assert [r.status.value for r in outcome.results] == ["rejected", "rejected", "applied"]
    assert outcome.results[0].reason == (
        "superseded by a later transition_state (to identity_refinement)"
    )


# --- a whole reply ------------------------------------------------------------------------------


def test_one_bad_action_does_not_stop_two_good_ones() -> None:
    target = identity("Creative Visionary", I.PROPOSED)
    ctx = context(S.IDENTITY_BRAINSTORMING, target)
    outcome = run(
        ctx,
        act("accept_identity", identity_id=target.id),
        act("set_affirmation", identity_id=target.id, affirmation="I am bold"),
        act("create_identity", label="Devoted Parent", category="familial_relations"),
    )
    assert [r.status.value for r in outcome.results] == ["applied", "rejected", "applied"]
    assert "set_affirmation is not allowed in phase identity_brainstorming" in (
        outcome.results[1].reason or ""
    )
    assert [(i.label, i.state) for i in ctx.identities] == [
        ("Creative Visionary", I.ACCEPTED),
        ("Devoted Parent", I.PROPOSED),
    ]
    assert len(outcome.applied) == 2 and len(outcome.rejected) == 1


def test_unknown_and_malformed_actions_are_rejected_and_the_rest_applied() -> None:
    ctx = context(S.INTRODUCTION)
    outcome = run(
        ctx,
        act("fly_to_moon", speed=3),
        "just text",
        {"type": 5},
        {"type": "save_user_info", "params": ["name", "Maya"]},
        {"type": "save_user_info", "key": "name", "value": "Maya"},
    )
    reasons = [r.reason or "" for r in outcome.results]
    assert reasons[0].startswith("unknown action type 'fly_to_moon'; the actions are: save_user")
    assert reasons[1] == "malformed action: expected an object with type and params, got a string"
    assert "the action type must be a non-empty string, got 5" in reasons[2]
    assert "params must be an object, got an array" in reasons[3]
    assert outcome.results[4].status is ActionStatus.APPLIED  # the flat form is accepted
    assert ctx.user_profile == {"name": "Maya"}
    json.dumps([r.model_dump(mode="json") for r in outcome.results])  # plain JSON throughout


def test_an_action_that_is_not_plain_json_is_rejected_not_raised() -> None:
    outcome = run(
        context(S.INTRODUCTION),
        act("save_user_info", key={1, 2}, value="x"),
        act("save_user_info", key="name", value="Maya"),
    )
    assert [r.status.value for r in outcome.results] == ["rejected", "applied"]
    assert (outcome.results[0].reason or "").startswith("malformed action: params.key")


def test_nothing_the_context_held_before_is_mutated() -> None:
    target = identity("Creative Visionary", I.PROPOSED)
    ctx = context(S.IDENTITY_BRAINSTORMING, target, user_profile={"goals": []})
    identities, profile, snapshot = ctx.identities, ctx.user_profile, target.model_dump()
    run(
        ctx,
        act("accept_identity", identity_id=target.id),
        act("create_identity", label="Devoted Parent", category="spiritual"),
        act("save_user_info", key="goal", value="Rest"),
    )
    assert identities == [target] and target.model_dump() == snapshot and profile == {"goals": []}
    assert len(ctx.identities) == 2 and ctx.user_profile == {"goals": ["Rest"]}


def test_referenced_identity_ids_lists_the_ids_to_look_up() -> None:
    reply = CoachReply.model_validate(
        {
            "message": "",
            "actions": [
                act("accept_identity", identity_id=" a "),
                act("add_identity_note", identity_id="b"),
                act("complete_action_item", action_item_id="c"),
                act("accept_identity", identity_id=3),
            ],
        }
    )
    assert referenced_identity_ids(reply.actions) == {"a", "b"}


# --- parsing the reply --------------------------------------------------------------------------


def test_a_reply_is_parsed_tolerantly() -> None:
    assert parse_reply({"message": "Hi", "actions": None}).actions == []
    single = parse_reply({"message": "Hi", "actions": act("accept_identity", identity_id="x")})
    assert single.actions == [RawAction(type="accept_identity", params={"identity_id": "x"})]
    assert parse_reply({"message": "Hi", "extra": 1}).actions == []
    nulls = parse_reply({"message": "Hi", "actions": [{"type": "x", "params": None}]})
    assert nulls.actions[0].params == {} and nulls.actions[0].problem is None


@pytest.mark.parametrize("data", [None, {"actions": []}, {"message": 3}])
def test_a_reply_without_a_message_is_a_response_error(data: dict[str, Any] | None) -> None:
    with pytest.raises(LLMResponseError, match="message"):
        parse_reply(data)


def test_raw_actions_survive_a_round_trip() -> None:
    raw = RawAction.model_validate("oops")
    assert RawAction.model_validate(raw.model_dump()) == raw
    assert CoachReply(message="m", actions=[raw]).actions == [raw]


# --- the schema sent to the model ---------------------------------------------------------------

STRICT_FORBIDDEN = {
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "default",
    "oneOf",
    "allOf",
    "$ref",
    "$defs",
    "not",
    "if",
    "then",
    "else",
    "minimum",
    "maximum",
    "title",
}


def walk(node: Any, path: str = "$") -> list[str]:
    """Every strict-mode violation under ``node``."""
    problems: list[str] = []
    if isinstance(node, list):
        for n, child in enumerate(node):
            problems += walk(child, f"{path}[{n}]")
    elif isinstance(node, dict):
        problems += [f"{path}: {k}" for k in STRICT_FORBIDDEN & set(node)]
        if node.get("type") == "object" or "properties" in node:
            if node.get("additionalProperties") is not False:
                problems.append(f"{path}: additionalProperties is not false")
            if node.get("required") != list(node.get("properties", {})):
                problems.append(f"{path}: required does not list every property")
        for key, child in node.items():
            if key == "properties":
                for name, sub in child.items():
                    problems += walk(sub, f"{path}.{name}")
            elif key not in {"enum", "required"}:
                problems += walk(child, f"{path}.{key}")
    return problems


def schema_actions(schema: dict[str, Any]) -> list[str]:
    variants = schema["properties"]["actions"]["items"]["anyOf"]
    return [v["properties"]["type"]["enum"][0] for v in variants]


@pytest.mark.parametrize("phase", list(CoachingState), ids=str)
def test_response_schema_holds_only_the_phase_actions_in_strict_form(phase: CoachingState) -> None:
    schema = response_schema(phase)
    assert schema["type"] == "object" and schema["required"] == ["message", "actions"]
    assert set(schema_actions(schema)) == {a.value for a in ALLOWED_ACTIONS[phase]}
    assert walk(schema) == []
    json.dumps(schema)
    for variant in schema["properties"]["actions"]["items"]["anyOf"]:
        kind = ActionType(variant["properties"]["type"]["enum"][0])
        assert list(variant["properties"]["params"]["properties"]) == list(
            PARAMS_MODELS[kind].model_fields
        )


def test_optional_params_are_nullable_in_the_schema() -> None:
    schema = response_schema(S.IDENTITY_BRAINSTORMING)
    variants = {
        v["properties"]["type"]["enum"][0]: v
        for v in schema["properties"]["actions"]["items"]["anyOf"]
    }
    note = variants["create_identity"]["properties"]["params"]["properties"]["note"]
    assert {"type": "null"} in note["anyOf"]
    category = variants["update_identity"]["properties"]["params"]["properties"]["category"]
    assert {"type": "null"} in category["anyOf"]
    assert any("passions_and_talents" in alt.get("enum", []) for alt in category["anyOf"])


@pytest.mark.parametrize("phase", list(CoachingState), ids=str)
def test_response_schema_validates_replies(phase: CoachingState) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = response_schema(phase)
    jsonschema.Draft202012Validator.check_schema(schema)
    target = identity("Creative Visionary", action_items=[ActionItemRecord(text="Sketch")])
    every = valid_params(target)
    nullable = {A.CREATE_IDENTITY: {"note": None}, A.UPDATE_IDENTITY: {"label": None}}
    actions = [act(a.value, **(every[a] | nullable.get(a, {}))) for a in ALLOWED_ACTIONS[phase]]
    jsonschema.validate({"message": "Hi", "actions": actions}, schema)
    outside = next(a for a in ActionType if a not in ALLOWED_ACTIONS[phase])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {"message": "Hi", "actions": [act(outside.value, **every[outside])]}, schema
        )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"message": "Hi", "actions": [], "extra": 1}, schema)
