"""The JSON examples in the prompt files: well-formed replies using only the allowed actions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from coach.enums import CoachingState
from coach.prompts import PromptManager
from tests.engine.prompt_spec import (
    ACTION_PARAMS,
    ANY_FENCE,
    EXPECTED_ALLOWED_ACTIONS,
    EXPECTED_FILES,
    EXPECTED_MOVES,
    PHASE_NAMES,
    json_examples,
)


@pytest.mark.parametrize("name", sorted(EXPECTED_FILES))
def test_every_code_block_is_a_json_example(manager: PromptManager, name: str) -> None:
    languages = ANY_FENCE.findall(manager.get(name).body)
    assert languages[::2] == ["json"] * (len(languages) // 2), "label every example ```json"
    assert len(languages) % 2 == 0


@pytest.mark.parametrize("name", [*PHASE_NAMES, "response_format"])
def test_json_examples_parse_and_have_the_reply_shape(manager: PromptManager, name: str) -> None:
    prompt = manager.get(name)
    examples = json_examples(prompt.body)
    assert examples, f"{name} has no JSON example"
    allowed = EXPECTED_ALLOWED_ACTIONS[prompt.phase] if prompt.phase else set(ACTION_PARAMS)
    for example in examples:
        assert set(example) == {"message", "actions"}
        assert isinstance(example["message"], str) and example["message"].strip()
        assert isinstance(example["actions"], list)
        for action in example["actions"]:
            assert set(action) == {"type", "params"}
            assert action["type"] in allowed, f"{name}: {action['type']} is not allowed here"
            required, optional = ACTION_PARAMS[action["type"]]
            params: Mapping[str, Any] = action["params"]
            assert required <= set(params) <= required | optional, action
            assert all(isinstance(v, str) and v for v in params.values()), action


def test_the_response_format_examples_only_use_actions_allowed_everywhere(
    manager: PromptManager,
) -> None:
    everywhere = set.intersection(*EXPECTED_ALLOWED_ACTIONS.values())
    for example in json_examples(manager.get("response_format").body):
        assert {a["type"] for a in example["actions"]} <= everywhere


@pytest.mark.parametrize("state", list(CoachingState))
def test_example_moves_are_allowed_from_their_phase(
    manager: PromptManager, state: CoachingState
) -> None:
    for example in json_examples(manager.phase_prompt(state).body):
        for action in example["actions"]:
            if action["type"] == "transition_state":
                assert CoachingState(action["params"]["to_state"]) in EXPECTED_MOVES[state]


@pytest.mark.parametrize("state", list(CoachingState))
def test_the_phase_text_names_every_move_it_may_request(
    manager: PromptManager, state: CoachingState
) -> None:
    body = manager.phase_prompt(state).body
    for target in EXPECTED_MOVES[state]:
        assert f'"{target.value}"' in body


def test_example_labels_are_short_and_title_case(manager: PromptManager) -> None:
    body = manager.get("identity_brainstorming").body
    labels = [
        a["params"]["label"]
        for example in json_examples(body)
        for a in example["actions"]
        if a["type"] == "create_identity"
    ]
    assert labels
    for label in labels:
        assert 2 <= len(label.split()) <= 4 and label == label.title(), label
