"""The inspector in real Chromium: Back after a tab change shows the tab open before, the tabs
are on a phone's first screen, and a long rejected-action reason is shown whole, not cut off."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from devtools.fake_openai import FakeOpenAIServer, FakeReply
from tests.browser.helpers import (
    READY_TIMEOUT_MS,
    AppServer,
    query_of,
    send_chat,
    wait_for_reply,
    wait_ready,
)

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
#: An action type no coach knows: it is rejected with a reason that lists every action type.
UNKNOWN_ACTION = "celebrate_the_breakthrough_with_the_client"


def selected_tab(page: Page) -> str:
    return page.get_by_role("tab", selected=True).inner_text()


def go_back(page: Page) -> None:
    page.go_back()
    # Still the inspector: Back did not leave the page (as it did when tab changes replaced
    # the history entry instead of adding one).
    expect(page).to_have_url(re.compile(r"/inspector\?session_id="))
    wait_ready(page)


def test_back_after_a_tab_change_shows_the_tab_open_before(
    app_server: AppServer, page: Page
) -> None:
    app_server.open(page, f"/inspector?session_id={app_server.demo.session_id}")
    for label in ("Turns", "Identities"):
        page.get_by_role("tab", name=label).click()
        wait_ready(page)
        expect(page.get_by_role("tab", selected=True)).to_have_text(label)
    assert query_of(page)["tab"] == "Identities"

    go_back(page)
    assert selected_tab(page) == "Turns"
    assert query_of(page)["tab"] == "Turns"
    panel = page.get_by_role("tabpanel", name="Turns")
    expect(panel.get_by_text("Turn 1 ·")).to_be_visible()  # drawn: only the open tab is

    go_back(page)
    assert selected_tab(page) == "State"
    assert "tab" not in query_of(page)
    expect(page.get_by_role("tabpanel", name="State")).to_contain_text("Focus identity")

    page.go_forward()
    wait_ready(page)
    assert selected_tab(page) == "Turns"


def test_on_a_phone_the_tabs_are_on_the_first_screen(
    app_server: AppServer, page: Page, shoot: Callable[[str], None]
) -> None:
    page.set_viewport_size(PHONE)
    app_server.open(page, f"/inspector?session_id={app_server.demo.session_id}")
    tabs = page.get_by_role("tablist").first
    expect(tabs).to_be_visible()
    box = tabs.bounding_box()
    assert box is not None
    assert box["y"] + box["height"] <= PHONE["height"], box
    # Every header metric is on that screen too, above the tabs.
    for metric in page.get_by_test_id("stMetric").all():
        shown = metric.bounding_box()
        assert shown is not None and shown["y"] + shown["height"] <= box["y"], shown
    shoot("inspector-phone")


def test_a_long_rejected_action_reason_is_shown_whole(
    app_server: AppServer, page: Page, llm: FakeOpenAIServer, shoot: Callable[[str], None]
) -> None:
    _, session_id = app_server.start_session(page, "Long Reasons")
    answer = {"message": "Tell me more.", "actions": [{"type": UNKNOWN_ACTION, "params": {}}]}
    llm.enqueue(FakeReply(content=json.dumps(answer)))
    send_chat(page, "Hello.")
    wait_for_reply(page, "Hello.", "Tell me more.")
    [turn] = app_server.db_call(lambda db: db.list_turns(session_id))
    reason = turn.actions[0].reason or ""
    assert len(reason) >= 300, reason

    app_server.open(page, f"/inspector?session_id={session_id}&tab=Turns")
    entry = page.get_by_test_id("stExpander").filter(has_text="Turn 1 ·").first
    entry.locator("summary").click()
    wait_ready(page)
    # As text of the page: the table's own cell (in its accessible copy) stops at "…".
    shown = page.get_by_test_id("stMain").get_by_test_id("stMarkdownContainer").get_by_text(reason)
    expect(shown).to_be_visible(timeout=READY_TIMEOUT_MS)
    shown.scroll_into_view_if_needed()
    # Wrapped within the page: nothing overflows its box, nothing is cut with an ellipsis.
    fits = shown.evaluate(
        """e => {
            const style = getComputedStyle(e);
            return e.scrollWidth <= e.clientWidth && style.textOverflow !== "ellipsis"
                && e.getBoundingClientRect().right <= document.documentElement.clientWidth;
        }"""
    )
    assert fits
    assert reason in shown.inner_text()
    shoot("inspector-whole-reason")
