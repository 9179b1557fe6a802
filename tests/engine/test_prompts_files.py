"""Every prompt file loads, each phase has its file, and the files agree with SPEC §2.3."""

from __future__ import annotations

import pytest

from coach.actions.params import allowed_in_order
from coach.enums import CoachingState
from coach.prompts import DEFAULT_PROMPT_DIR, PromptKind, PromptManager
from tests.engine.prompt_spec import (
    EXPECTED_ALLOWED_ACTIONS,
    EXPECTED_FILES,
    OTHER_VARIABLES,
    PHASE_VARIABLES,
)


def test_every_prompt_file_loads(manager: PromptManager) -> None:
    assert set(manager.names) == EXPECTED_FILES
    assert {p.stem for p in DEFAULT_PROMPT_DIR.glob("*.md")} == EXPECTED_FILES
    for name in manager.names:
        prompt = manager.get(name)
        assert prompt.body.strip() and prompt.version and prompt.description


@pytest.mark.parametrize("state", list(CoachingState))
def test_every_phase_has_its_own_phase_file(manager: PromptManager, state: CoachingState) -> None:
    prompt = manager.phase_prompt(state)
    assert (prompt.name, prompt.kind, prompt.phase) == (state.value, PromptKind.PHASE, state)


@pytest.mark.parametrize("state", list(CoachingState))
def test_allowed_actions_match_the_spec_table(manager: PromptManager, state: CoachingState) -> None:
    allowed = manager.allowed_actions(state)
    assert set(allowed) == EXPECTED_ALLOWED_ACTIONS[state]
    assert len(allowed) == len(set(allowed))


@pytest.mark.parametrize("state", list(CoachingState))
def test_allowed_actions_match_the_engine(manager: PromptManager, state: CoachingState) -> None:
    # The schema and the checks use coach.actions.params; the prompt must tell the same story.
    assert manager.allowed_actions(state) == tuple(a.value for a in allowed_in_order(state))


def test_shared_parts_allow_no_actions(manager: PromptManager) -> None:
    for name in OTHER_VARIABLES:
        assert manager.get(name).allowed_actions == ()
        assert manager.get(name).phase is None


@pytest.mark.parametrize("state", list(CoachingState))
def test_every_phase_needs_the_documented_variables(
    manager: PromptManager, state: CoachingState
) -> None:
    assert set(manager.system_prompt_variables(state)) == set(PHASE_VARIABLES)


@pytest.mark.parametrize("name", sorted(OTHER_VARIABLES))
def test_other_prompts_need_the_documented_variables(manager: PromptManager, name: str) -> None:
    assert set(manager.required_variables(name)) == set(OTHER_VARIABLES[name])


def test_every_variable_is_documented(manager: PromptManager) -> None:
    for name in manager.names:
        prompt = manager.get(name)
        assert set(prompt.variable_docs) == set(prompt.variables)
        assert all(prompt.variable_docs.values()), f"{name}: a variable has no description"
