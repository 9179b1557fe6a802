"""Try a turn in real Chromium: from the inspector's Turns tab, a demo turn is answered again 3
times through the real OpenAI SDK (the fake server streams slowly), the 3 runs stream at once
beside the stored reply, and the experiment is kept, also when the page is closed meanwhile."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from coach.enums import JobStatus
from devtools.fake_openai import FakeOpenAIServer
from tests.browser.helpers import (
    READY_TIMEOUT_MS,
    AppServer,
    coach_reply,
    no_exception,
    poll,
    to_top,
    wait_ready,
)

pytestmark = pytest.mark.browser

TURN = 2
#: Slow enough to see the runs stream side by side on a loaded machine (about 6 s each).
SLOW = {"chunk_chars": 4, "chunk_delay": 0.3}
ANSWERS = [
    f"Run answer {word}: you sound ready to picture who you want to become next."
    for word in ("alpha", "bravo", "charlie")
]


def open_turn(app: AppServer, page: Page) -> None:
    app.open(page, f"/inspector?session_id={app.demo.session_id}&tab=Turns")
    entry = page.get_by_test_id("stExpander").filter(has_text=f"Turn {TURN} ·").first
    entry.locator("summary").click()
    wait_ready(page)
    expect(page.get_by_role("button", name=f"Try turn {TURN} again")).to_be_visible()


def start(page: Page, runs: int, name: str) -> None:
    runs_box = page.get_by_label("Runs")
    runs_box.fill(str(runs))
    page.get_by_label("Keep as (name)").fill(name)
    page.get_by_role("button", name=f"Try turn {TURN} again").click()


def test_try_this_turn_three_times_shows_three_runs_beside_the_stored_one(
    app_server: AppServer, llm: FakeOpenAIServer, page: Page, shoot: Callable[[str], None]
) -> None:
    llm.enqueue(*(coach_reply(text, **SLOW) for text in ANSWERS))
    open_turn(app_server, page)
    start(page, 3, "three more answers")
    main = page.get_by_test_id("stMain")
    # The three runs stream at the same time, each in its own card.
    expect(main.get_by_text("streaming…", exact=True)).to_have_count(3, timeout=READY_TIMEOUT_MS)
    for text in ANSWERS:
        expect(main).to_contain_text(text, timeout=READY_TIMEOUT_MS)
    wait_ready(page)
    expect(main.get_by_text("streaming…", exact=True)).to_have_count(0)
    # One card titled for the stored reply, one for each run, each holding its answer.
    titles = main.locator("strong")
    expect(titles.filter(has_text=re.compile(r"^Stored reply$"))).to_have_count(1)
    for number in (1, 2, 3):
        expect(titles.filter(has_text=re.compile(rf"^Run {number}$"))).to_have_count(1)
    expect(main).to_contain_text("three more answers · turn 2 · 3 runs · done")
    no_exception(page)
    to_top(main.get_by_role("heading", name=re.compile("three more answers")))
    shoot("try-a-turn")

    kept = app_server.db_call(lambda db: db.list_experiments(session_id=app_server.demo.session_id))
    ours = next(e for e in kept if e.name == "three more answers")
    assert ours.status is JobStatus.DONE and ours.model.startswith("openai/")
    assert len(llm.requests) == 3


def test_a_closed_page_does_not_stop_the_runs(
    app_server: AppServer, llm: FakeOpenAIServer, page: Page
) -> None:
    llm.enqueue(*(coach_reply(text, **SLOW) for text in ANSWERS[:2]))
    open_turn(app_server, page)
    start(page, 2, "closed page")
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text("streaming…", exact=True).first).to_be_visible(timeout=READY_TIMEOUT_MS)
    page.close()  # mid-stream

    def ended() -> bool:
        kept = app_server.db_call(lambda db: db.list_experiments(limit=100))
        found = next((e for e in kept if e.name == "closed page"), None)
        return found is not None and found.status is JobStatus.DONE

    assert poll(ended, timeout_s=60, every_s=0.5), "the experiment did not end on its own"
    kept = app_server.db_call(lambda db: db.list_experiments(limit=100))
    experiment_id = next(e.id for e in kept if e.name == "closed page")
    stored = app_server.db_call(lambda db: db.get_experiment(experiment_id))
    assert stored is not None
    assert sorted(r.reply or "" for r in stored.runs) == sorted(ANSWERS[:2])
