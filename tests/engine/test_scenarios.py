"""Scenario files: the shipped ones load and together cover every phase; a bad file is refused
by ``python -m coach eval`` with its path, the line and what to fix, and nothing is stored; a
scenario made from a stored session loads back with its fixture."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest

from coach.__main__ import main
from coach.demo import DEMO_STEPS, play_demo
from coach.enums import CoachingState
from coach.errors import InputError
from coach.evals.fixtures import fixture_path, read_fixture
from coach.evals.make import scenario_from_session
from coach.evals.scenario import (
    ActionsNeverUsed,
    PhaseReached,
    RefusedTransitions,
    load_scenario,
    load_scenarios,
    parse_scenario,
)
from coach.persistence import DatabaseType, create_database
from coach.persistence.memory import InMemoryDatabase

SHIPPED = Path(__file__).resolve().parents[2] / "scenarios"
DEMO_BUNDLE = SHIPPED / "fixtures" / "demo.bundle.json"

#: A valid scenario; each bad file below is this with one thing wrong.
GOOD = """\
client:
  lines:
    - I like drawing.
opening: Hello, I want to find out who I am.
max_turns: 3
assertions:
  - check: phase_reached
    phase: identity_brainstorming
    by_turn: 2
  - check: no_failed_turn
"""


def line(text: str, snippet: str) -> int:
    """The line (from 1) of the only line of ``text`` holding ``snippet``."""
    [number] = [n for n, content in enumerate(text.splitlines(), 1) if snippet in content]
    return number


def changed(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


# -- the shipped scenarios ----------------------------------------------------------------------


def test_every_shipped_scenario_loads() -> None:
    scenarios, problems = load_scenarios(SHIPPED)
    assert problems == []
    files = [*SHIPPED.glob("*.yaml"), *SHIPPED.glob("*.yml")]
    assert len(scenarios) == len(files) >= 5
    assert len({s.name for s in scenarios}) == len(scenarios)


def test_the_shipped_scenarios_together_cover_all_six_phases() -> None:
    scenarios, _ = load_scenarios(SHIPPED)
    covered: set[CoachingState] = set()
    for s in scenarios:
        if s.start is None:
            covered.add(CoachingState.INTRODUCTION)
        else:
            assert s.path is not None
            bundle, index = read_fixture(s, fixture_path(s.path, s.start.fixture))
            turns = bundle.records.sessions[index].turns
            start = turns[s.start.at_turn - 1].state_after if s.start.at_turn else None
            covered.add(start or CoachingState.INTRODUCTION)
        covered |= {a.phase for a in s.assertions if isinstance(a, PhaseReached)}
    assert covered == set(CoachingState)


def test_at_least_one_shipped_scenario_guards_refusals() -> None:
    scenarios, _ = load_scenarios(SHIPPED)
    guards = [
        s.name
        for s in scenarios
        if any(
            (isinstance(a, RefusedTransitions) and a.at_most == 0)
            or isinstance(a, ActionsNeverUsed)
            for a in s.assertions
        )
    ]
    assert guards


# -- bad files: refused with the file, the line and the fix; nothing stored ----------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings from the test only: no model is loaded (the scenarios are refused first)."""
    for name in list(os.environ):
        if name.startswith("COACH_") and not name.startswith("COACH_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COACH_LLM_PROVIDER", "scripted")


async def stored(url: str) -> tuple[int, int, int]:
    """The eval runs, sessions and users the database holds."""
    db = create_database(DatabaseType.SQL, connection_string=url)
    try:
        counts = await db.count_records()
        return len(await db.list_eval_runs()), counts["sessions"], counts["users"]
    finally:
        await db.close()


def refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], *files: Path) -> str:
    """Run ``python -m coach eval FILES`` in this process; it must exit 1 and store nothing.
    Returns what it wrote to stderr."""
    url = f"sqlite:///{tmp_path / 'x.db'}"
    code = main(["--database-url", url, "eval", *(str(f) for f in files)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err
    assert "a scenario named cannot be used; fix it (above) and run again" in err
    assert asyncio.run(stored(url)) == (0, 0, 0)
    return err


def test_the_good_file_the_bad_ones_are_made_from_is_valid(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, "good.yaml", GOOD))
    assert (scenario.name, scenario.max_turns) == ("good", 3)


@pytest.mark.usefixtures("cli_env")
def test_an_unknown_phase(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = changed("phase: identity_brainstorming", "phase: brainstorming")
    bad = write(tmp_path, "phase.yaml", text)
    err = refused(tmp_path, capsys, bad)
    assert (
        f"{bad}: line {line(text, 'phase: brainstorming')}: assertions.0.phase: "
        "'brainstorming' is unknown; use one of 'introduction', 'identity_brainstorming'"
    ) in err


@pytest.mark.usefixtures("cli_env")
def test_an_unknown_action(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GOOD + "  - check: actions_used\n    actions: [save_user_info, fly_away]\n"
    bad = write(tmp_path, "action.yaml", text)
    err = refused(tmp_path, capsys, bad)
    assert (
        f"{bad}: line {line(text, 'fly_away')}: assertions.2.actions.1: 'fly_away' is unknown; "
        "use one of 'save_user_info', 'create_identity'"
    ) in err


@pytest.mark.usefixtures("cli_env")
def test_a_negative_turn_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = changed("max_turns: 3", "max_turns: -1")
    bad = write(tmp_path, "turns.yaml", text)
    err = refused(tmp_path, capsys, bad)
    assert (
        f"{bad}: line {line(text, 'max_turns')}: max_turns: "
        "Input should be greater than or equal to 1"
    ) in err


@pytest.mark.usefixtures("cli_env")
def test_a_list_instead_of_a_mapping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path, "list.yaml", "- client\n- opening\n")
    err = refused(tmp_path, capsys, bad)
    assert (
        f"{bad}: line 1: a scenario is a mapping (name:, client:, opening:, ...), not a list"
    ) in err


@pytest.mark.usefixtures("cli_env")
def test_an_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path, "empty.yaml", "")
    err = refused(tmp_path, capsys, bad)
    assert f"{bad}: line 1: a scenario is a mapping (name:, client:, opening:, ...), not empty" in (
        err
    )


@pytest.mark.usefixtures("cli_env")
def test_invalid_yaml_syntax(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = changed("max_turns: 3", "max_turns: 3: 4")
    bad = write(tmp_path, "syntax.yaml", text)
    err = refused(tmp_path, capsys, bad)
    assert (
        f"{bad}: line {line(text, 'max_turns')}: not valid YAML "
        "(mapping values are not allowed here)"
    ) in err


@pytest.mark.usefixtures("cli_env")
def test_a_fixture_file_that_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GOOD + "start:\n  fixture: fixtures/missing.bundle.json\n  at_turn: 2\n"
    bad = write(tmp_path, "missing.yaml", text)
    err = refused(tmp_path, capsys, bad)
    assert (
        f"{bad}: line {line(text, 'missing.bundle.json')}: start.fixture: the fixture "
        "fixtures/missing.bundle.json does not exist or cannot be read "
        f"(looked for {tmp_path / 'fixtures/missing.bundle.json'}; "
        "the path is relative to the scenario file)"
    ) in err


@pytest.mark.usefixtures("cli_env")
def test_a_fixture_session_the_bundle_does_not_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "fixtures").mkdir()
    shutil.copyfile(DEMO_BUNDLE, tmp_path / "fixtures" / "demo.bundle.json")
    text = GOOD + (
        "start:\n  fixture: fixtures/demo.bundle.json\n  session: no-such-session\n  at_turn: 2\n"
    )
    bad = write(tmp_path, "session.yaml", text)
    err = refused(tmp_path, capsys, bad)
    [held] = json.loads(DEMO_BUNDLE.read_text(encoding="utf-8"))["records"]["sessions"]
    held_id = held["session_id"]
    assert (
        f"{bad}: line {line(text, 'no-such-session')}: start.session: the fixture session "
        f"no-such-session does not exist in fixtures/demo.bundle.json (it holds {held_id})"
    ) in err


@pytest.mark.usefixtures("cli_env")
def test_an_unknown_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GOOD + "  - check: phase_reachd\n    phase: introduction\n"
    bad = write(tmp_path, "check.yaml", text)
    err = refused(tmp_path, capsys, bad)
    assert (
        f"{bad}: line {line(text, 'phase_reachd')}: assertions.2: unknown check "
        "'phase_reachd'; use one of phase_reached, refused_transitions"
    ) in err


@pytest.mark.usefixtures("cli_env")
def test_an_unknown_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = changed("max_turns: 3", "max_turn: 3")
    bad = write(tmp_path, "typo.yaml", text)
    err = refused(tmp_path, capsys, bad)
    assert f"skipped {bad}: " in err
    # Both problems, each at its line: the misspelt key, and the field it was meant to be.
    assert f"line {line(text, 'max_turn:')}: max_turn: not a known field (check its spelling)" in (
        err
    )
    assert "line 1: max_turns: Field required" in err


@pytest.mark.usefixtures("cli_env")
def test_persona_and_lines_both_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = changed(
        "client:\n",
        "description: both kinds of client\n"
        "client:\n  persona:\n    name: Ana\n    background: a baker\n    goals: [rest]\n",
    )
    bad = write(tmp_path, "both.yaml", text)
    err = refused(tmp_path, capsys, bad)
    assert (
        f"{bad}: line {line(text, 'client:')}: client: "
        "give the client either a persona or scripted lines, not both"
    ) in err


@pytest.mark.usefixtures("cli_env")
def test_by_turn_beyond_max_turns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = changed("by_turn: 2", "by_turn: 9")
    bad = write(tmp_path, "late.yaml", text)
    err = refused(tmp_path, capsys, bad)
    assert (
        f"{bad}: line {line(text, 'by_turn')}: assertions.0.by_turn: phase_reached by_turn 9 "
        "is after max_turns 3; lower by_turn or raise max_turns"
    ) in err


@pytest.mark.usefixtures("cli_env")
def test_a_name_that_is_not_a_slug(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "# reports and the command line use the name\nname: My Scenario\n" + GOOD
    bad = write(tmp_path, "slug.yaml", text)
    err = refused(tmp_path, capsys, bad)
    assert (
        f"{bad}: line {line(text, 'name:')}: name: 'My Scenario': use lower-case letters, "
        "digits, '-' and '_'"
    ) in err


@pytest.mark.usefixtures("cli_env")
def test_a_name_two_files_give(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = write(tmp_path, "first.yaml", "name: same-name\n" + GOOD)
    text = "# the second\nname: same-name\n" + GOOD
    second = write(tmp_path, "second.yaml", text)
    err = refused(tmp_path, capsys, first, second)
    assert (
        f"{second}: line {line(text, 'name:')}: name 'same-name': {first} has it already; "
        "give this one another name"
    ) in err
    assert f"skipped {first}" not in err  # the first is fine


@pytest.mark.usefixtures("cli_env")
def test_a_name_taken_from_the_file_name_says_to_add_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write(tmp_path, "first.yaml", "name: brainstorm\n" + GOOD)
    (tmp_path / "other").mkdir()
    second = write(tmp_path / "other", "brainstorm.yaml", GOOD)
    err = refused(tmp_path, capsys, first, second)
    assert (
        f"{second}: line 1: name 'brainstorm': {first} has it already; give this one another "
        "name (add a name: line; the file name gives it this one)"
    ) in err


# -- a scenario made from a stored session -------------------------------------------------------


async def test_a_scenario_made_from_the_demo_session_loads_back_with_its_fixture(
    tmp_path: Path,
) -> None:
    db = InMemoryDatabase()
    demo = await play_demo(db)
    made = await scenario_from_session(db, demo.session_id, 4, name="from-demo")
    path = made.write(tmp_path)
    assert path == tmp_path / "from-demo.yaml"

    loaded = load_scenario(path)
    assert loaded.name == "from-demo"
    assert loaded.start is not None
    assert (loaded.start.fixture, loaded.start.at_turn) == ("fixtures/from-demo.bundle.json", 4)
    later = [step.user for step in DEMO_STEPS[4:]]  # what the client said after turn 4
    assert [loaded.opening, *(loaded.client.lines or [])] == later
    assert loaded.max_turns == len(later)
    assert [a.phase for a in loaded.assertions if isinstance(a, PhaseReached)] == [
        DEMO_STEPS[-1].expect_state
    ]

    bundle, index = read_fixture(loaded, tmp_path / "fixtures" / "from-demo.bundle.json")
    copied = bundle.records.sessions[index]
    assert copied.session_id == demo.session_id
    assert len(copied.turns) == len(DEMO_STEPS)
    assert copied.turns[3].state_after is DEMO_STEPS[3].expect_state


async def test_a_scenario_cannot_start_after_the_last_turn_or_before_the_first() -> None:
    db = InMemoryDatabase()
    demo = await play_demo(db)
    last = len(DEMO_STEPS)
    for at_turn in (last, last + 1, -1):
        with pytest.raises(InputError, match=f"has turns 1 to {last}: start after a turn from 0"):
            await scenario_from_session(db, demo.session_id, at_turn, name="too-far")
    made = await scenario_from_session(db, demo.session_id, last - 1, name="last-turn")
    assert parse_scenario(made.yaml_text, path="last-turn.yaml").max_turns == 1


async def test_writing_over_an_existing_scenario_is_refused(tmp_path: Path) -> None:
    db = InMemoryDatabase()
    demo = await play_demo(db)
    existing = write(tmp_path, "mine.yaml", GOOD)
    made = await scenario_from_session(db, demo.session_id, 2, name="mine")
    with pytest.raises(InputError, match=r"mine\.yaml exists already; choose another name"):
        made.write(tmp_path)
    assert existing.read_text(encoding="utf-8") == GOOD
    assert not (tmp_path / "fixtures").exists()
