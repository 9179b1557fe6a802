"""What the model is told and what the client sees: no phase names, codes or system talk."""

from __future__ import annotations

import re

import pytest

from coach.enums import CoachingState, IdentityCategory
from coach.prompts import PromptKind, PromptManager
from tests.engine.prompt_spec import (
    ACTION_PARAMS,
    OTHER_VARIABLES,
    PHASE_NAMES,
    PHASE_VARIABLES,
    S,
    json_examples,
)


@pytest.mark.parametrize("state", list(CoachingState))
def test_the_system_prompt_names_exactly_the_allowed_actions(
    manager: PromptManager, state: CoachingState
) -> None:
    text = manager.system_prompt(state, PHASE_VARIABLES).text
    mentioned = {a for a in ACTION_PARAMS if re.search(rf"\b{a}\b", text)}
    assert mentioned == set(manager.allowed_actions(state))


@pytest.mark.parametrize("state", list(CoachingState))
def test_phase_names_appear_only_as_quoted_action_values(
    manager: PromptManager, state: CoachingState
) -> None:
    text = manager.system_prompt(state, PHASE_VARIABLES).text
    for phase in PHASE_NAMES:
        for match in re.finditer(rf"\b{phase}\b", text):
            before, after = text[match.start() - 1], text[match.end()]
            assert (before, after) == ('"', '"'), f"{phase!r} used in prose in {state.value}"


def test_the_persona_forbids_naming_phases_or_the_system(manager: PromptManager) -> None:
    sentences = re.split(r"(?<=[.;])\s", manager.get("persona").body)
    never = [s.lower() for s in sentences if "never" in s.lower()]
    assert any("phase" in s for s in never)
    assert any("system" in s and "json" in s for s in never)


@pytest.mark.parametrize("name", [*PHASE_NAMES, "response_format"])
def test_example_messages_never_name_phases_or_codes(manager: PromptManager, name: str) -> None:
    codes = [*PHASE_NAMES, *(c.value for c in IdentityCategory), "phase", "stage"]
    for example in json_examples(manager.get(name).body):
        message = example["message"].lower()
        assert not [c for c in codes if c in message], example["message"]


@pytest.mark.parametrize("name", ["welcome", "welcome_back"])
def test_client_messages_never_name_phases_or_codes(manager: PromptManager, name: str) -> None:
    prompt = manager.get(name)
    assert prompt.kind is PromptKind.MESSAGE
    text = manager.render(name, OTHER_VARIABLES[name]).text.lower()
    for word in [*PHASE_NAMES, *(c.value for c in IdentityCategory), "phase", "stage", "json"]:
        assert word not in text


def test_the_welcome_explains_the_approach_and_invites_the_client(
    manager: PromptManager,
) -> None:
    text = manager.render("welcome", {}).text
    assert "identit" in text and "I am" in text
    assert text.rstrip().endswith("?")


def test_the_introduction_says_not_to_explain_again(manager: PromptManager) -> None:
    body = manager.phase_prompt(S.INTRODUCTION).body.lower()
    assert "never explain it again" in body


def test_brainstorming_names_all_nine_categories(manager: PromptManager) -> None:
    body = manager.phase_prompt(S.IDENTITY_BRAINSTORMING).body
    for category in IdentityCategory:
        assert f"`{category.value}`" in body


def test_the_summarizer_bounds_the_summary(manager: PromptManager) -> None:
    variables = {"previous_summary": "Maya wants calm.", "max_words": "150"}
    text = manager.render("summarizer", variables).text
    assert "at most 150 words" in text
    assert text.rstrip().endswith("Maya wants calm.")


@pytest.mark.parametrize("state", list(CoachingState))
def test_system_prompts_leave_room_for_the_conversation(
    manager: PromptManager, state: CoachingState
) -> None:
    # The engine's default budget is 3,000 tokens for everything; keep prompts well under half.
    words = len(manager.system_prompt(state, PHASE_VARIABLES).text.split())
    assert words < 1100
