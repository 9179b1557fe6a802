"""Deep links: ``/inspector?session_id=…`` opens that session, even as a server's first visit."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import AppServer, metric

pytestmark = pytest.mark.browser


def test_a_deep_link_on_a_fresh_server_goes_through_the_router(
    app_server: AppServer, page: Page
) -> None:
    # Without the router, Streamlit would run pages/inspector.py alone as an old-style multipage
    # app on a server's first visit. The conftest runs this test first among the browser tests.
    assert app_server.page_loads == 0, (
        "the server was visited before this test: it must run first (see tests/browser/conftest)"
    )
    app_server.open(page, f"/inspector?session_id={app_server.demo.session_id}")
    nav = page.get_by_test_id("stSidebarNav")
    # The router's navigation (titles and icons), not the file names of pages/.
    expect(nav.get_by_role("link")).to_have_text(
        [
            "💬Coach",
            "🗂️Sessions",
            "🔎Session inspector",
            "🧪Prompts",
            "↔️Compare",
            "📏Evals",
            "🛠️Admin",
        ]
    )
    # The sidebar line app.py writes: the model in use, the key only as "set".
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar).to_contain_text("Model: openai / gpt-5.4-mini · API key: set")
    expect(sidebar).not_to_contain_text("test-key")


def test_the_inspector_deep_link_shows_that_session(app_server: AppServer, page: Page) -> None:
    demo = app_server.demo
    app_server.open(page, f"/inspector?session_id={demo.session_id}")
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="Session inspector")).to_be_visible()
    expect(main).to_contain_text(f"Session {demo.session_id} of Maya ({demo.user_id})")
    expect(metric(page, "Phase")).to_have_text(["Phase 6 of 6", "Accountability"])
    expect(metric(page, "Turns")).to_have_text(["Turns", "10"])
    expect(page.get_by_role("tab")).to_have_text(
        ["State", "Context", "Identities", "Turns", "Prompt", "User"]
    )
    expect(main).to_contain_text("Focus identity: Creative Visionary")


def test_a_deep_link_to_an_unknown_session_says_so(app_server: AppServer, page: Page) -> None:
    app_server.open(page, "/inspector?session_id=no-such-session")
    expect(page.get_by_test_id("stAlert")).to_contain_text("No session has the id no-such-session")
