"""Screenshots of every page for ``docs/screenshots/`` (overwritten on each run), taken on the demo
data. Each page is also checked to render without an error."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.helpers import AppServer, no_exception, wait_ready

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TABS = ("State", "Context", "Identities", "Turns", "Prompt", "User")


def to_top(element: Locator) -> None:
    """Scroll ``element`` to the top of the page, below Streamlit's header."""
    element.evaluate(
        "e => { e.style.scrollMarginTop = '70px'; e.scrollIntoView({block: 'start'}); }"
    )


def shoot(page: Page, name: str) -> None:
    wait_ready(page)
    no_exception(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", animations="disabled", caret="hide")


def test_screenshot_the_coach(app_server: AppServer, page: Page) -> None:
    demo = app_server.demo
    app_server.open(page, f"/?user_id={demo.user_id}&session_id={demo.session_id}")
    expect(page.get_by_test_id("stSidebar")).to_contain_text("Creative Visionary")
    shoot(page, "coach")

    app_server.open(page, "/")
    expect(page.get_by_role("button", name="Start coaching")).to_be_visible()
    shoot(page, "coach-choose-client")


def test_screenshot_the_sessions_page(app_server: AppServer, page: Page) -> None:
    app_server.open(page, "/sessions")
    expect(page.get_by_test_id("stDataFrame")).to_have_count(2)
    shoot(page, "sessions")


def test_screenshot_every_inspector_tab(app_server: AppServer, page: Page) -> None:
    app_server.open(page, f"/inspector?session_id={app_server.demo.session_id}")
    for tab in TABS:
        page.get_by_role("tab", name=tab).click()
        panel = page.get_by_role("tabpanel", name=tab)
        expect(panel).to_be_visible()
        if tab == "Turns":  # open the turn with the refused phase change
            turn = panel.get_by_test_id("stExpander").filter(has_text="phase change refused").first
            turn.locator("summary").click()  # a turn's details are drawn when it is opened
            expect(turn.get_by_text("Raw model output")).to_be_visible()
            to_top(turn)
        elif tab != "State":  # the tab bar at the top, the tab's content below it
            to_top(page.get_by_role("tablist"))
        shoot(page, f"inspector-{tab.lower()}")

    page.get_by_role("tab", name="State").click()
    page.get_by_test_id("stExpander").filter(has_text="Delete").locator("summary").click()
    page.get_by_test_id("stExpander").filter(has_text="Delete").evaluate(
        "e => e.scrollIntoView({block: 'end'})"
    )
    shoot(page, "inspector-delete")


def test_screenshot_the_inspector_session_picker(app_server: AppServer, page: Page) -> None:
    app_server.open(page, "/inspector")
    expect(page.get_by_role("button", name="Open", exact=True).last).to_be_visible()
    shoot(page, "inspector-pick-session")
