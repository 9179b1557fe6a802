"""What each action does to the client's data, once it is known to be allowed and well-formed.

``apply_effect`` dispatches on the params model (exhaustively, ending in ``assert_never``) and
either changes the working state of the turn or raises ``Rejected`` with the reason: an unknown
id, another user's identity, a duplicate label, or a lifecycle move that is not allowed (accept a
dismissed identity, mark one refined without an affirmation, complete an action item twice, ...).
The client's name is the model's to set only when nobody else gave one (``NameSource``).
Records are never mutated: a changed identity is replaced by an updated copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, assert_never

from pydantic import JsonValue

from coach.actions.params import (
    AcceptIdentityParams,
    AddActionItemParams,
    AddIdentityNoteParams,
    AnyParams,
    CompleteActionItemParams,
    CreateIdentityParams,
    DismissIdentityParams,
    MarkIdentityRefinedParams,
    SaveUserInfoParams,
    SaveVisualizationParams,
    SelectFocusIdentityParams,
    SetAffirmationParams,
    TransitionStateParams,
    UpdateIdentityParams,
)
from coach.enums import ActionStatus, CoachingState, IdentityState
from coach.models import CoachContext
from coach.persistence.base import label_key
from coach.persistence.records import (
    ActionItemRecord,
    ActionResultRecord,
    IdentityRecord,
    JsonDict,
)

# --- the outcome --------------------------------------------------------------------------------


@dataclass
class ActionOutcome:
    """What ``apply_actions`` did, for the engine to persist and the turn log to show.

    ``results`` holds one result per action, in order. ``requested_transition`` is the last valid
    ``transition_state`` request (an earlier one is rejected as superseded). ``user_data_changes``
    are top-level keys to merge into the user's data (``name`` with ``name_set_by``; ``goals``,
    the whole new list).
    """

    results: list[ActionResultRecord] = field(default_factory=list)
    requested_transition: CoachingState | None = None
    changed_identity_ids: set[str] = field(default_factory=set)
    user_data_changes: dict[str, JsonValue] = field(default_factory=dict)
    focus_changed: bool = False

    @property
    def applied(self) -> list[ActionResultRecord]:
        return [r for r in self.results if r.status is ActionStatus.APPLIED]

    @property
    def rejected(self) -> list[ActionResultRecord]:
        return [r for r in self.results if r.status is ActionStatus.REJECTED]

    def changed_identities(self, context: CoachContext) -> list[IdentityRecord]:
        """The identities of ``context`` this outcome created or changed, in context order."""
        return [i for i in context.identities if i.id in self.changed_identity_ids]


class Rejected(Exception):
    """An action cannot be applied; the message is the reason (kept in the turn log)."""


@dataclass
class TurnState:
    """The working state of one ``apply_actions`` call; written back to the context at the end.

    ``transition_result`` is the index in ``outcome.results`` of the recorded transition request.
    """

    user_id: str
    session_id: str
    now: datetime
    owners: Mapping[str, str] | None
    identities: list[IdentityRecord]
    focus: str | None
    profile: JsonDict
    outcome: ActionOutcome = field(default_factory=ActionOutcome)
    transition_result: int | None = None


def apply_effect(turn: TurnState, params: AnyParams) -> JsonDict:
    """Apply checked params; return what to add to the echo (ids created). Raises ``Rejected``."""
    match params:
        case SaveUserInfoParams():
            _save_user_info(turn, params)
        case CreateIdentityParams():
            return {"identity_id": _create_identity(turn, params)}
        case UpdateIdentityParams():
            _update_identity(turn, params)
        case AcceptIdentityParams():
            _accept_identity(turn, params)
        case DismissIdentityParams():
            _dismiss_identity(turn, params)
        case AddIdentityNoteParams():
            index, identity = _find(turn, params.identity_id)
            _update(turn, index, notes=[*identity.notes, params.note])
        case SelectFocusIdentityParams():
            _select_focus(turn, params)
        case SetAffirmationParams():
            index, identity = _find_live(turn, params.identity_id, "set the affirmation of")
            if identity.affirmation != params.affirmation:
                _update(turn, index, affirmation=params.affirmation)
        case MarkIdentityRefinedParams():
            _mark_refined(turn, params)
        case SaveVisualizationParams():
            index, identity = _find_live(turn, params.identity_id, "save a visualization for")
            if identity.visualization != params.visualization:
                _update(turn, index, visualization=params.visualization)
        case AddActionItemParams():
            return {"action_item_id": _add_action_item(turn, params)}
        case CompleteActionItemParams():
            _complete_action_item(turn, params)
        case TransitionStateParams():
            _request_transition(turn, params)
        case _:
            assert_never(params)
    return {}


# --- the client's name --------------------------------------------------------------------------

#: The key of the user's data that says who set the name (a ``NameSource`` value).
NAME_SET_BY = "name_set_by"


class NameSource(StrEnum):
    """Who set the client's name: a person when the session started or in the inspector, or
    the model (``save_user_info``)."""

    START = "start"
    COACH = "coach"
    MODEL = "model"


def _name_replaceable(profile: JsonDict, current: JsonValue, new: str) -> bool:
    """Whether the model's ``new`` name replaces ``current``; ``Rejected`` says why not.

    The model may set a name when none is stored, or replace a name it set itself (the client
    correcting it). A name a person gave, or one whose origin is not recorded, is kept: a model
    guessing from "I am Riley" or copying an example must not replace it silently. The kept
    name in another case or spacing is no change (``False``), not a rejection.
    """
    source = profile.get(NAME_SET_BY)
    if not isinstance(current, str) or not current or source == NameSource.MODEL.value:
        return True
    if label_key(current) == label_key(new):
        return False
    given = {
        NameSource.START.value: "was given when the session started",
        NameSource.COACH.value: "was set by a coach",
    }.get(source if isinstance(source, str) else "", "was not set by the model")
    raise Rejected(
        f"the client's name {current!r} {given}; the model cannot replace it with {new!r} "
        "(a coach can change it in the session inspector)"
    )


# --- lookups and checks -------------------------------------------------------------------------

_LIVE = frozenset({IdentityState.ACCEPTED, IdentityState.REFINED})


def _find(turn: TurnState, identity_id: str) -> tuple[int, IdentityRecord]:
    """The position and record of this client's identity; ``Rejected`` says why not.

    Another user's identity is recognised when its record is in the context or the owners lookup
    names its owner; an id the lookup does not know is unknown everywhere.
    """
    foreign = f"identity {identity_id!r} belongs to another user, not to this client"
    for index, identity in enumerate(turn.identities):
        if identity.id == identity_id:
            if identity.user_id != turn.user_id:
                raise Rejected(foreign)
            return index, identity
    if turn.owners is None:
        raise Rejected(f"unknown identity id {identity_id!r}: not one of this client's identities")
    owner = turn.owners.get(identity_id)
    if owner is None:
        raise Rejected(f"unknown identity id {identity_id!r}: no identity has this id")
    if owner != turn.user_id:
        raise Rejected(foreign)
    raise Rejected(f"unknown identity id {identity_id!r}: not one of this client's identities")


def _find_live(turn: TurnState, identity_id: str, doing: str) -> tuple[int, IdentityRecord]:
    """Like ``_find``, but the identity must be accepted or refined."""
    index, identity = _find(turn, identity_id)
    if identity.state not in _LIVE:
        hint = "; accept it first" if identity.state is IdentityState.PROPOSED else ""
        raise Rejected(
            f"cannot {doing} {identity.label!r}: it is {identity.state.value}, "
            f"not accepted or refined{hint}"
        )
    return index, identity


def _check_label_free(turn: TurnState, label: str, *, except_id: str | None = None) -> None:
    key = label_key(label)
    for other in turn.identities:
        live = other.id != except_id and other.state is not IdentityState.DISMISSED
        if live and label_key(other.label) == key:
            raise Rejected(
                f"duplicate label {label!r}: the client already has {other.label!r} "
                f"({other.state.value})"
            )


def _update(turn: TurnState, index: int, **changes: Any) -> IdentityRecord:
    """Replace the identity at ``index`` with an updated copy (the old record is untouched)."""
    updated = turn.identities[index].model_copy(update={**changes, "updated_at": turn.now})
    turn.identities[index] = updated
    turn.outcome.changed_identity_ids.add(updated.id)
    return updated


# --- the actions --------------------------------------------------------------------------------


def _save_user_info(turn: TurnState, params: SaveUserInfoParams) -> None:
    changes = turn.outcome.user_data_changes
    if params.key == "name":
        current = turn.profile.get("name")
        if current == params.value or not _name_replaceable(turn.profile, current, params.value):
            return
        turn.profile["name"] = changes["name"] = params.value
        turn.profile[NAME_SET_BY] = changes[NAME_SET_BY] = NameSource.MODEL.value
        return
    current = turn.profile.get("goals")
    goals: list[JsonValue] = (
        list(current) if isinstance(current, list) else [current] if current else []
    )
    key = label_key(params.value)
    if any(isinstance(g, str) and label_key(g) == key for g in goals):
        raise Rejected(f"the client already has the goal {params.value!r}")
    goals.append(params.value)
    turn.profile["goals"] = goals
    changes["goals"] = list(goals)


def _create_identity(turn: TurnState, params: CreateIdentityParams) -> str:
    _check_label_free(turn, params.label)
    identity = IdentityRecord(
        user_id=turn.user_id,
        label=params.label,
        category=params.category,
        state=IdentityState.PROPOSED,
        notes=[params.note] if params.note else [],
        session_id=turn.session_id,
        created_at=turn.now,
        updated_at=turn.now,
    )
    turn.identities.append(identity)
    turn.outcome.changed_identity_ids.add(identity.id)
    return identity.id


def _update_identity(turn: TurnState, params: UpdateIdentityParams) -> None:
    index, identity = _find(turn, params.identity_id)
    if identity.state is IdentityState.DISMISSED:
        raise Rejected(f"cannot update {identity.label!r}: it was dismissed")
    changes: dict[str, Any] = {}
    if params.label is not None and params.label != identity.label:
        _check_label_free(turn, params.label, except_id=identity.id)
        changes["label"] = params.label
    if params.category is not None and params.category != identity.category:
        changes["category"] = params.category
    if changes:
        _update(turn, index, **changes)


def _accept_identity(turn: TurnState, params: AcceptIdentityParams) -> None:
    index, identity = _find(turn, params.identity_id)
    if identity.state is IdentityState.DISMISSED:
        raise Rejected(
            f"cannot accept {identity.label!r}: it was dismissed "
            "(propose it again with create_identity)"
        )
    if identity.state is not IdentityState.PROPOSED:
        raise Rejected(f"{identity.label!r} is already {identity.state.value}")
    _update(turn, index, state=IdentityState.ACCEPTED)


def _dismiss_identity(turn: TurnState, params: DismissIdentityParams) -> None:
    index, identity = _find(turn, params.identity_id)
    if identity.state is IdentityState.DISMISSED:
        raise Rejected(f"{identity.label!r} is already dismissed")
    if identity.state is IdentityState.REFINED:
        raise Rejected(
            f"cannot dismiss {identity.label!r}: it is refined; "
            "only proposed or accepted identities can be dismissed"
        )
    _update(turn, index, state=IdentityState.DISMISSED)
    if turn.focus == identity.id:
        turn.focus = None
        turn.outcome.focus_changed = True


def _select_focus(turn: TurnState, params: SelectFocusIdentityParams) -> None:
    _, identity = _find_live(turn, params.identity_id, "focus on")
    if turn.focus != identity.id:
        turn.focus = identity.id
        turn.outcome.focus_changed = True


def _mark_refined(turn: TurnState, params: MarkIdentityRefinedParams) -> None:
    index, identity = _find(turn, params.identity_id)
    label = identity.label
    if identity.state is IdentityState.REFINED:
        raise Rejected(f"{label!r} is already refined")
    if identity.state is not IdentityState.ACCEPTED:
        hint = "accept it first" if identity.state is IdentityState.PROPOSED else "it was dismissed"
        raise Rejected(f"cannot mark {label!r} refined: it is {identity.state.value}; {hint}")
    if not identity.affirmation:
        raise Rejected(
            f"cannot mark {label!r} refined: it has no affirmation yet (use set_affirmation first)"
        )
    _update(turn, index, state=IdentityState.REFINED)


def _add_action_item(turn: TurnState, params: AddActionItemParams) -> str:
    index, identity = _find_live(turn, params.identity_id, "add an action item to")
    key = label_key(params.text)
    for item in identity.action_items:
        if not item.done and label_key(item.text) == key:
            raise Rejected(f"{identity.label!r} already has the open action item {item.text!r}")
    item = ActionItemRecord(text=params.text, created_at=turn.now)
    _update(turn, index, action_items=[*identity.action_items, item])
    return item.id


def _complete_action_item(turn: TurnState, params: CompleteActionItemParams) -> None:
    for index, identity in enumerate(turn.identities):
        for position, item in enumerate(identity.action_items):
            if item.id != params.action_item_id:
                continue
            if identity.user_id != turn.user_id:
                raise Rejected(
                    f"action item {item.id!r} belongs to another user's identity, "
                    "not to this client"
                )
            if item.done:
                raise Rejected(f"the action item {item.text!r} is already done")
            items = list(identity.action_items)
            items[position] = item.model_copy(update={"done": True, "done_at": turn.now})
            _update(turn, index, action_items=items)
            return
    raise Rejected(
        f"unknown action item id {params.action_item_id!r}: "
        "not an action item of this client's identities"
    )


def _request_transition(turn: TurnState, params: TransitionStateParams) -> None:
    """Record the request; an earlier request in the same reply is rejected as superseded."""
    results = turn.outcome.results
    if turn.transition_result is not None:
        earlier = results[turn.transition_result]
        results[turn.transition_result] = earlier.model_copy(
            update={
                "status": ActionStatus.REJECTED,
                "reason": f"superseded by a later transition_state (to {params.to_state.value})",
            }
        )
    turn.outcome.requested_transition = params.to_state
    turn.transition_result = len(results)  # this action's result is appended next


__all__ = ["NAME_SET_BY", "ActionOutcome", "NameSource", "Rejected", "TurnState", "apply_effect"]
