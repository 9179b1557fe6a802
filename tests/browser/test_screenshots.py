"""Screenshots of every page, taken on the demo data; each page is also checked to render without
an error.

They go to a temporary folder, so a test run changes no tracked file. ``make screenshots`` names
``docs/screenshots/`` (the README's) in ``COACH_TEST_SCREENSHOTS_DIR`` to refresh them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from devtools.fake_openai import FakeOpenAIServer
from tests.browser.helpers import AppServer, coach_reply, send_chat, to_top, wait_for_reply

pytestmark = pytest.mark.browser

TABS = ("State", "Context", "Identities", "Turns", "Prompt", "User")


def test_screenshot_the_coach(
    app_server: AppServer, page: Page, shoot: Callable[[str], None]
) -> None:
    demo = app_server.demo
    app_server.open(page, f"/?user_id={demo.user_id}&session_id={demo.session_id}")
    expect(page.get_by_test_id("stSidebar")).to_contain_text("Creative Visionary")
    shoot("coach")

    app_server.open(page, "/")
    expect(page.get_by_role("button", name="Start coaching")).to_be_visible()
    shoot("coach-choose-client")


def test_screenshot_the_sessions_page(
    app_server: AppServer, page: Page, shoot: Callable[[str], None]
) -> None:
    app_server.open(page, "/sessions")
    expect(page.get_by_test_id("stDataFrame")).to_have_count(2)
    shoot("sessions")


def test_screenshot_the_prompts_page(
    app_server: AppServer, page: Page, shoot: Callable[[str], None]
) -> None:
    app_server.open(page, "/prompts?part=introduction")
    preview = page.get_by_test_id("stMain").get_by_test_id("stCode").first
    expect(preview).to_contain_text("Maya")  # rendered on the demo session
    shoot("prompts")
    to_top(page.get_by_role("heading", name="Preview"))
    shoot("prompts-preview")


def test_screenshot_every_inspector_tab(
    app_server: AppServer, page: Page, shoot: Callable[[str], None]
) -> None:
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
        shoot(f"inspector-{tab.lower()}")

    page.get_by_role("tab", name="State").click()
    page.get_by_test_id("stExpander").filter(has_text="Delete").locator("summary").click()
    page.get_by_test_id("stExpander").filter(has_text="Delete").evaluate(
        "e => e.scrollIntoView({block: 'end'})"
    )
    shoot("inspector-delete")


def test_screenshot_the_inspector_session_picker(
    app_server: AppServer, page: Page, shoot: Callable[[str], None]
) -> None:
    app_server.open(page, "/inspector")
    expect(page.get_by_role("button", name="Open", exact=True).last).to_be_visible()
    shoot("inspector-pick-session")


def test_screenshot_the_chat_thinking(
    app_server: AppServer, page: Page, llm: FakeOpenAIServer, shots: Path
) -> None:
    # Taken while the page waits for the first token (``shoot`` would wait for it to end).
    app_server.start_session(page, "Patient Reader")
    llm.enqueue(coach_reply("Take your time; we start where you are.", delay=4))
    send_chat(page, "Where do I even begin?")
    expect(page.get_by_text(re.compile(r"Thinking… \(\d+ s\)"))).to_be_visible()
    path = shots / "chat-thinking.png"
    page.screenshot(path=path, animations="disabled", caret="hide")
    assert path.read_bytes().startswith(b"\x89PNG")
    wait_for_reply(page, "Where do I even begin?", "Take your time; we start where you are.")
