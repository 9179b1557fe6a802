"""The JSON schema of a coach reply, built per phase from that phase's allowed actions.

The schema is derived from the params models in ``coach.actions.params`` and rewritten into the
subset that OpenAI's strict structured outputs accept: every object lists all its properties in
``required`` and sets ``additionalProperties`` to false, an optional parameter becomes a nullable
type, ``$ref``\\s are inlined, and keywords strict mode refuses (``minLength``, ``pattern``,
``format``, ``default``, ...) are dropped. The dropped limits are still enforced when the actions
are applied; the descriptions tell the model about them.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from coach.actions.params import PARAMS_MODELS, ActionType, allowed_in_order
from coach.enums import CoachingState

#: One line per action, sent to the model inside the schema.
ACTION_DESCRIPTIONS: Mapping[ActionType, str] = MappingProxyType(
    {
        ActionType.SAVE_USER_INFO: "Remember the client's name, or add one of their goals.",
        ActionType.CREATE_IDENTITY: "Propose a new identity (state proposed).",
        ActionType.UPDATE_IDENTITY: "Change an identity's label and/or category.",
        ActionType.ACCEPT_IDENTITY: "The client accepts a proposed identity.",
        ActionType.DISMISS_IDENTITY: "The client dismisses a proposed or accepted identity.",
        ActionType.ADD_IDENTITY_NOTE: "Append a note to an identity.",
        ActionType.SELECT_FOCUS_IDENTITY: "Make an accepted or refined identity the focus.",
        ActionType.SET_AFFIRMATION: 'Set an identity\'s "I am …" affirmation.',
        ActionType.MARK_IDENTITY_REFINED: "Mark an accepted identity refined (needs an affirmation).",  # noqa: E501
        ActionType.SAVE_VISUALIZATION: "Store the picture of the client living the identity.",
        ActionType.ADD_ACTION_ITEM: "Add a concrete, small action item to an identity.",
        ActionType.COMPLETE_ACTION_ITEM: "Mark an action item done.",
        ActionType.TRANSITION_STATE: "Ask to move to another phase; the rules decide.",
    }
)

#: Keywords OpenAI strict mode refuses (or that add nothing for the model).
_DROPPED_KEYWORDS = frozenset(
    {
        "title", "default", "examples", "minLength", "maxLength", "pattern", "format",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties",
    }
)  # fmt: skip


def strict_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Rewrite a pydantic JSON schema into OpenAI's strict subset (see the module docstring)."""
    defs: Mapping[str, Any] = schema.get("$defs", {})
    result: dict[str, Any] = _strict(schema, defs)
    return result


def _strict(node: Any, defs: Mapping[str, Any]) -> Any:
    if isinstance(node, list):
        return [_strict(item, defs) for item in node]
    if not isinstance(node, Mapping):
        return node
    if "$ref" in node:
        target = defs[str(node["$ref"]).rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _strict(merged, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYWORDS or key == "$defs":
            continue
        if key == "properties":
            out[key] = {name: _strict(sub, defs) for name, sub in value.items()}
        else:
            out[key] = _strict(value, defs)
    if out.get("type") == "object" or "properties" in out:
        out["type"] = "object"
        out.setdefault("properties", {})
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False
    return out


@functools.cache
def _params_schema(action: ActionType) -> dict[str, Any]:
    # Built once per action: pydantic's schema generation costs about a millisecond a turn.
    params = strict_schema(PARAMS_MODELS[action].model_json_schema())
    params.pop("description", None)
    return params


def action_schema(action: ActionType) -> dict[str, Any]:
    """The strict schema of one action: ``{type: <its name>, params: {...}}`` (a new dict)."""
    params = copy.deepcopy(_params_schema(action))
    return {
        "type": "object",
        "description": ACTION_DESCRIPTIONS[action],
        "properties": {
            "type": {"type": "string", "enum": [action.value]},
            "params": params,
        },
        "required": ["type", "params"],
        "additionalProperties": False,
    }


def response_schema(state: CoachingState) -> dict[str, Any]:
    """The JSON schema of a coach reply in phase ``state``, for strict structured outputs.

    ``{message: string, actions: [one of the phase's allowed actions]}``. A new dict on every
    call: callers may change it freely.
    """
    return {
        "type": "object",
        "properties": {
            "message": {
                "type": "string",
                "description": "What the coach says to the client (Markdown, no HTML).",
            },
            "actions": {
                "type": "array",
                "description": "Actions to record; an empty list when there is nothing to do.",
                "items": {"anyOf": [action_schema(a) for a in allowed_in_order(state)]},
            },
        },
        "required": ["message", "actions"],
        "additionalProperties": False,
    }


__all__ = [
    "ACTION_DESCRIPTIONS",
    "action_schema",
    "response_schema",
    "strict_schema",
]
