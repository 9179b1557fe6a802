"""The Evals page: it renders with no runs, lists the scenario files it cannot use with their
lines, starts a run from its form (a scripted coach: the test knows which conversations pass)
and shows its report, conversations, grid and a comparison; a run left by a dead process is
shown interrupted and resumed. The inspector makes a scenario from a session."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from coach.enums import JobStatus
from coach.evals.runner import INTERRUPTED
from coach.evals.scenario import load_scenario
from coach.persistence.records import EvalRun, utcnow
from tests.app.helpers import load_demo, no_exception, open_page, runtime, scripted_client, texts
from tests.engine.eval_helpers import coach, scenario

SCENARIO = """\
name: reaches-brainstorming
description: A scripted client; the coach reaches brainstorming at once.
client:
  lines: ["I like drawing.", "And cooking."]
opening: Hello, I want to find out who I am.
max_turns: 3
assertions:
  - check: phase_reached
    phase: identity_brainstorming
    by_turn: 1
  - check: no_failed_turn
"""
#: Line 6 names a check that does not exist.
BAD = """\
name: broken
client:
  lines: ["Hi."]
opening: Hello.
max_turns: 2
assertions:
  - check: reaches_the_moon
"""


@pytest.fixture
def scenarios(app_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scenarios folder of this test's own, with one scripted scenario (before the app)."""
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "reaches-brainstorming.yaml").write_text(SCENARIO, encoding="utf-8")
    monkeypatch.setenv("COACH_SCENARIOS_DIR", str(folder))
    return folder


def evals_page(app: AppTest, **query: str) -> AppTest:
    return open_page(app, "pages/evals.py", **query)


def start_run(app: AppTest, *, repeats: int, name: str, cached: bool = False) -> EvalRun:
    """Start a run of the scenario from the form and wait for its end; return it as stored."""
    app.multiselect(key="eval_scenarios").set_value(["reaches-brainstorming"])
    app.checkbox(key="eval_cached").set_value(cached)
    app.number_input(key="eval_repeats").set_value(repeats)
    app.number_input(key="eval_concurrency").set_value(1)
    app.text_input(key="eval_name").input(name)
    next(b for b in app.button if b.label == "Start the run").click()
    app.run()
    no_exception(app)
    rt = runtime()
    run = rt.run(rt.db.get_eval_run(app.query_params["run"]))
    assert run is not None and run.name == name
    return run


def view(app: AppTest, name: str) -> AppTest:
    app.session_state["view"] = name
    app.run()
    no_exception(app)
    return app


def frames(app: AppTest) -> str:
    return "\n".join(d.value.to_string() for d in app.dataframe)


def test_the_page_renders_with_no_runs(scenarios: Path, app: AppTest) -> None:
    evals_page(app)
    assert app.title[0].value == "📏 Evals"
    shown = texts(app)
    assert "No eval run yet" in shown
    assert app.multiselect(key="eval_scenarios").options == [
        "reaches-brainstorming — A scripted client; the coach reaches brainstorming at once."
    ]


def test_a_bad_scenario_file_is_listed_with_its_line(scenarios: Path, app: AppTest) -> None:
    (scenarios / "broken.yaml").write_text(BAD, encoding="utf-8")
    evals_page(app)
    [warning] = [str(w.value) for w in app.warning]
    assert "1 scenario file(s)" in warning and "broken.yaml" in warning
    assert "line 7" in warning and "reaches\\_the\\_moon" in warning
    # The good one can still be run.
    assert len(app.multiselect(key="eval_scenarios").options) == 1


def test_a_run_started_from_the_form_is_stored_and_its_report_shown(
    scenarios: Path, app: AppTest
) -> None:
    scripted_client().function = coach(lambda n: n <= 2)  # the third conversation fails
    evals_page(app)
    run = start_run(app, repeats=3, name="first try")
    assert run.status is JobStatus.DONE
    assert [c.passed for c in run.conversations] == [True, True, False]

    shown = texts(app)
    assert "Done: 3 of 3 conversations" in shown
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Passed"] == "2 of 3" and metrics["Pass rate"] == "67%"
    assert "Cost: \\$0\\.0000" in shown  # the scripted model costs nothing (escaped)
    assert "first try" in frames(app)  # the runs table
    [expander] = [e for e in app.expander if e.label.startswith("reaches-brainstorming")]
    assert "67% (3) passed · flaky" in expander.label
    table = expander.get("table")[0].value.to_string()
    assert "reaches identity_brainstorming by turn 1" in table and "2 of 3" in table

    # The failed conversation, easy to find, with what failed and a link to the inspector.
    view(app, "Conversations")
    app.toggle(key="eval_failed_only").set_value(True).run()
    no_exception(app)
    [table] = app.dataframe[1:]  # after the runs
    failed = table.value
    assert list(failed["repeat"]) == [3]
    assert "not reached in 3 turns" in failed["what failed"][0]
    session = run.conversations[2].session_id
    assert failed["inspect"][0] == f"inspector?session_id={session}"


def test_the_grid_and_a_comparison_of_two_runs(scenarios: Path, app: AppTest) -> None:
    scripted_client().function = coach(lambda n: n != 2)  # 1 of 2 passes, then 2 of 2
    evals_page(app)
    first = start_run(app, repeats=2, name="before")
    second = start_run(app, repeats=2, name="after")
    assert [c.passed for c in first.conversations] == [True, False]
    assert [c.passed for c in second.conversations] == [True, True]

    view(app, "Prompt versions × scenarios")
    grid = app.dataframe[1].value
    assert list(grid.columns) == ["reaches-brainstorming"]
    assert list(grid["reaches-brainstorming"]) == ["75% (4)"]  # one version set, both runs

    view(app, "Compare runs")  # A: the one before the open run, B: the open run
    compared = app.dataframe[1].value
    every = compared[compared["assertion"] == "(every check)"].iloc[0]
    assert (every["A"], every["B"], every["B − A (points)"]) == ("50% (2)", "100% (2)", "+50")
    app.selectbox(key="eval_compare_repeat").set_value(2).run()
    no_exception(app)
    [link] = [x for x in app.get("page_link") if "A with B" in x.proto.label]
    assert link.proto.page.endswith("compare") or "compare" in link.proto.page
    query = link.proto.query_string
    assert (
        first.conversations[1].session_id in query and second.conversations[1].session_id in query
    )


def test_a_cached_run_is_labelled(scenarios: Path, app: AppTest) -> None:
    scripted_client().function = coach()
    evals_page(app)
    run = start_run(app, repeats=2, name="cheap", cached=True)
    assert run.cached
    assert any("CACHED" in str(w.value) and "not independent" in str(w.value) for w in app.warning)
    assert list(app.dataframe[0].value["cached"]) == ["CACHED"]  # the runs table


def test_nothing_is_started_without_a_scenario_chosen(scenarios: Path, app: AppTest) -> None:
    evals_page(app)
    next(b for b in app.button if b.label == "Start the run").click()
    app.run()
    no_exception(app)
    assert any("choose at least one scenario" in str(w.value) for w in app.warning)
    rt = runtime()
    assert rt.run(rt.db.list_eval_runs()) == []


def test_a_run_left_by_a_dead_process_is_shown_interrupted_and_resumes(
    scenarios: Path, app: AppTest
) -> None:
    scripted_client().function = coach()
    rt = runtime()
    orphan = rt.run(
        rt.db.save_eval_run(
            EvalRun(
                name="orphan",
                scenarios=[scenario().model_dump(mode="json")],
                repeats=2,
                owner=f"{socket.gethostname()}/999999999/1",  # this host, no such process
                heartbeat_at=utcnow(),
            )
        )
    )
    evals_page(app, run=orphan.id)
    assert INTERRUPTED.split(":")[0] in texts(app)
    resume = next(b for b in app.button if b.label.startswith("Resume: play the 2"))
    resume.click().run()
    no_exception(app)
    run = rt.run(rt.db.get_eval_run(orphan.id))
    assert run is not None and run.status is JobStatus.DONE
    assert [c.passed for c in run.conversations] == [True, True]
    assert "Done: 2 of 2 conversations" in texts(app)


def test_the_inspector_makes_a_scenario_from_the_session(scenarios: Path, app: AppTest) -> None:
    demo = load_demo()
    open_page(app, "pages/inspector.py", session_id=demo.session_id)
    app.text_input(key="make_scenario_name").input("from-demo")
    app.number_input(key="make_scenario_turn").set_value(5)
    next(b for b in app.button if b.label == "Make the scenario").click()
    app.run()
    no_exception(app)
    written = scenarios / "from-demo.yaml"
    assert written.exists() and (scenarios / "fixtures" / "from-demo.bundle.json").exists()
    made = load_scenario(written)
    assert made.start is not None and made.start.at_turn == 5
    assert f"Written `{written}`" in texts(app)
    assert any("name: from-demo" in str(c.value) for c in app.code)

    # The same name again is refused with the fix, and nothing is overwritten.
    next(b for b in app.button if b.label == "Make the scenario").click()
    app.run()
    no_exception(app)
    assert any("exists already; choose another name" in str(w.value) for w in app.warning)

    # The Evals page offers it.
    evals_page(app)
    assert any(o.startswith("from-demo") for o in app.multiselect(key="eval_scenarios").options)
