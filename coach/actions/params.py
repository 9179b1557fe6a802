"""The vocabulary of the model's actions: their names, their parameters, and where they are allowed.

``ACTION_PHASES`` is the table of SPEC §2.3 (action → the phases it is allowed in);
``ALLOWED_ACTIONS`` is the same table read the other way. Each action has one pydantic params
model: unknown fields are refused, strings are stripped and length-limited, and a label must be
2–4 words (it is put in Title Case). ``coach.actions.schema.response_schema`` is derived
from these models, so what the model is told and what is checked cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from coach.enums import CoachingState, IdentityCategory


class ActionType(StrEnum):
    """The 13 actions the model can ask for."""

    SAVE_USER_INFO = "save_user_info"
    CREATE_IDENTITY = "create_identity"
    UPDATE_IDENTITY = "update_identity"
    ACCEPT_IDENTITY = "accept_identity"
    DISMISS_IDENTITY = "dismiss_identity"
    ADD_IDENTITY_NOTE = "add_identity_note"
    SELECT_FOCUS_IDENTITY = "select_focus_identity"
    SET_AFFIRMATION = "set_affirmation"
    MARK_IDENTITY_REFINED = "mark_identity_refined"
    SAVE_VISUALIZATION = "save_visualization"
    ADD_ACTION_ITEM = "add_action_item"
    COMPLETE_ACTION_ITEM = "complete_action_item"
    TRANSITION_STATE = "transition_state"


# --- field types --------------------------------------------------------------------------------

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAKS = re.compile(r"[\r\n\t]")
#: Words kept in lower case inside a Title Case label ("Keeper of Money").
_MINOR_WORDS = frozenset(
    ["a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with"]
)
LABEL_MIN_WORDS, LABEL_MAX_WORDS = 2, 4


def _no_control_chars(value: str) -> str:
    if _CONTROL_CHARS.search(value):
        raise ValueError("must not contain control characters")
    return value


def _single_line(value: str) -> str:
    if _LINE_BREAKS.search(value):
        raise ValueError("must be a single line")
    return value


def title_case(label: str) -> str:
    """``label`` in Title Case: each word capitalised, minor words lower-case except the first.

    Only the first letter of a word changes, so "DIY Maker" stays as it is.
    """
    words = label.split()
    return " ".join(
        w.lower() if i > 0 and w.lower() in _MINOR_WORDS else w[:1].upper() + w[1:]
        for i, w in enumerate(words)
    )


def _label(value: str) -> str:
    value = value.strip().strip("\"'“”‘’").strip()
    words = value.split()
    if not LABEL_MIN_WORDS <= len(words) <= LABEL_MAX_WORDS:
        raise ValueError(
            f"must be {LABEL_MIN_WORDS}–{LABEL_MAX_WORDS} words; {value!r} has {len(words)}"
        )
    return title_case(value)


def _affirmation(value: str) -> str:
    if not re.match(r"(?i)i\s+am\b|i['’]m\b", value.strip("\"'“”‘’")):
        raise ValueError('must be an "I am …" statement (start with "I am")')
    return value


def _text(max_length: int) -> object:
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)


Id = Annotated[str, _text(64), AfterValidator(_single_line), AfterValidator(_no_control_chars)]
Label = Annotated[
    str,
    _text(60),
    AfterValidator(_single_line),
    AfterValidator(_no_control_chars),
    AfterValidator(_label),
]
Note = Annotated[str, _text(1000), AfterValidator(_no_control_chars)]
Affirmation = Annotated[
    str, _text(300), AfterValidator(_no_control_chars), AfterValidator(_affirmation)
]
Visualization = Annotated[str, _text(4000), AfterValidator(_no_control_chars)]
ItemText = Annotated[str, _text(300), AfterValidator(_no_control_chars)]
UserInfoValue = Annotated[str, _text(500), AfterValidator(_no_control_chars)]

NAME_MAX_LENGTH = 100
_PLACEHOLDER = re.compile(r"[<>{}\[\]]")


# --- params models ------------------------------------------------------------------------------


class ActionParams(BaseModel):
    """Base of every params model: unknown fields refused, values frozen once checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SaveUserInfoParams(ActionParams):
    key: Literal["name", "goal"] = Field(description="name: the client's name; goal: a goal")
    value: UserInfoValue = Field(description="the name, or one goal in the client's words")

    @model_validator(mode="after")
    def _short_name(self) -> SaveUserInfoParams:
        if self.key != "name":
            return self
        if len(self.value) > NAME_MAX_LENGTH or "\n" in self.value:
            raise ValueError(
                f"value: a name must be one line of at most {NAME_MAX_LENGTH} characters"
            )
        if _PLACEHOLDER.search(self.value):
            # The prompts' examples write names as <placeholders>: one copied is not a name.
            raise ValueError(
                f"value: {self.value!r} is a placeholder, not a name; save the name the "
                "client wrote"
            )
        return self


class CreateIdentityParams(ActionParams):
    label: Label = Field(description="2–4 words, Title Case, e.g. Creative Visionary")
    category: IdentityCategory
    note: Note | None = Field(default=None, description="why it fits, in the client's words")


class UpdateIdentityParams(ActionParams):
    identity_id: Id
    label: Label | None = Field(default=None, description="new label (2–4 words), or null")
    category: IdentityCategory | None = Field(default=None, description="new category, or null")

    @model_validator(mode="after")
    def _something_to_change(self) -> UpdateIdentityParams:
        if self.label is None and self.category is None:
            raise ValueError("nothing to change: give a label, a category, or both")
        return self


class AcceptIdentityParams(ActionParams):
    identity_id: Id


class DismissIdentityParams(ActionParams):
    identity_id: Id


class AddIdentityNoteParams(ActionParams):
    identity_id: Id
    note: Note


class SelectFocusIdentityParams(ActionParams):
    identity_id: Id


class SetAffirmationParams(ActionParams):
    identity_id: Id
    affirmation: Affirmation = Field(description='the "I am …" statement')


class MarkIdentityRefinedParams(ActionParams):
    identity_id: Id


class SaveVisualizationParams(ActionParams):
    identity_id: Id
    visualization: Visualization = Field(description="the client living this identity, vividly")


class AddActionItemParams(ActionParams):
    identity_id: Id
    text: ItemText = Field(description="one concrete, small action")


class CompleteActionItemParams(ActionParams):
    action_item_id: Id


class TransitionStateParams(ActionParams):
    to_state: CoachingState = Field(description="the phase to move to")


AnyParams = (
    SaveUserInfoParams
    | CreateIdentityParams
    | UpdateIdentityParams
    | AcceptIdentityParams
    | DismissIdentityParams
    | AddIdentityNoteParams
    | SelectFocusIdentityParams
    | SetAffirmationParams
    | MarkIdentityRefinedParams
    | SaveVisualizationParams
    | AddActionItemParams
    | CompleteActionItemParams
    | TransitionStateParams
)

PARAMS_MODELS: Mapping[ActionType, type[AnyParams]] = MappingProxyType(
    {
        ActionType.SAVE_USER_INFO: SaveUserInfoParams,
        ActionType.CREATE_IDENTITY: CreateIdentityParams,
        ActionType.UPDATE_IDENTITY: UpdateIdentityParams,
        ActionType.ACCEPT_IDENTITY: AcceptIdentityParams,
        ActionType.DISMISS_IDENTITY: DismissIdentityParams,
        ActionType.ADD_IDENTITY_NOTE: AddIdentityNoteParams,
        ActionType.SELECT_FOCUS_IDENTITY: SelectFocusIdentityParams,
        ActionType.SET_AFFIRMATION: SetAffirmationParams,
        ActionType.MARK_IDENTITY_REFINED: MarkIdentityRefinedParams,
        ActionType.SAVE_VISUALIZATION: SaveVisualizationParams,
        ActionType.ADD_ACTION_ITEM: AddActionItemParams,
        ActionType.COMPLETE_ACTION_ITEM: CompleteActionItemParams,
        ActionType.TRANSITION_STATE: TransitionStateParams,
    }
)

# --- where each action is allowed (SPEC §2.3) ---------------------------------------------------

S = CoachingState
_ALL = frozenset(CoachingState)
_BRAINSTORMING_ON = frozenset(
    {S.IDENTITY_BRAINSTORMING, S.IDENTITY_REFINEMENT, S.IDENTITY_VISUALIZATION,
     S.ACTION_PLANNING, S.ACCOUNTABILITY}
)  # fmt: skip

ACTION_PHASES: Mapping[ActionType, frozenset[CoachingState]] = MappingProxyType(
    {
        ActionType.SAVE_USER_INFO: _ALL,
        ActionType.CREATE_IDENTITY: frozenset({S.IDENTITY_BRAINSTORMING}),
        ActionType.UPDATE_IDENTITY: frozenset({S.IDENTITY_BRAINSTORMING, S.IDENTITY_REFINEMENT}),
        ActionType.ACCEPT_IDENTITY: frozenset({S.IDENTITY_BRAINSTORMING}),
        ActionType.DISMISS_IDENTITY: frozenset({S.IDENTITY_BRAINSTORMING}),
        ActionType.ADD_IDENTITY_NOTE: _BRAINSTORMING_ON,
        ActionType.SELECT_FOCUS_IDENTITY: frozenset({S.IDENTITY_REFINEMENT, S.ACCOUNTABILITY}),
        ActionType.SET_AFFIRMATION: frozenset({S.IDENTITY_REFINEMENT}),
        ActionType.MARK_IDENTITY_REFINED: frozenset({S.IDENTITY_REFINEMENT}),
        ActionType.SAVE_VISUALIZATION: frozenset({S.IDENTITY_VISUALIZATION}),
        ActionType.ADD_ACTION_ITEM: frozenset({S.ACTION_PLANNING}),
        ActionType.COMPLETE_ACTION_ITEM: frozenset({S.ACCOUNTABILITY}),
        ActionType.TRANSITION_STATE: _ALL,
    }
)

#: The actions allowed in each phase (``ACTION_PHASES`` read the other way).
ALLOWED_ACTIONS: Mapping[CoachingState, frozenset[ActionType]] = MappingProxyType(
    {
        state: frozenset(a for a, phases in ACTION_PHASES.items() if state in phases)
        for state in CoachingState
    }
)


def allowed_in_order(state: CoachingState) -> tuple[ActionType, ...]:
    """The actions allowed in ``state``, in the order ``ActionType`` declares them."""
    return tuple(a for a in ActionType if a in ALLOWED_ACTIONS[state])


__all__ = [
    "ACTION_PHASES",
    "ALLOWED_ACTIONS",
    "LABEL_MAX_WORDS",
    "LABEL_MIN_WORDS",
    "PARAMS_MODELS",
    "AcceptIdentityParams",
    "ActionParams",
    "ActionType",
    "AddActionItemParams",
    "AddIdentityNoteParams",
    "AnyParams",
    "CompleteActionItemParams",
    "CreateIdentityParams",
    "DismissIdentityParams",
    "MarkIdentityRefinedParams",
    "SaveUserInfoParams",
    "SaveVisualizationParams",
    "SelectFocusIdentityParams",
    "SetAffirmationParams",
    "TransitionStateParams",
    "UpdateIdentityParams",
    "allowed_in_order",
    "title_case",
]
