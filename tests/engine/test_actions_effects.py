"""What each of the 13 actions does when applied, and why each one is rejected."""

from __future__ import annotations

import pytest

from coach.enums import ActionStatus, CoachingState, IdentityCategory, IdentityState
from coach.persistence.records import ActionItemRecord
from tests.engine.action_helpers import (
    EARLIER,
    NOW,
    OTHER_USER,
    SPEC_PHASES,
    USER,
    A,
    I,
    S,
    act,
    applied,
    context,
    get,
    identity,
    rejected,
    run,
)


def test_save_user_info_sets_the_name_when_none_was_given() -> None:
    ctx = context(S.INTRODUCTION, user_profile={"goals": ["Rest"]})
    outcome = run(ctx, act("save_user_info", key="name", value="  Ana Example "))
    assert outcome.results[0].params == {"key": "name", "value": "Ana Example"}
    assert outcome.results[0].status is ActionStatus.APPLIED
    assert ctx.user_profile == {"name": "Ana Example", "name_set_by": "model", "goals": ["Rest"]}
    assert outcome.user_data_changes == {"name": "Ana Example", "name_set_by": "model"}


def test_the_model_may_correct_a_name_it_set_itself() -> None:
    ctx = context(S.INTRODUCTION, user_profile={"name": "Riley", "name_set_by": "model"})
    applied(ctx, act("save_user_info", key="name", value="Sam Example"))
    assert ctx.user_profile == {"name": "Sam Example", "name_set_by": "model"}


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("start", "was given when the session started"),
        ("coach", "was set by a coach"),
        (None, "was not set by the model"),  # stored before names recorded who set them
    ],
)
def test_a_name_a_person_gave_is_kept_and_the_model_s_name_rejected_with_why(
    source: str | None, why: str
) -> None:
    profile = {"name": "Edge Case", **({"name_set_by": source} if source else {})}
    ctx = context(S.INTRODUCTION, user_profile=profile)
    outcome = run(ctx, act("save_user_info", key="name", value="Riley"))
    (result,) = outcome.results
    assert result.status is ActionStatus.REJECTED
    assert result.params == {"key": "name", "value": "Riley"}
    assert result.reason == (
        f"the client's name 'Edge Case' {why}; the model cannot replace it with 'Riley' "
        "(a coach can change it in the session inspector)"
    )
    assert ctx.user_profile == profile and not outcome.user_data_changes


def test_the_given_name_in_another_case_is_no_change() -> None:
    ctx = context(S.INTRODUCTION, user_profile={"name": "Edge Case", "name_set_by": "start"})
    outcome = run(ctx, act("save_user_info", key="name", value="edge  case"))
    assert outcome.results[0].status is ActionStatus.APPLIED
    assert ctx.user_profile["name"] == "Edge Case" and not outcome.user_data_changes


@pytest.mark.parametrize("placeholder", ["<their name>", "[name]", "{client_name}"])
def test_a_placeholder_copied_from_an_example_is_not_a_name(placeholder: str) -> None:
    ctx = context(S.INTRODUCTION)
    rejected(ctx, act("save_user_info", key="name", value=placeholder), "is a placeholder")
    assert "name" not in ctx.user_profile


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
