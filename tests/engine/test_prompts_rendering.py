"""Rendering: strict about variables, literal about everything else, hashed for the turn log."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from coach.enums import CoachingState, IdentityCategory, IdentityState
from coach.errors import CoachError
from coach.models import CoachContext
from coach.persistence.records import ActionItemRecord, IdentityRecord
from coach.prompts import PromptError, PromptManager, RenderedPrompt
from coach.prompts.variables import phase_variables, welcome_variables
from tests.engine.prompt_spec import OTHER_VARIABLES, PHASE_VARIABLES, S


@pytest.mark.parametrize("state", list(CoachingState))
def test_system_prompt_renders_for_every_phase(
    manager: PromptManager, state: CoachingState
) -> None:
    prompt = manager.system_prompt(state, PHASE_VARIABLES)
    parts = ("persona", "response_format", state.value)
    assert isinstance(prompt, RenderedPrompt)
    assert prompt.name == state.value
    assert prompt.phase is state
    assert prompt.parts == parts
    assert prompt.version == "+".join(f"{p}@{manager.get(p).version}" for p in parts)
    assert prompt.allowed_actions == manager.allowed_actions(state)
    assert prompt.content_hash == hashlib.sha256(prompt.text.encode()).hexdigest()
    assert "{{" not in prompt.text
    for value in PHASE_VARIABLES.values():
        assert value in prompt.text


@pytest.mark.parametrize("state", list(CoachingState))
def test_system_prompt_is_the_shared_parts_then_the_phase(
    manager: PromptManager, state: CoachingState
) -> None:
    text = manager.system_prompt(state, PHASE_VARIABLES).text
    persona = manager.render("persona", {}).text
    response_format = manager.render("response_format", {}).text
    phase = manager.render(state.value, PHASE_VARIABLES).text
    assert text == f"{persona}\n\n{response_format}\n\n{phase}"


@pytest.mark.parametrize("state", list(CoachingState))
def test_every_phase_prompt_begins_with_the_shared_prefix_and_ends_with_the_client(
    manager: PromptManager, state: CoachingState
) -> None:
    # A local model reuses what it computed for the common beginning of two prompts: the
    # shared parts first, and what changes from turn to turn (the variables) last.
    text = manager.system_prompt(state, PHASE_VARIABLES).text
    shared = manager.shared_system_prefix()
    assert shared.startswith(manager.render("persona", {}).text)
    assert text.startswith(shared)
    variables = [text.index(value) for value in PHASE_VARIABLES.values()]
    assert "```" not in text[min(variables) :], "examples after the variables break the reuse"


@pytest.mark.parametrize("name", sorted(OTHER_VARIABLES))
def test_other_prompts_render(manager: PromptManager, name: str) -> None:
    prompt = manager.render(name, OTHER_VARIABLES[name])
    assert prompt.name == name
    assert prompt.version == manager.get(name).version
    assert prompt.parts == (name,)
    assert "{{" not in prompt.text
    for value in OTHER_VARIABLES[name].values():
        assert value in prompt.text


def test_a_missing_variable_raises_naming_it(manager: PromptManager) -> None:
    variables = {k: v for k, v in PHASE_VARIABLES.items() if k != "identities"}
    with pytest.raises(PromptError, match="identities") as info:
        manager.system_prompt(S.IDENTITY_BRAINSTORMING, variables)
    assert "identity_brainstorming" in str(info.value)
    assert "client_name" not in str(info.value).split("Pass every one of")[0]


def test_every_missing_variable_is_named(manager: PromptManager) -> None:
    with pytest.raises(PromptError) as info:
        manager.render("welcome_back", {})
    message = str(info.value)
    assert "welcome_back" in message
    for name in OTHER_VARIABLES["welcome_back"]:
        assert name in message


def test_prompt_error_is_a_coach_error() -> None:
    assert issubclass(PromptError, CoachError)


def test_a_variable_that_is_not_text_raises(manager: PromptManager) -> None:
    with pytest.raises(PromptError, match="max_words"):
        manager.render("summarizer", {"previous_summary": "", "max_words": 200})  # type: ignore[dict-item]


def test_unused_variables_are_ignored(manager: PromptManager) -> None:
    plain = manager.render("welcome", {})
    extra = manager.render("welcome", {"client_name": "Maya", "anything": "else"})
    assert extra == plain


def test_literal_braces_and_json_survive_rendering(manager: PromptManager) -> None:
    body = manager.get("response_format").body
    text = manager.render("response_format", {}).text
    assert text == body
    assert '{"message": ' in text
    assert '"params": {"key": "name", "value": "<their name>"}}' in text


def test_literal_braces_survive_next_to_placeholders(prompt_dir: Path) -> None:
    (prompt_dir / "braces.md").write_text(
        "---\nname: braces\nversion: '1'\nkind: task\nvariables:\n  who: a name\n---\n"
        'Say {"hi": {"to": "{{ who }}"}} and { who } and }} and {single}.\n',
        encoding="utf-8",
    )
    text = PromptManager.from_folder(prompt_dir).render("braces", {"who": "Ana"}).text
    assert text == 'Say {"hi": {"to": "Ana"}} and { who } and }} and {single}.'


def test_values_are_inserted_literally_never_rendered_again(manager: PromptManager) -> None:
    tricky = 'Likes {{ client_name }} and {"x": 1} and {0} and {{identities}}'
    variables = {**PHASE_VARIABLES, "identities": tricky}
    text = manager.system_prompt(S.IDENTITY_BRAINSTORMING, variables).text
    assert tricky in text
    assert "Likes Maya" not in text


def test_placeholder_spacing_is_free(prompt_dir: Path) -> None:
    (prompt_dir / "spacing.md").write_text(
        "---\nname: spacing\nversion: '1'\nkind: task\nvariables:\n  a: a value\n---\n"
        "{{a}} {{ a }} {{   a\t}}\n",
        encoding="utf-8",
    )
    assert PromptManager.from_folder(prompt_dir).render("spacing", {"a": "x"}).text == "x x x"


def test_content_hash_changes_with_a_variable_and_is_stable_otherwise(
    manager: PromptManager,
) -> None:
    first = manager.system_prompt(S.ACTION_PLANNING, PHASE_VARIABLES)
    again = manager.system_prompt(S.ACTION_PLANNING, dict(PHASE_VARIABLES))
    other = manager.system_prompt(S.ACTION_PLANNING, {**PHASE_VARIABLES, "client_name": "Sam"})
    assert first.content_hash == again.content_hash
    assert first == again
    assert other.content_hash != first.content_hash
    assert other.version == first.version
    assert len(first.short_hash) == 12 and first.content_hash.startswith(first.short_hash)


def test_content_hash_differs_between_phases(manager: PromptManager) -> None:
    hashes = {manager.system_prompt(s, PHASE_VARIABLES).content_hash for s in CoachingState}
    assert len(hashes) == len(CoachingState)


def test_an_unknown_prompt_or_phase_raises(manager: PromptManager) -> None:
    with pytest.raises(PromptError, match="welcome_back"):
        manager.render("goodbye", {})
    with pytest.raises(PromptError, match="introduction"):
        manager.system_prompt("closing", PHASE_VARIABLES)  # type: ignore[arg-type]


def test_a_phase_given_as_text_works(manager: PromptManager) -> None:
    by_text = manager.system_prompt("accountability", PHASE_VARIABLES)  # type: ignore[arg-type]
    assert by_text == manager.system_prompt(S.ACCOUNTABILITY, PHASE_VARIABLES)


def engine_context() -> CoachContext:
    keeper = IdentityRecord(
        user_id="u1",
        label="Steady Money Keeper",
        category=IdentityCategory.KEEPER_OF_MONEY,
        state=IdentityState.REFINED,
        affirmation="I am a steady keeper of my money.",
        action_items=[ActionItemRecord(text="Check my budget on Sundays")],
    )
    dad = IdentityRecord(
        user_id="u1", label="Playful Present Dad", category=IdentityCategory.FAMILIAL_RELATIONS
    )
    return CoachContext(
        user_id="u1",
        session_id="s1",
        user_profile={"name": "Maya", "goals": ["Feel calm about money"]},
        identities=[keeper, dad],
        focus_identity_id=keeper.id,
    )


@pytest.mark.parametrize("state", list(CoachingState))
def test_the_engines_variables_render_every_phase(
    manager: PromptManager, state: CoachingState
) -> None:
    context = engine_context()
    text = manager.system_prompt(state, phase_variables(context)).text
    assert "Steady Money Keeper" in text and context.identities[0].id in text


@pytest.mark.parametrize("name", ["welcome", "welcome_back"])
def test_the_engines_variables_render_the_opening_messages(
    manager: PromptManager, name: str
) -> None:
    text = manager.render(name, welcome_variables(engine_context())).text
    if name == "welcome_back":
        assert "Hi Maya" in text
        assert "Steady Money Keeper" in text and "Check my budget on Sundays" in text
