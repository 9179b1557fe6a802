"""The transition table of SPEC §2.1, checked over every (from, to) pair of phases."""

from __future__ import annotations

from collections.abc import Callable
from itertools import product

import pytest

from coach.enums import CoachingState, IdentityCategory, IdentityState, MessageRole
from coach.models import CoachContext
from coach.persistence.records import ActionItemRecord, IdentityRecord, MessageRecord
from coach.state_machine import (
    TRANSITIONS,
    TransitionDecision,
    allowed_targets,
    apply_transition,
    evaluate_transition,
)

S = CoachingState
I = IdentityState  # noqa: E741
USER = "user-1"

# --- helpers ------------------------------------------------------------------------------------


def identity(label: str, state: IdentityState = I.ACCEPTED, **fields: object) -> IdentityRecord:
    return IdentityRecord.model_validate(
        {"user_id": USER, "label": label, "category": IdentityCategory.SPIRITUAL, "state": state}
        | fields
    )


def context(
    phase: CoachingState,
    *identities: IdentityRecord,
    focus: IdentityRecord | str | None = None,
    user_messages: int = 1,
) -> CoachContext:
    history = [MessageRecord(role=MessageRole.COACH, content="Welcome!")] + [
        MessageRecord(role=MessageRole.USER, content=f"hello {n}") for n in range(user_messages)
    ]
    return CoachContext(
        user_id=USER,
        session_id="session-1",
        current_state=phase,
        conversation_history=history,
        identities=list(identities),
        focus_identity_id=focus.id if isinstance(focus, IdentityRecord) else focus,
    )


def focused(phase: CoachingState, focus: IdentityRecord) -> CoachContext:
    return context(phase, focus, focus=focus)


def accepted(n: int) -> list[IdentityRecord]:
    return [identity(f"Accepted Number {i}") for i in range(n)]


def item(done: bool = False) -> ActionItemRecord:
    return ActionItemRecord(text="Sketch for 20 minutes", done=done)


REFINED = identity("Creative Visionary", I.REFINED, affirmation="I am a Creative Visionary")
VISUALIZED = REFINED.model_copy(update={"visualization": "6am at the kitchen table"})
PLANNED = VISUALIZED.model_copy(update={"action_items": [item()]})

# --- the expected table, written independently of the module ------------------------------------

SPEC_MOVES = {
    (S.INTRODUCTION, S.IDENTITY_BRAINSTORMING),
    (S.IDENTITY_BRAINSTORMING, S.IDENTITY_REFINEMENT),
    (S.IDENTITY_REFINEMENT, S.IDENTITY_VISUALIZATION),
    (S.IDENTITY_VISUALIZATION, S.ACTION_PLANNING),
    (S.ACTION_PLANNING, S.ACCOUNTABILITY),
    (S.ACCOUNTABILITY, S.IDENTITY_REFINEMENT),
    (S.IDENTITY_REFINEMENT, S.IDENTITY_BRAINSTORMING),
    (S.IDENTITY_VISUALIZATION, S.IDENTITY_BRAINSTORMING),
    (S.ACTION_PLANNING, S.IDENTITY_BRAINSTORMING),
    (S.ACCOUNTABILITY, S.IDENTITY_BRAINSTORMING),
}

Make = Callable[[CoachingState], CoachContext]

#: For each move: a context in which its guard holds.
READY: dict[tuple[CoachingState, CoachingState], Make] = {
    (S.INTRODUCTION, S.IDENTITY_BRAINSTORMING): lambda p: context(p),
    (S.IDENTITY_BRAINSTORMING, S.IDENTITY_REFINEMENT): lambda p: context(
        p, *accepted(3), identity("Old Idea", I.DISMISSED)
    ),
    (S.IDENTITY_REFINEMENT, S.IDENTITY_VISUALIZATION): lambda p: focused(p, REFINED),
    (S.IDENTITY_VISUALIZATION, S.ACTION_PLANNING): lambda p: focused(p, VISUALIZED),
    (S.ACTION_PLANNING, S.ACCOUNTABILITY): lambda p: focused(p, PLANNED),
    (S.ACCOUNTABILITY, S.IDENTITY_REFINEMENT): lambda p: context(
        p, PLANNED, *accepted(1), focus=PLANNED
    ),
}

#: For each guarded move: contexts in which its guard fails, and a part of the reason.
NOT_READY: dict[tuple[CoachingState, CoachingState], list[tuple[Make, str]]] = {
    (S.INTRODUCTION, S.IDENTITY_BRAINSTORMING): [
        (lambda p: context(p, user_messages=0), "at least one message from the client"),
    ],
    (S.IDENTITY_BRAINSTORMING, S.IDENTITY_REFINEMENT): [
        (lambda p: context(p), "needs at least 3 accepted identities; the client has 0"),
        (
            lambda p: context(p, *accepted(2), identity("Maybe Later", I.PROPOSED)),
            "needs at least 3 accepted identities; the client has 2 (and 1 still proposed)",
        ),
        (
            lambda p: context(p, *accepted(2), identity("Gone Idea", I.DISMISSED)),
            "the client has 2",
        ),
        (
            lambda p: context(p, *accepted(3), identity("Maybe Later", I.PROPOSED)),
            "1 still proposed: 'Maybe Later'",
        ),
    ],
    (S.IDENTITY_REFINEMENT, S.IDENTITY_VISUALIZATION): [
        (lambda p: context(p, REFINED), "no focus identity is selected"),
        (lambda p: context(p, REFINED, focus="missing-id"), "not one of the client's identities"),
        (lambda p: focused(p, identity("Devoted Parent")), "has no affirmation yet"),
        (
            lambda p: focused(p, identity("Devoted Parent", affirmation="I am there")),
            "is accepted, not refined",
        ),
    ],
    (S.IDENTITY_VISUALIZATION, S.ACTION_PLANNING): [
        (lambda p: focused(p, REFINED), "has no visualization yet"),
        (lambda p: context(p, REFINED), "no focus identity is selected"),
    ],
    (S.ACTION_PLANNING, S.ACCOUNTABILITY): [
        (lambda p: focused(p, VISUALIZED), "has no action item yet"),
        (lambda p: context(p, VISUALIZED), "no focus identity is selected"),
    ],
    (S.ACCOUNTABILITY, S.IDENTITY_REFINEMENT): [
        (lambda p: focused(p, PLANNED), "needs another accepted identity"),
        (
            lambda p: context(p, PLANNED, identity("Gone Idea", I.DISMISSED), focus=PLANNED),
            "needs another accepted identity",
        ),
        (
            lambda p: context(p, PLANNED, identity("Not Yet", I.PROPOSED), focus=PLANNED),
            "needs another accepted identity",
        ),
    ],
}

ALL_PAIRS = list(product(CoachingState, CoachingState))


def test_the_table_holds_exactly_the_moves_of_the_spec() -> None:
    assert set(TRANSITIONS) == SPEC_MOVES


@pytest.mark.parametrize(("from_state", "to_state"), ALL_PAIRS, ids=lambda s: s.value)
def test_every_pair(from_state: CoachingState, to_state: CoachingState) -> None:
    if from_state == to_state:
        decision = evaluate_transition(context(from_state, *accepted(3)), to_state)
        assert not decision.allowed
        assert decision.reason == f"already in phase {from_state.value}"
    elif (from_state, to_state) not in SPEC_MOVES:
        decision = evaluate_transition(context(from_state, *accepted(3)), to_state)
        assert not decision.allowed
        assert decision.reason is not None
        assert f"no move from {from_state.value} to {to_state.value}" in decision.reason
        for target in allowed_targets(from_state):
            assert target.value in decision.reason
    elif to_state is S.IDENTITY_BRAINSTORMING and from_state is not S.INTRODUCTION:
        # going back to brainstorming has no guard: even an empty context may go
        bare = context(from_state, user_messages=0)
        assert evaluate_transition(bare, to_state) == TransitionDecision(
            from_state, to_state, allowed=True
        )
    else:
        ready = READY[(from_state, to_state)](from_state)
        decision = evaluate_transition(ready, to_state)
        assert decision.allowed, decision.reason
        assert decision.reason is None
        for make, reason in NOT_READY[(from_state, to_state)]:
            refused = evaluate_transition(make(from_state), to_state)
            assert not refused.allowed
            assert refused.reason is not None and reason in refused.reason
            assert refused.new_focus_identity_id is None


def test_every_guarded_move_has_passing_and_failing_cases() -> None:
    guarded = {m for m in SPEC_MOVES if m[1] is not S.IDENTITY_BRAINSTORMING} | {
        (S.INTRODUCTION, S.IDENTITY_BRAINSTORMING)
    }
    assert set(READY) == guarded == set(NOT_READY)


def test_allowed_targets_follow_the_table_in_phase_order() -> None:
    assert allowed_targets(S.INTRODUCTION) == (S.IDENTITY_BRAINSTORMING,)
    assert allowed_targets(S.IDENTITY_BRAINSTORMING) == (S.IDENTITY_REFINEMENT,)
    assert allowed_targets(S.IDENTITY_REFINEMENT) == (
        S.IDENTITY_BRAINSTORMING,
        S.IDENTITY_VISUALIZATION,
    )
    assert allowed_targets(S.ACCOUNTABILITY) == (S.IDENTITY_BRAINSTORMING, S.IDENTITY_REFINEMENT)
    for state in CoachingState:
        assert set(allowed_targets(state)) == {t for f, t in SPEC_MOVES if f is state}


def test_refined_identities_count_as_accepted_for_refinement() -> None:
    ctx = context(S.IDENTITY_BRAINSTORMING, REFINED, *accepted(2))
    assert evaluate_transition(ctx, S.IDENTITY_REFINEMENT).allowed


def test_introduction_counts_only_client_messages() -> None:
    ctx = context(S.INTRODUCTION, user_messages=0)
    ctx.conversation_history.append(MessageRecord(role=MessageRole.COACH, content="Anything?"))
    assert not evaluate_transition(ctx, S.IDENTITY_BRAINSTORMING).allowed


def test_accountability_to_refinement_focuses_the_first_other_accepted_identity() -> None:
    first, second = accepted(2)
    ctx = context(S.ACCOUNTABILITY, PLANNED, first, second, focus=PLANNED)
    decision = evaluate_transition(ctx, S.IDENTITY_REFINEMENT)
    assert decision.allowed
    assert decision.new_focus_identity_id == first.id


def test_accountability_to_refinement_keeps_an_accepted_focus_the_coach_just_chose() -> None:
    first, second = accepted(2)
    ctx = context(S.ACCOUNTABILITY, PLANNED, first, second, focus=second)
    assert evaluate_transition(ctx, S.IDENTITY_REFINEMENT).new_focus_identity_id == second.id


def test_other_moves_leave_the_focus_alone() -> None:
    ctx = READY[(S.IDENTITY_REFINEMENT, S.IDENTITY_VISUALIZATION)](S.IDENTITY_REFINEMENT)
    assert evaluate_transition(ctx, S.IDENTITY_VISUALIZATION).new_focus_identity_id is None


def test_evaluation_does_not_change_the_context() -> None:
    ctx = context(S.ACCOUNTABILITY, PLANNED, *accepted(2), focus=PLANNED)
    before = ctx.model_dump()
    evaluate_transition(ctx, S.IDENTITY_REFINEMENT)
    assert ctx.model_dump() == before


def test_apply_transition_moves_the_phase_and_the_focus() -> None:
    first = accepted(1)[0]
    ctx = context(S.ACCOUNTABILITY, PLANNED, first, focus=PLANNED)
    apply_transition(ctx, evaluate_transition(ctx, S.IDENTITY_REFINEMENT))
    assert ctx.current_state is S.IDENTITY_REFINEMENT
    assert ctx.focus_identity_id == first.id


def test_apply_transition_keeps_the_focus_when_the_move_does_not_pick_one() -> None:
    ctx = context(S.ACTION_PLANNING, PLANNED, focus=PLANNED)
    apply_transition(ctx, evaluate_transition(ctx, S.IDENTITY_BRAINSTORMING))
    assert ctx.current_state is S.IDENTITY_BRAINSTORMING
    assert ctx.focus_identity_id == PLANNED.id


def test_apply_transition_refuses_a_refused_or_stale_decision() -> None:
    ctx = context(S.INTRODUCTION, user_messages=0)
    with pytest.raises(ValueError, match="refused"):
        apply_transition(ctx, evaluate_transition(ctx, S.IDENTITY_BRAINSTORMING))
    ready = context(S.INTRODUCTION)
    decision = evaluate_transition(ready, S.IDENTITY_BRAINSTORMING)
    ready.current_state = S.ACCOUNTABILITY
    with pytest.raises(ValueError, match="evaluate it again"):
        apply_transition(ready, decision)
    assert ready.current_state is S.ACCOUNTABILITY


def test_every_move_says_what_it_requires() -> None:
    for transition in TRANSITIONS.values():
        assert transition.requirement
