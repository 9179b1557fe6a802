"""Eval runs in real Chromium: start a run of a scripted-lines scenario from the Evals page and
watch its progress go up (the fake model answers slowly), find the conversations that failed
an assertion and open one in the inspector, start a second run, leave the page while it plays,
and compare the two runs down to one conversation of each on the Compare page.

The app is this test's own: it reads a scenarios folder the test writes
(``COACH_SCENARIOS_DIR``), and its runs add sessions the other tests do not expect.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from coach.enums import JobStatus
from devtools.fake_openai import FakeReply
from tests.browser.helpers import (
    READY_TIMEOUT_MS,
    AppServer,
    click_row,
    no_exception,
    poll,
    query_of,
    squash,
    to_top,
    wait_ready,
)

pytestmark = pytest.mark.browser

SCENARIO = "first-words"
SCENARIO_YAML = f"""\
name: {SCENARIO}
description: The client says hello; the coach moves on to brainstorming at once.
client:
  lines: ["Thanks."]
opening: Hello, I would like to find out who I am at my best.
max_turns: 1
assertions:
  - check: phase_reached
    phase: identity_brainstorming
    by_turn: 1
  - check: no_failed_turn
"""
RUNS = 4
#: Each answer takes this long: the progress is seen going up, one conversation at a time.
DELAY_S = 1.5
BRAINSTORM = {"type": "transition_state", "params": {"to_state": "identity_brainstorming"}}


def moves_on(**reply: float) -> FakeReply:
    """A reply that moves to brainstorming: the conversation passes."""
    content = {"message": "Welcome. Let us look at who you are.", "actions": [BRAINSTORM]}
    return FakeReply(content=json.dumps(content), **reply)


def stays(**reply: float) -> FakeReply:
    """A reply that stays in the introduction: the conversation fails its assertion."""
    content = {"message": "Tell me a little more about yourself first.", "actions": []}
    return FakeReply(content=json.dumps(content), **reply)


def app_with_scenario(
    new_app_server: Callable[..., AppServer], tmp_path: Path
) -> tuple[AppServer, Path]:
    """An app server of its own, and its scenarios folder, which holds only ``SCENARIO``."""
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / f"{SCENARIO}.yaml").write_text(SCENARIO_YAML, encoding="utf-8")
    return new_app_server(scenarios_dir=str(scenarios)), scenarios


def start_run(page: Page, name: str) -> None:
    """Fill the Start form (the scenario, 4 runs one at a time, a name) and start."""
    form = page.get_by_test_id("stForm")
    form.get_by_test_id("stMultiSelect").click()
    page.get_by_role("option", name=re.compile(f"^{SCENARIO}")).click()
    page.keyboard.press("Escape")
    form.get_by_label("Runs per scenario").fill(str(RUNS))
    form.get_by_label("Conversations at once").fill("1")
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_role("button", name="Start the run").click()


def watch_progress(page: Page, shots: Path) -> list[str]:
    """The progress bar's text, each change once, until the run is done (``shots``: where the
    page is saved while it plays, as ``evals-running.png``)."""
    bar = page.get_by_test_id("stMain").get_by_test_id("stProgress")
    done = page.get_by_test_id("stMain").get_by_text(f"Done: {RUNS} of {RUNS} conversations")
    seen: list[str] = []
    deadline = time.monotonic() + READY_TIMEOUT_MS / 1000
    while time.monotonic() < deadline and not done.count():
        try:
            text = squash(bar.first.inner_text(timeout=500)) if bar.count() else ""
        except Exception:  # the bar was redrawn in between
            continue
        match = re.search(r"(\d+) of \d+ conversations", text)
        if match and (not seen or seen[-1] != match.group(1)):
            seen.append(match.group(1))
            if match.group(1) == "2":  # half-way: the page keeps running, so no wait_ready
                page.screenshot(path=shots / "evals-running.png", animations="disabled")
        time.sleep(0.1)
    assert done.count(), f"the run did not end; the progress showed {seen}"
    return seen


def test_start_a_run_watch_it_open_a_failure_and_compare_two_runs(
    new_app_server: Callable[..., AppServer],
    page: Page,
    shoot: Callable[[str], None],
    shots: Path,
    tmp_path: Path,
) -> None:
    app, scenarios = app_with_scenario(new_app_server, tmp_path)
    main = page.get_by_test_id("stMain")

    # Run 1: the first two conversations pass, the last two fail.
    app.llm.default = stays(delay=DELAY_S)
    app.llm.enqueue(moves_on(delay=DELAY_S), moves_on(delay=DELAY_S))
    app.open(page, "/evals")
    expect(main.get_by_text("No eval run yet")).to_be_visible()
    start_run(page, "baseline")
    expect(page).to_have_url(re.compile(r"/evals\?run="), timeout=READY_TIMEOUT_MS)
    baseline = query_of(page)["run"]
    seen = watch_progress(page, shots)
    counts = [int(n) for n in seen]
    assert counts == sorted(counts) and len(set(counts)) >= 2, seen  # it went up, step by step
    wait_ready(page)
    no_exception(page)
    expect(page.get_by_test_id("stMetric").filter(has_text="Passed")).to_contain_text("2 of 4")
    report = page.get_by_role("tabpanel", name="Report")
    expect(report.get_by_test_id("stExpander")).to_contain_text("50% (4) passed · flaky")
    stored = app.db_call(lambda db: db.get_eval_run(baseline))
    assert stored is not None and stored.status is JobStatus.DONE
    assert [c.passed for c in stored.conversations] == [True, True, False, False]
    report.get_by_test_id("stExpander").locator("summary").click()  # its assertions
    expect(report.get_by_test_id("stTable")).to_contain_text("reaches identity_brainstorming")
    to_top(page.get_by_role("tablist"))
    shoot("evals")

    # The failed conversations, and one of them in the inspector.
    page.get_by_role("tab", name="Conversations").click()
    wait_ready(page)
    panel = page.get_by_role("tabpanel", name="Conversations")
    panel.get_by_text("Failed only").click()
    wait_ready(page)
    expect(panel).to_contain_text(f"2 of {RUNS} conversations")
    click_row(panel.get_by_test_id("stDataFrame"), 0)
    wait_ready(page)
    expect(panel).to_contain_text("not reached in 1 turn; ended in introduction")
    to_top(page.get_by_role("tablist"))
    shoot("evals-failed")
    failed = stored.conversations[2]
    panel.get_by_role("link", name="Open this conversation in the inspector").click()
    expect(page).to_have_url(
        re.compile(rf"/inspector\?session_id={failed.session_id}$"), timeout=READY_TIMEOUT_MS
    )
    wait_ready(page)
    expect(main).to_contain_text(f"Session {failed.session_id}")
    no_exception(page)

    # The failure becomes a scenario of its own, from the start of that session.
    maker = main.get_by_test_id("stExpander").filter(has_text="Make an eval scenario")
    maker.locator("summary").click()
    maker.get_by_role("textbox", name="Scenario name").fill("from-a-failure")
    maker.get_by_role("button", name="Make the scenario").click()
    expect(maker.get_by_test_id("stAlertContentSuccess")).to_contain_text(
        "from-a-failure.yaml", timeout=READY_TIMEOUT_MS
    )
    wait_ready(page)
    assert (scenarios / "from-a-failure.yaml").exists()
    assert (scenarios / "fixtures" / "from-a-failure.bundle.json").exists()
    to_top(maker)
    shoot("inspector-make-scenario")

    # Run 2: every conversation passes. The page is left while it plays: the run goes on.
    app.llm.enqueue(*(moves_on(delay=DELAY_S) for _ in range(RUNS)))
    app.open(page, "/evals")
    start_run(page, "candidate")
    expect(page).to_have_url(re.compile(r"/evals\?run="), timeout=READY_TIMEOUT_MS)
    candidate = query_of(page)["run"]
    assert candidate != baseline
    app.open(page, "/sessions")

    def ended() -> bool:
        run = app.db_call(lambda db: db.get_eval_run(candidate))
        return run is not None and run.status is JobStatus.DONE

    assert poll(ended, timeout_s=60, every_s=0.5), "the run stopped when the page was left"

    # One prompt version set, two runs: 6 of 8 conversations passed.
    app.open(page, f"/evals?run={candidate}")
    expect(main.get_by_text(f"Done: {RUNS} of {RUNS} conversations")).to_be_visible()
    page.get_by_role("tab", name="Prompt versions × scenarios").click()
    wait_ready(page)
    grid = page.get_by_role("tabpanel", name="Prompt versions × scenarios")
    # One row (the grid's accessible row count includes the header): one version set.
    expect(grid.locator("[role='grid']")).to_have_attribute("aria-rowcount", "2")
    to_top(page.get_by_role("tablist"))
    shoot("evals-grid")

    # Compare: A is the run before the open one, B the open one.
    page.get_by_role("tab", name="Compare runs").click()
    wait_ready(page)
    panel = page.get_by_role("tabpanel", name="Compare runs")
    expect(panel.get_by_test_id("stDataFrame")).to_be_visible()
    # The scenario's every-check row and its two assertions, A against B.
    expect(panel.locator("[role='grid']")).to_have_attribute("aria-rowcount", "4")
    compared = app.db_call(lambda db: db.get_eval_run(candidate))
    assert compared is not None and all(c.passed for c in compared.conversations)
    link = panel.get_by_role("link", name=f"Compare {SCENARIO} #1: A with B")
    expect(link).to_be_visible()
    to_top(page.get_by_role("tablist"))
    shoot("evals-compare")
    link.click()
    expect(page).to_have_url(re.compile(r"/compare\?a="), timeout=READY_TIMEOUT_MS)
    wait_ready(page)
    query = query_of(page)
    assert (query["a"], query["b"]) == (
        stored.conversations[0].session_id,
        compared.conversations[0].session_id,
    )
    expect(main).to_contain_text(stored.conversations[0].session_id)
    no_exception(page)

    # Selecting a run in the runs table opens it (newest first: the baseline is the second).
    app.open(page, f"/evals?run={candidate}")
    click_row(main.get_by_test_id("stDataFrame").first, 1)
    expect(page).to_have_url(re.compile(rf"run={baseline}"), timeout=READY_TIMEOUT_MS)
    wait_ready(page)
    expect(main.get_by_role("heading", name="baseline")).to_be_visible()


def test_cancel_a_run_then_resume_it(
    new_app_server: Callable[..., AppServer], page: Page, tmp_path: Path
) -> None:
    app, _ = app_with_scenario(new_app_server, tmp_path)
    main = page.get_by_test_id("stMain")
    app.llm.default = moves_on(delay=DELAY_S)
    app.open(page, "/evals")
    start_run(page, "stopped half-way")
    expect(page).to_have_url(re.compile(r"/evals\?run="), timeout=READY_TIMEOUT_MS)
    run_id = query_of(page)["run"]
    expect(main.get_by_test_id("stProgress")).to_contain_text(
        f"1 of {RUNS} conversations", timeout=READY_TIMEOUT_MS
    )
    main.get_by_role("button", name="Cancel the run").click()
    expect(main.get_by_test_id("stAlertContentWarning")).to_contain_text(
        "cancelled: stopped on request", timeout=READY_TIMEOUT_MS
    )
    wait_ready(page)
    stopped = app.db_call(lambda db: db.get_eval_run(run_id))
    assert stopped is not None and stopped.status is JobStatus.FAILED
    played = sum(1 for c in stopped.conversations if c.status is JobStatus.DONE)
    assert 1 <= played < RUNS

    main.get_by_role("button", name=f"Resume: play the {RUNS - played} conversation(s)").click()
    expect(main.get_by_text(f"Done: {RUNS} of {RUNS} conversations")).to_be_visible(
        timeout=READY_TIMEOUT_MS
    )
    wait_ready(page)
    no_exception(page)
    resumed = app.db_call(lambda db: db.get_eval_run(run_id))
    assert resumed is not None and resumed.status is JobStatus.DONE
    done = sorted(c.repeat for c in resumed.conversations if c.status is JobStatus.DONE)
    assert done == list(range(1, RUNS + 1))
