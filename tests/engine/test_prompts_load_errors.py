"""A prompt folder with a mistake is refused, naming the file and the problem."""

from __future__ import annotations

from pathlib import Path

from coach.prompts import PromptManager, create_prompt_manager
from tests.engine.prompt_spec import PHASE_VARIABLES, S, edit, load_error


def test_a_folder_of_edited_copies_is_used(prompt_dir: Path, manager: PromptManager) -> None:
    edit(prompt_dir / "persona.md", 'version: "1"', 'version: "2"')
    edit(prompt_dir / "persona.md", "You are an identity coach.", "You are Robin, a coach.")
    lab = create_prompt_manager(prompt_dir)
    prompt = lab.system_prompt(S.INTRODUCTION, PHASE_VARIABLES)
    assert lab.source == str(prompt_dir)
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


def test_an_action_the_phase_does_not_allow_is_refused(prompt_dir: Path) -> None:
    edit(
        prompt_dir / "introduction.md",
        "  - save_user_info\n",
        "  - save_user_info\n  - set_affirmation\n",
    )
    message = load_error(prompt_dir)
    assert "introduction.md" in message
    assert "phase 'introduction' does not allow: set_affirmation" in message
    assert "allowed there: save_user_info, transition_state" in message


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
    prompt = PromptManager.from_folder(prompt_dir).render("short", {"a": "x"})
    assert (prompt.version, prompt.text) == ("3", "x")
