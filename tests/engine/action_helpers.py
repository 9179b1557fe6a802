"""Builders and checks shared by the action tests, and SPEC §2.3's table written out by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from coach.actions import ActionOutcome, ActionType, apply_actions
from coach.enums import ActionStatus, CoachingState, IdentityCategory, IdentityState
from coach.models import CoachContext
from coach.persistence.records import ActionResultRecord, IdentityRecord

S, I, A = CoachingState, IdentityState, ActionType  # noqa: E741
USER, OTHER_USER = "user-1", "user-2"
NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
EARLIER = datetime(2026, 1, 1, tzinfo=UTC)


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


#: SPEC §2.3 by hand: the phases each action is allowed in.
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


def phase_of(action: ActionType) -> CoachingState:
    """The first phase ``action`` is allowed in."""
    return min(SPEC_PHASES[action], key=list(CoachingState).index)
