"""The phases of a coaching conversation and the moves between them, as data.

The model *requests* a move (action ``transition_state``); this module *decides*. ``TRANSITIONS``
is the whole table of SPEC §2.1: a move that is not in it is refused, and a move that is in it
happens only when its guard passes. A guard is a pure function of the ``CoachContext`` that
returns ``None`` when the move may happen, or a sentence saying why not (shown in the inspector
and kept in the turn log).

The engine evaluates the requested move *after* the turn's actions are applied, so a reply that
accepts a third identity and asks to move on in the same breath is judged on the new identities.
Nothing here mutates its input except ``apply_transition``, which the engine calls once a
decision allows the move.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from coach.enums import CoachingState, IdentityState, MessageRole
from coach.models import PHASE_ORDER, CoachContext
from coach.persistence.records import IdentityRecord

#: A guard: ``None`` when the move may happen, otherwise the reason it may not.
Guard = Callable[[CoachContext], str | None]

#: Picks the identity that becomes the focus when a move happens (``None``: keep the focus).
FocusPicker = Callable[[CoachContext], str | None]

#: How many accepted identities the client needs before refinement starts.
MIN_ACCEPTED_IDENTITIES = 3

S = CoachingState


@dataclass(frozen=True, slots=True)
class Transition:
    """One allowed move: its guard, what it requires in words, and how it picks a new focus."""

    guard: Guard
    requirement: str
    pick_focus: FocusPicker | None = None


@dataclass(frozen=True, slots=True)
class TransitionDecision:
    """What the state machine decided about one requested move.

    ``new_focus_identity_id`` is set only when an allowed move changes the focus
    (accountability → refinement); ``None`` means the focus stays as it is.
    """

    from_state: CoachingState
    to_state: CoachingState
    allowed: bool
    reason: str | None = None
    new_focus_identity_id: str | None = None


# --- guards -------------------------------------------------------------------------------------


def _quoted(identities: list[IdentityRecord]) -> str:
    return ", ".join(repr(i.label) for i in identities)


def _focus_problem(context: CoachContext) -> tuple[IdentityRecord | None, str | None]:
    """The focus identity, or the reason there is none usable."""
    if context.focus_identity_id is None:
        return None, "no focus identity is selected (use select_focus_identity)"
    focus = context.focus_identity
    if focus is None:
        return None, (
            f"the focus identity id {context.focus_identity_id!r} is not one of the client's "
            "identities (select another with select_focus_identity)"
        )
    return focus, None


def no_guard(context: CoachContext) -> str | None:
    """The move is always allowed."""
    return None


def client_has_spoken(context: CoachContext) -> str | None:
    """introduction → brainstorming: at least one message from the client."""
    if any(m.role is MessageRole.USER for m in context.conversation_history):
        return None
    return "needs at least one message from the client; the client has not written yet"


def enough_accepted_identities(context: CoachContext) -> str | None:
    """brainstorming → refinement: at least 3 accepted identities and none left proposed.

    Refined identities count as accepted: refinement is a later stage of the same lifecycle.
    """
    accepted = context.identities_in(IdentityState.ACCEPTED, IdentityState.REFINED)
    proposed = context.identities_in(IdentityState.PROPOSED)
    pending = f" (and {len(proposed)} still proposed)" if proposed else ""
    if len(accepted) < MIN_ACCEPTED_IDENTITIES:
        return (
            f"needs at least {MIN_ACCEPTED_IDENTITIES} accepted identities; "
            f"the client has {len(accepted)}{pending}"
        )
    if proposed:
        return (
            f"every proposed identity must be accepted or dismissed first; "
            f"{len(proposed)} still proposed: {_quoted(proposed)}"
        )
    return None


def focus_is_refined(context: CoachContext) -> str | None:
    """refinement → visualization: the focus identity is refined and has an affirmation."""
    focus, problem = _focus_problem(context)
    if focus is None:
        return problem
    if not focus.affirmation:
        return f"the focus identity {focus.label!r} has no affirmation yet (use set_affirmation)"
    if focus.state is not IdentityState.REFINED:
        return (
            f"the focus identity {focus.label!r} is {focus.state.value}, not refined "
            "(use mark_identity_refined)"
        )
    return None


def focus_has_visualization(context: CoachContext) -> str | None:
    """visualization → action_planning: the focus identity has a visualization."""
    focus, problem = _focus_problem(context)
    if focus is None:
        return problem
    if not focus.visualization:
        return (
            f"the focus identity {focus.label!r} has no visualization yet (use save_visualization)"
        )
    return None


def focus_has_action_item(context: CoachContext) -> str | None:
    """action_planning → accountability: the focus identity has at least one action item."""
    focus, problem = _focus_problem(context)
    if focus is None:
        return problem
    if not focus.action_items:
        return f"the focus identity {focus.label!r} has no action item yet (use add_action_item)"
    return None


def next_identity_to_refine(context: CoachContext) -> str | None:
    """The identity that accountability → refinement focuses on, or ``None`` if there is none.

    The focus itself when the coach just selected an accepted (unrefined) one; otherwise the
    first accepted identity other than the focus, in the order they were found.
    """
    focus = context.focus_identity
    if focus is not None and focus.state is IdentityState.ACCEPTED:
        return focus.id
    candidates = [
        i
        for i in context.identities_in(IdentityState.ACCEPTED)
        if i.id != context.focus_identity_id
    ]
    return candidates[0].id if candidates else None


def another_identity_to_refine(context: CoachContext) -> str | None:
    """accountability → refinement: another accepted, unrefined identity exists."""
    if next_identity_to_refine(context) is not None:
        return None
    refined = len(context.identities_in(IdentityState.REFINED))
    return (
        "needs another accepted identity that is not refined yet; the client has none "
        f"({refined} refined). Move to identity_brainstorming to find more"
    )


# --- the table ----------------------------------------------------------------------------------

_BACK_TO_BRAINSTORMING = Transition(no_guard, "always allowed: the client wants to add identities")

TRANSITIONS: Mapping[tuple[CoachingState, CoachingState], Transition] = MappingProxyType(
    {
        (S.INTRODUCTION, S.IDENTITY_BRAINSTORMING): Transition(
            client_has_spoken, "the client has sent at least one message"
        ),
        (S.IDENTITY_BRAINSTORMING, S.IDENTITY_REFINEMENT): Transition(
            enough_accepted_identities,
            f"at least {MIN_ACCEPTED_IDENTITIES} accepted identities and none left proposed",
        ),
        (S.IDENTITY_REFINEMENT, S.IDENTITY_VISUALIZATION): Transition(
            focus_is_refined, "the focus identity is refined and has an affirmation"
        ),
        (S.IDENTITY_VISUALIZATION, S.ACTION_PLANNING): Transition(
            focus_has_visualization, "the focus identity has a visualization"
        ),
        (S.ACTION_PLANNING, S.ACCOUNTABILITY): Transition(
            focus_has_action_item, "the focus identity has at least one action item"
        ),
        (S.ACCOUNTABILITY, S.IDENTITY_REFINEMENT): Transition(
            another_identity_to_refine,
            "another accepted, unrefined identity exists (it becomes the focus)",
            pick_focus=next_identity_to_refine,
        ),
        (S.IDENTITY_REFINEMENT, S.IDENTITY_BRAINSTORMING): _BACK_TO_BRAINSTORMING,
        (S.IDENTITY_VISUALIZATION, S.IDENTITY_BRAINSTORMING): _BACK_TO_BRAINSTORMING,
        (S.ACTION_PLANNING, S.IDENTITY_BRAINSTORMING): _BACK_TO_BRAINSTORMING,
        (S.ACCOUNTABILITY, S.IDENTITY_BRAINSTORMING): _BACK_TO_BRAINSTORMING,
    }
)


def allowed_targets(state: CoachingState) -> tuple[CoachingState, ...]:
    """The phases ``state`` may move to (guards aside), in phase order."""
    return tuple(target for target in PHASE_ORDER if (state, target) in TRANSITIONS)


def evaluate_transition(context: CoachContext, to_state: CoachingState) -> TransitionDecision:
    """Decide whether the session may move from its current phase to ``to_state``.

    Pure: ``context`` is not changed. A request for the current phase, or for a move that is not
    in ``TRANSITIONS``, is refused with a reason naming the moves that exist.
    """
    from_state = context.current_state
    if to_state == from_state:
        return TransitionDecision(
            from_state, to_state, allowed=False, reason=f"already in phase {from_state.value}"
        )
    transition = TRANSITIONS.get((from_state, to_state))
    if transition is None:
        targets = ", ".join(t.value for t in allowed_targets(from_state)) or "nowhere"
        return TransitionDecision(
            from_state,
            to_state,
            allowed=False,
            reason=(
                f"no move from {from_state.value} to {to_state.value}; "
                f"from {from_state.value} the coach can move to: {targets}"
            ),
        )
    reason = transition.guard(context)
    if reason is not None:
        return TransitionDecision(from_state, to_state, allowed=False, reason=reason)
    new_focus = transition.pick_focus(context) if transition.pick_focus else None
    return TransitionDecision(from_state, to_state, allowed=True, new_focus_identity_id=new_focus)


def apply_transition(context: CoachContext, decision: TransitionDecision) -> None:
    """Carry out an allowed decision on ``context``: the new phase and, if any, the new focus.

    Raises:
        ValueError: the decision was refused, or was made for another phase than the current one.
    """
    if not decision.allowed:
        raise ValueError(f"cannot apply a refused transition: {decision.reason}")
    if decision.from_state != context.current_state:
        raise ValueError(
            f"the decision was made in phase {decision.from_state.value}, "
            f"but the session is in {context.current_state.value}; evaluate it again"
        )
    context.current_state = decision.to_state
    if decision.new_focus_identity_id is not None:
        context.focus_identity_id = decision.new_focus_identity_id


__all__ = [
    "MIN_ACCEPTED_IDENTITIES",
    "TRANSITIONS",
    "FocusPicker",
    "Guard",
    "Transition",
    "TransitionDecision",
    "allowed_targets",
    "apply_transition",
    "evaluate_transition",
]
