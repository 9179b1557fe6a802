"""A whole coaching journey, introduction to accountability, through CoachService on every backend.

The coach's replies are scripted (``coach.demo``); everything else runs for real. After each turn
the stored state, context, identities and turn log are checked against what the turn reported.
"""

from __future__ import annotations

from coach.demo import DEMO_STEPS, DemoStep, play_demo
from coach.enums import ActionStatus, CoachingState, IdentityState, MessageRole, TurnStatus
from coach.persistence import DatabaseInterface
from coach.service import TurnResult
from tests.records import stored_turns


async def test_full_journey_is_stored_turn_by_turn(db: DatabaseInterface) -> None:
    """Every turn's state, messages, identities and log are stored as the turn reported them."""
    results: list[TurnResult] = []
    user_id = "maya"

    def check(step: DemoStep, result: TurnResult) -> None:
        assert result.ok, result.error
        assert result.state_after is step.expect_state
        rejected = [a for a in result.actions if a.status is ActionStatus.REJECTED]
        assert len(rejected) == step.expect_rejected, [a.reason for a in rejected]
        assert all(a.reason for a in rejected)
        assert (result.transition_refused_reason is not None) == step.expect_refused_transition
        results.append(result)

    info = await play_demo(db, user_id=user_id, on_turn=check)
    assert len(results) == len(DEMO_STEPS)

    state = await db.get_state(user_id, info.session_id)
    assert state is not None and state.state is CoachingState.ACCOUNTABILITY

    context = await db.get_context(user_id, info.session_id)
    assert context is not None
    roles = [m.role for m in context.messages]
    assert roles[0] is MessageRole.COACH  # the welcome message
    assert roles[1:] == [MessageRole.USER, MessageRole.COACH] * len(DEMO_STEPS)
    assert [m.content for m in context.messages[1::2]] == [s.user for s in DEMO_STEPS]
    assert [m.id for m in context.messages[2::2]] == [r.coach_message.id for r in results]  # type: ignore[union-attr]

    turns = await stored_turns(db, info.session_id)
    assert [t.seq for t in turns] == list(range(1, len(DEMO_STEPS) + 1))
    assert all(t.status is TurnStatus.OK for t in turns)
    for turn, result in zip(turns, results, strict=True):
        assert turn.state_before is result.state_before
        assert turn.state_after is result.state_after
        assert turn.actions == result.actions
        assert turn.system_prompt and turn.prompt_hash and turn.raw_output
        assert turn.provider == "scripted"
    refused = [t for t in turns if t.transition_refused_reason]
    assert [t.requested_transition for t in refused] == [
        CoachingState.ACTION_PLANNING,
        CoachingState.IDENTITY_REFINEMENT,
    ]

    identities = {i.label: i for i in await db.get_identities(user_id)}
    assert set(identities) == {
        "Creative Visionary",
        "Devoted Parent",
        "Energetic Athlete",
        "Wise Money Keeper",
    }
    focus = identities["Creative Visionary"]
    assert state.focus_identity_id == focus.id
    assert focus.state is IdentityState.REFINED
    assert focus.affirmation and focus.affirmation.startswith("I am")
    assert focus.visualization
    assert [a.done for a in focus.action_items] == [True, False]
    assert identities["Wise Money Keeper"].state is IdentityState.DISMISSED
    assert identities["Devoted Parent"].state is IdentityState.ACCEPTED

    user = await db.get_user(user_id)
    assert user is not None
    assert user.data["name"] == "Maya"
    assert user.data["goals"] == ["Get my creative spark back"]
