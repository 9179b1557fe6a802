"""``python -m coach prompts ...``, run as a coach runs it (a subprocess on a SQLite file): each
command's output, and every refusal with its message, exit status 1 and nothing changed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from coach.persistence.factory import create_database_from_url
from coach.persistence.records import Experiment
from devtools.fake_openai import FakeOpenAIServer, FakeReply
from tests.engine.test_cli import coach, stored

TITLE = "# Right now: getting started"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'prompts.db'}"
    done = coach(url, "init-db")
    assert done.returncode == 0, done.stderr
    assert "prompts: 11 parts, 11 new or changed" in done.stdout
    assert "introduction: new version 1 (active)" in done.stdout
    return url


def ok(url: str, *args: str) -> str:
    done = coach(url, "prompts", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def refused(url: str, *args: str) -> str:
    done = coach(url, "prompts", *args)
    assert done.returncode == 1, done.stdout
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    return done.stderr


def edited(tmp_path: Path, url: str, old: str, new: str, part: str = "introduction") -> Path:
    text = ok(url, "show", part)
    assert old in text, old
    path = tmp_path / f"{part}-edit.md"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def listing(url: str) -> dict[str, list[str]]:
    lines = ok(url, "list").splitlines()
    assert lines[0].split() == ["part", "active", "default", "versions", "other", "labels"]
    return {line.split()[0]: line.split()[1:] for line in lines[1:]}


def test_list_shows_every_part_with_its_versions(db_url: str) -> None:
    parts = listing(db_url)
    assert len(parts) == 11
    assert parts["introduction"] == ["1", "1", "1"]


def test_list_before_init_db_says_what_to_run(tmp_path: Path) -> None:
    message = refused(f"sqlite:///{tmp_path / 'empty.db'}", "list")
    assert "run `python -m coach init-db`" in message


def test_show_prints_a_version_as_a_prompt_file(db_url: str) -> None:
    text = ok(db_url, "show", "introduction")
    assert text.startswith("---\nname: introduction\nversion: '1'\nkind: phase\n")
    assert TITLE in text
    assert ok(db_url, "show", "introduction", "--label", "default") == text
    assert ok(db_url, "show", "introduction", "--version", "1") == text
    assert "has no version 4" in refused(db_url, "show", "introduction", "--version", "4")
    assert "has no label 'draft'" in refused(db_url, "show", "introduction", "--label", "draft")
    assert "prompt part 'intro' has no active version" in refused(db_url, "show", "intro")


def test_new_diff_activate(tmp_path: Path, db_url: str) -> None:
    path = edited(tmp_path, db_url, TITLE, "# Right now: first steps")
    assert ok(db_url, "new", "introduction", "--file", str(path), "--note", "title").strip() == (
        "saved introduction@2"
    )
    again = ok(db_url, "new", "introduction", "--file", str(path), "--note", "again")
    assert again.strip() == "identical to introduction@2; nothing saved"
    changes = ok(db_url, "diff", "introduction", "1", "2").splitlines()
    assert changes[:2] == ["--- introduction@1", "+++ introduction@2"]
    assert f"-{TITLE}" in changes and "+# Right now: first steps" in changes
    assert not any(line.startswith(("-version", "+version")) for line in changes)
    assert listing(db_url)["introduction"] == ["1", "1", "2"]  # saved, not active
    moved = ok(db_url, "activate", "introduction", "2", "--by", "ana")
    assert moved.strip() == "active of introduction is version 2 (was 1)"
    assert listing(db_url)["introduction"] == ["2", "1", "2"]
    assert ok(db_url, "activate", "introduction", "2", "--label", "candidate").strip() == (
        "candidate of introduction is version 2"
    )
    assert listing(db_url)["introduction"][3:] == ["candidate=2"]


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("{{ client_name }}", "{{ client_nmae }}", "undeclared variable(s) client_nmae"),
        ("  client_goals:", "  favourite_colour: x\n  client_goals:", "favourite_colour"),
        ("- save_user_info\n", "- save_user_info\n- fly_to_moon\n", "fly_to_moon"),
        (
            "- save_user_info\n",
            "- save_user_info\n- add_action_item\n",
            "does not allow: add_action_item",
        ),
        ("phase: introduction", "phase: accountability", "must keep kind 'phase' and phase"),
        ("name: introduction", "name: welcome", "must be the file's name"),
    ],
)
def test_a_bad_edit_is_refused_and_changes_nothing(
    tmp_path: Path, db_url: str, old: str, new: str, problem: str
) -> None:
    path = edited(tmp_path, db_url, old, new)
    message = refused(db_url, "new", "introduction", "--file", str(path), "--note", "n")
    assert problem in message
    assert listing(db_url)["introduction"] == ["1", "1", "1"]


def test_a_declared_unused_variable_or_an_unknown_variable_is_refused(
    tmp_path: Path, db_url: str
) -> None:
    path = edited(tmp_path, db_url, "{{ client_name }}", "{{ client_name }} {{ secret }}")
    text = path.read_text(encoding="utf-8").replace(
        "  client_goals:", "  secret: s\n  client_goals:"
    )
    path.write_text(text, encoding="utf-8")
    message = refused(db_url, "new", "introduction", "--file", str(path), "--note", "n")
    assert "unknown variable(s) secret; the engine fills in client_goals" in message


def test_an_empty_body_or_a_missing_file_is_refused(tmp_path: Path, db_url: str) -> None:
    text = ok(db_url, "show", "welcome")
    path = tmp_path / "empty.md"
    path.write_text(text[: text.index("---\n", 4) + 4], encoding="utf-8")
    assert "the text is empty" in refused(
        db_url, "new", "welcome", "--file", str(path), "--note", "n"
    )
    missing = refused(db_url, "new", "welcome", "--file", str(tmp_path / "nope.md"), "--note", "n")
    assert "cannot read" in missing
    assert listing(db_url)["welcome"] == ["1", "1", "1"]


def test_activating_a_version_another_part_has_is_refused(tmp_path: Path, db_url: str) -> None:
    path = edited(tmp_path, db_url, "Hi, and welcome!", "Hello, and welcome!", part="welcome")
    ok(db_url, "new", "welcome", "--file", str(path), "--note", "n")
    message = refused(db_url, "activate", "introduction", "2")
    assert "'introduction' has no version 2" in message
    assert listing(db_url)["introduction"] == ["1", "1", "1"]


def demo_session(url: str) -> str:
    done = coach(url, "demo-data")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().rsplit("session ", 1)[1]


def test_try_answers_a_turn_again_through_the_openai_sdk(
    tmp_path: Path, db_url: str, fake_openai: FakeOpenAIServer
) -> None:
    session = demo_session(db_url)
    path = edited(tmp_path, db_url, TITLE, "# Right now: TRIAL first steps")
    ok(db_url, "new", "introduction", "--file", str(path), "--note", "trial")
    before = stored(db_url)
    for text in ("First.", "Second.", "Third."):
        fake_openai.enqueue(FakeReply(content=json.dumps({"message": text, "actions": []})))
    env = {"COACH_OPENAI_API_KEY": "sk-test", "COACH_OPENAI_BASE_URL": fake_openai.base_url}
    args = ("try", session, "--turn", "2", "--runs", "3", "--version", "introduction=2")
    done = coach(db_url, *args, "--provider", "openai", "--json", **env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["prompt_version"] == "persona@1+response_format@1+introduction@2"
    assert result["stored"]["prompt_version"] == "persona@1+response_format@1+introduction@1"
    assert sorted(r["reply"] for r in result["runs"]) == ["First.", "Second.", "Third."]
    assert len(fake_openai.requests) == 3
    system = fake_openai.last_body["messages"][0]["content"]
    assert "TRIAL first steps" in system
    # As text, with progress on stderr.
    text = coach(db_url, *args[:4], "--runs", "1", "--provider", "openai", **env)
    assert text.returncode == 0, text.stderr
    assert "== stored (ok" in text.stdout and "== run 1 (ok" in text.stdout
    assert "run 1 done" in text.stderr
    assert stored(db_url) == before  # nothing was written


def test_try_refuses_bad_arguments_with_a_message(db_url: str) -> None:
    session = demo_session(db_url)
    for args, problem in (
        (("--turn", "99"), "has no turn 99"),
        (("--turn", "2", "--runs", "11"), "between 1 and 10"),
        (("--turn", "2", "--version", "introduction"), "is not part=number"),
        (("--turn", "2", "--version", "introduction=7"), "has no version 7"),
        (("--turn", "2", "--label", "nowhere"), "no prompt part has the label 'nowhere'"),
    ):
        done = coach(db_url, "try", session, *args, "--provider", "local")
        assert done.returncode == 1, (args, done.stdout)
        assert problem in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_try_works_offline_with_the_bundled_model(db_url: str) -> None:
    session = demo_session(db_url)
    before = stored(db_url)
    done = coach(
        db_url, "try", session, "--turn", "2", "--runs", "2", "--provider", "local", "--json"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["model"] == "local/SmolLM2-135M-Instruct"
    assert [r["number"] for r in result["runs"]] == [1, 2]
    # The tiny model's replies are schema-constrained: each run has a reply to show.
    assert all(r["error"] is None and r["reply"] for r in result["runs"]), result["runs"]
    assert stored(db_url) == before


def test_try_keeps_an_experiment_with_another_model_when_asked(
    db_url: str, fake_openai: FakeOpenAIServer
) -> None:
    session = demo_session(db_url)
    before = stored(db_url)
    for text in ("Kept one.", "Kept two."):
        fake_openai.enqueue(FakeReply(content=json.dumps({"message": text, "actions": []})))
    env = {"COACH_OPENAI_API_KEY": "sk-test", "COACH_OPENAI_BASE_URL": fake_openai.base_url}
    args = ("try", session, "--turn", "2", "--runs", "2", "--provider", "openai")
    done = coach(db_url, *args, "--model", "bigger-model", "--keep", "warmer intro", **env)
    assert done.returncode == 0, done.stderr
    assert "kept as experiment 'warmer intro'" in done.stderr
    assert "now:    persona@1+response_format@1+introduction@1 · openai/bigger-model" in done.stdout
    assert {r.body["model"] for r in fake_openai.requests} == {"bigger-model"}
    assert stored(db_url) == before  # the session is untouched; the experiment is kept
    kept = asyncio.run(_experiments(db_url))
    assert [(e.name, e.status.value, e.model) for e in kept] == [
        ("warmer intro", "done", "openai/bigger-model")
    ]
    assert sorted(r.reply or "" for r in kept[0].runs) == ["Kept one.", "Kept two."]
    # The bundled model has one model only: asking for another is refused, and nothing kept.
    refused_model = coach(db_url, *args[:6], "--provider", "local", "--model", "x", "--keep", "y")
    assert refused_model.returncode == 1
    assert "answers with 'SmolLM2-135M-Instruct' only" in refused_model.stderr
    assert len(asyncio.run(_experiments(db_url))) == 1


async def _experiments(url: str) -> list[Experiment]:
    db = create_database_from_url(url)
    try:
        listed = await db.list_experiments()
        return [e for e in [await db.get_experiment(x.id) for x in listed] if e is not None]
    finally:
        await db.close()
