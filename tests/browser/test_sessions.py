"""The Sessions page: find a session, select its row in the table, and the inspector opens it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import READY_TIMEOUT_MS, AppServer, click_row, metric, wait_ready

pytestmark = pytest.mark.browser


def test_selecting_a_session_row_opens_it_in_the_inspector(
    app_server: AppServer, page: Page
) -> None:
    demo = app_server.demo
    app_server.open(page, "/sessions")
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="Sessions").first).to_be_visible()

    search = page.get_by_label("Search sessions")
    search.fill(demo.session_id[:13])
    search.press("Enter")
    wait_ready(page)
    expect(main).to_contain_text("Page 1 (last)")
    tables = page.get_by_test_id("stDataFrame")
    expect(tables).to_have_count(2)  # users, then sessions
    sessions = tables.nth(1)
    # One row: the demo session (the grid's accessible row count includes the header).
    expect(sessions.locator("[role='grid']")).to_have_attribute("aria-rowcount", "2")

    click_row(sessions, 0)
    expect(page).to_have_url(
        re.compile(rf"/inspector\?session_id={demo.session_id}$"), timeout=READY_TIMEOUT_MS
    )
    wait_ready(page)
    expect(main).to_contain_text(f"Session {demo.session_id} of Maya")

    # State: the phase and the focus identity.
    expect(metric(page, "Phase")).to_have_text(["Phase 6 of 6", "Accountability"])
    expect(main).to_contain_text("Focus identity: Creative Visionary")

    # Identities: one expander per identity of the client, with its state.
    page.get_by_role("tab", name="Identities").click()
    panel = page.get_by_role("tabpanel", name="Identities")
    for label in ("Creative Visionary · refined", "Devoted Parent", "Energetic Athlete"):
        expect(panel.get_by_test_id("stExpander").filter(has_text=label)).to_have_count(1)

    # Turns: the turn log, one expander per turn; open one to see what the model was sent.
    page.get_by_role("tab", name="Turns").click()
    panel = page.get_by_role("tabpanel", name="Turns")
    turns = panel.get_by_test_id("stExpander").filter(has_not_text="Difference between")
    expect(turns).to_have_count(10)
    expect(turns.first).to_contain_text("Turn 1 · ok · introduction →")
    # The demo's two refused phase changes are marked in the log, with their reasons inside.
    refused = turns.filter(has_text="phase change refused")
    expect(refused).to_have_count(2)
    refused.first.locator("summary").click()
    expect(refused.first).to_contain_text("(refused: ")
    turn = turns.nth(4)
    turn.locator("summary").click()
    expect(turn.get_by_text("Prompt sent:")).to_be_visible()
    expect(turn.get_by_text("Raw model output")).to_be_visible()
