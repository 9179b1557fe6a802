"""The JSON schema sent to the model: strict-mode form, one per phase, and it validates replies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from coach.actions import ALLOWED_ACTIONS, PARAMS_MODELS, ActionType, response_schema
from coach.enums import CoachingState
from coach.persistence.records import ActionItemRecord
from tests.engine.action_helpers import A, S, act, identity, valid_params

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
