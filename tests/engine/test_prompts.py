"""The prompt files and PromptManager: every file loads and renders, templating is strict about
variables and literal about everything else, and the files agree with SPEC §2.

The expected tables below are written by hand from SPEC §2.1 and §2.3, not derived from the code,
so a prompt file that drifts from the specification fails here.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from coach.actions.params import allowed_in_order
from coach.enums import CoachingState, IdentityCategory, IdentityState
from coach.errors import CoachError
from coach.models import CoachContext
from coach.persistence.records import ActionItemRecord, IdentityRecord
from coach.prompts import (
    DEFAULT_PROMPT_DIR,
    PromptError,
    PromptKind,
    PromptManager,
    RenderedPrompt,
    create_prompt_manager,
)
from coach.prompts.variables import phase_variables, welcome_variables

S = CoachingState

# --- SPEC §2.3, by hand: the actions allowed in each phase ---

EXPECTED_ALLOWED_ACTIONS: dict[CoachingState, set[str]] = {
    S.INTRODUCTION: {"save_user_info", "transition_state"},
    S.IDENTITY_BRAINSTORMING: {
        "save_user_info",
        "create_identity",
        "update_identity",
        "accept_identity",
        "dismiss_identity",
        "add_identity_note",
        "transition_state",
    },
    S.IDENTITY_REFINEMENT: {
        "save_user_info",
        "update_identity",
        "add_identity_note",
        "select_focus_identity",
        "set_affirmation",
        "mark_identity_refined",
        "transition_state",
    },
    S.IDENTITY_VISUALIZATION: {
        "save_user_info",
        "add_identity_note",
        "save_visualization",
        "transition_state",
    },
    S.ACTION_PLANNING: {
        "save_user_info",
        "add_identity_note",
        "add_action_item",
        "transition_state",
    },
    S.ACCOUNTABILITY: {
        "save_user_info",
        "add_identity_note",
        "select_focus_identity",
        "complete_action_item",
        "transition_state",
    },
}

# --- SPEC §2.3, by hand: each action's params as (required, optional) ---

ACTION_PARAMS: dict[str, tuple[set[str], set[str]]] = {
    "save_user_info": ({"key", "value"}, set()),
    "create_identity": ({"label", "category"}, {"note"}),
    "update_identity": ({"identity_id"}, {"label", "category"}),
    "accept_identity": ({"identity_id"}, set()),
    "dismiss_identity": ({"identity_id"}, set()),
    "add_identity_note": ({"identity_id", "note"}, set()),
    "select_focus_identity": ({"identity_id"}, set()),
    "set_affirmation": ({"identity_id", "affirmation"}, set()),
    "mark_identity_refined": ({"identity_id"}, set()),
    "save_visualization": ({"identity_id", "visualization"}, set()),
    "add_action_item": ({"identity_id", "text"}, set()),
    "complete_action_item": ({"action_item_id"}, set()),
    "transition_state": ({"to_state"}, set()),
}

# --- SPEC §2.1, by hand: the moves the model may request from each phase ---

EXPECTED_MOVES: dict[CoachingState, set[CoachingState]] = {
    S.INTRODUCTION: {S.IDENTITY_BRAINSTORMING},
    S.IDENTITY_BRAINSTORMING: {S.IDENTITY_REFINEMENT},
    S.IDENTITY_REFINEMENT: {S.IDENTITY_VISUALIZATION, S.IDENTITY_BRAINSTORMING},
    S.IDENTITY_VISUALIZATION: {S.ACTION_PLANNING, S.IDENTITY_BRAINSTORMING},
    S.ACTION_PLANNING: {S.ACCOUNTABILITY, S.IDENTITY_BRAINSTORMING},
    S.ACCOUNTABILITY: {S.IDENTITY_REFINEMENT, S.IDENTITY_BRAINSTORMING},
}

# --- the documented variables (the engine's contract) ---

PHASE_VARIABLES: dict[str, str] = {
    "client_name": "Maya",
    "client_goals": "- Stop feeling stuck at work",
    "identities": (
        "- id 5f0c2a9e-1b7d-4c1e-9a3f-2d8e6b4c7a10 | Steady Money Keeper | keeper_of_money | "
        "accepted\n"
        "  - open action id 9a4e7c21-3b5d-4f60-8e2a-7c1d0b9f6e35 | Check my budget on Sundays"
    ),
    "focus_identity": "id 5f0c2a9e-1b7d-4c1e-9a3f-2d8e6b4c7a10 | Steady Money Keeper | accepted",
}

OTHER_VARIABLES: dict[str, dict[str, str]] = {
    "welcome": {},
    "welcome_back": {
        "client_name": "Maya",
        "identity_labels": "Steady Money Keeper, Playful Present Dad",
        "open_action_items": "Check my budget on Sundays (Steady Money Keeper)",
    },
    "summarizer": {"previous_summary": "(none yet)", "max_words": "200"},
    "persona": {},
    "response_format": {},
}

EXPECTED_FILES = {s.value for s in CoachingState} | set(OTHER_VARIABLES)

PHASE_NAMES = [s.value for s in CoachingState]
JSON_BLOCK = re.compile(r"```json\n(.*?)\n```", re.DOTALL)
ANY_FENCE = re.compile(r"^```(\w*)$", re.MULTILINE)


@pytest.fixture(scope="module")
def manager() -> PromptManager:
    return create_prompt_manager()


@pytest.fixture
def prompt_dir(tmp_path: Path) -> Path:
    """An editable copy of the project's prompt folder."""
    target = tmp_path / "prompts"
    shutil.copytree(DEFAULT_PROMPT_DIR, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def load_error(directory: Path) -> str:
    with pytest.raises(PromptError) as info:
        PromptManager(directory)
    return str(info.value)


def json_examples(text: str) -> list[Any]:
    return [json.loads(block) for block in JSON_BLOCK.findall(text)]


# --- loading ---


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


# --- rendering ---


@pytest.mark.parametrize("state", list(CoachingState))
def test_system_prompt_renders_for_every_phase(
    manager: PromptManager, state: CoachingState
) -> None:
    prompt = manager.system_prompt(state, PHASE_VARIABLES)
    parts = ("persona", state.value, "response_format")
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
def test_system_prompt_is_persona_then_phase_then_response_format(
    manager: PromptManager, state: CoachingState
) -> None:
    text = manager.system_prompt(state, PHASE_VARIABLES).text
    persona = manager.render("persona", {}).text
    response_format = manager.render("response_format", {}).text
    assert text.startswith(persona)
    assert text.endswith(response_format)


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
    for name in ("client_name", "identity_labels", "open_action_items"):
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
    assert '"params": {"key": "name", "value": "Maya"}}' in text


def test_literal_braces_survive_next_to_placeholders(prompt_dir: Path) -> None:
    (prompt_dir / "braces.md").write_text(
        "---\nname: braces\nversion: '1'\nkind: task\nvariables:\n  who: a name\n---\n"
        'Say {"hi": {"to": "{{ who }}"}} and { who } and }} and {single}.\n',
        encoding="utf-8",
    )
    text = PromptManager(prompt_dir).render("braces", {"who": "Ana"}).text
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
    assert PromptManager(prompt_dir).render("spacing", {"a": "x"}).text == "x x x"


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


# --- the JSON examples ---


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


# --- what the model is told and what the client sees ---


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


# --- loading errors ---


def test_a_folder_of_edited_copies_is_used(prompt_dir: Path, manager: PromptManager) -> None:
    edit(prompt_dir / "persona.md", 'version: "1"', 'version: "2"')
    edit(prompt_dir / "persona.md", "You are an identity coach.", "You are Robin, a coach.")
    lab = create_prompt_manager(prompt_dir)
    prompt = lab.system_prompt(S.INTRODUCTION, PHASE_VARIABLES)
    assert lab.directory == prompt_dir
    assert "You are Robin, a coach." in prompt.text
    assert prompt.version.startswith("persona@2+")
    original = manager.system_prompt(S.INTRODUCTION, PHASE_VARIABLES)
    assert prompt.content_hash != original.content_hash


def test_a_missing_front_matter_field_names_the_file(prompt_dir: Path) -> None:
    edit(prompt_dir / "welcome.md", 'version: "1"\n', "")
    message = load_error(prompt_dir)
    assert "welcome.md" in message and "'version'" in message


def test_a_file_without_front_matter_is_refused(prompt_dir: Path) -> None:
    (prompt_dir / "notes.md").write_text("Just some notes.\n", encoding="utf-8")
    message = load_error(prompt_dir)
    assert "notes.md" in message and "front matter" in message


def test_an_unknown_phase_names_the_file(prompt_dir: Path) -> None:
    edit(prompt_dir / "accountability.md", "phase: accountability", "phase: follow_up")
    message = load_error(prompt_dir)
    assert "accountability.md" in message and "follow_up" in message


def test_a_phase_without_a_file_is_refused(prompt_dir: Path) -> None:
    (prompt_dir / "action_planning.md").unlink()
    message = load_error(prompt_dir)
    assert "action_planning.md" in message and "'action_planning'" in message


def test_a_phase_with_two_files_is_refused(prompt_dir: Path) -> None:
    copy = (prompt_dir / "introduction.md").read_text(encoding="utf-8")
    (prompt_dir / "introduction_v2.md").write_text(
        copy.replace("name: introduction", "name: introduction_v2"), encoding="utf-8"
    )
    message = load_error(prompt_dir)
    assert "introduction_v2.md" in message and "several" in message


def test_a_missing_shared_prompt_is_refused(prompt_dir: Path) -> None:
    (prompt_dir / "summarizer.md").unlink()
    assert "summarizer.md" in load_error(prompt_dir)


def test_a_name_that_is_not_the_file_name_is_refused(prompt_dir: Path) -> None:
    edit(prompt_dir / "welcome.md", "name: welcome", "name: hello")
    message = load_error(prompt_dir)
    assert "welcome.md" in message and "hello" in message


def test_an_unknown_action_is_refused(prompt_dir: Path) -> None:
    edit(prompt_dir / "action_planning.md", "  - add_action_item\n", "  - add_todo\n")
    message = load_error(prompt_dir)
    assert "action_planning.md" in message and "add_todo" in message


def test_an_unknown_front_matter_field_is_refused(prompt_dir: Path) -> None:
    edit(prompt_dir / "welcome.md", "kind: message", "kind: message\nallowed_action: []")
    message = load_error(prompt_dir)
    assert "welcome.md" in message and "allowed_action" in message


def test_an_undeclared_placeholder_is_refused(prompt_dir: Path) -> None:
    edit(prompt_dir / "persona.md", "You are an identity coach.", "You are {{ coach_name }}.")
    message = load_error(prompt_dir)
    assert "persona.md" in message and "coach_name" in message


def test_a_declared_variable_that_is_never_used_is_refused(prompt_dir: Path) -> None:
    edit(prompt_dir / "summarizer.md", "{{ previous_summary }}", "(see above)")
    message = load_error(prompt_dir)
    assert "summarizer.md" in message and "previous_summary" in message


def test_a_malformed_placeholder_is_refused(prompt_dir: Path) -> None:
    edit(prompt_dir / "welcome_back.md", "{{ client_name }}", "{{ client name }}")
    message = load_error(prompt_dir)
    assert "welcome_back.md" in message and "malformed" in message


def test_invalid_yaml_is_refused(prompt_dir: Path) -> None:
    edit(prompt_dir / "welcome.md", "kind: message", "kind: [message")
    message = load_error(prompt_dir)
    assert "welcome.md" in message and "YAML" in message


def test_actions_on_a_file_that_is_not_a_phase_are_refused(prompt_dir: Path) -> None:
    edit(prompt_dir / "welcome.md", "kind: message", "kind: message\nallowed_actions: []")
    assert "welcome.md" in load_error(prompt_dir)


def test_every_problem_is_listed_at_once(prompt_dir: Path) -> None:
    edit(prompt_dir / "welcome.md", 'version: "1"\n', "")
    edit(prompt_dir / "persona.md", "You are an identity coach.", "You are {{ coach_name }}.")
    message = load_error(prompt_dir)
    assert "welcome.md" in message and "persona.md" in message


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    assert "does not exist" in load_error(tmp_path / "nowhere")


def test_a_numeric_version_and_a_list_of_variables_are_accepted(prompt_dir: Path) -> None:
    (prompt_dir / "short.md").write_text(
        "---\nname: short\nversion: 3\nkind: task\nvariables: [a]\n---\n{{ a }}\n",
        encoding="utf-8",
    )
    prompt = PromptManager(prompt_dir).render("short", {"a": "x"})
    assert (prompt.version, prompt.text) == ("3", "x")
