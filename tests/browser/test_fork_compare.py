"""Fork and compare in real Chromium: fork the demo session after turn 6 from the inspector,
continue the fork in the Coach page, then compare it with the original and see where they
diverge (marked on the page and on the phase chart).

The app is this test's own: a fork adds a client and lineage the other tests do not expect.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from coach.demo import DEMO_STEPS
from tests.browser.helpers import (
    READY_TIMEOUT_MS,
    AppServer,
    coach_reply,
    no_exception,
    send_chat,
    to_top,
    wait_for_reply,
    wait_ready,
)

pytestmark = pytest.mark.browser

AT = 6
REPLY = "A different road from here: what matters most to you this week?"


def test_fork_from_the_inspector_continue_it_and_compare_with_the_original(
    new_app_server: Callable[..., AppServer], page: Page, shoot: Callable[[str], None]
) -> None:
    app = new_app_server()
    source = app.demo.session_id
    app.open(page, f"/inspector?session_id={source}&tab=Turns")
    main = page.get_by_test_id("stMain")
    entry = main.get_by_test_id("stExpander").filter(has_text=f"Turn {AT} ·").first
    entry.locator("summary").click()
    wait_ready(page)
    page.get_by_role("button", name=f"Fork after turn {AT}", exact=True).click()
    wait_ready(page)
    expect(main.get_by_test_id("stAlertContentSuccess")).to_contain_text(
        f"fork after turn {AT}", timeout=READY_TIMEOUT_MS
    )
    no_exception(page)

    # Continue the fork in the coach: the next message gets a new answer.
    page.get_by_role("link", name="Continue it in the coach").click()
    expect(page).to_have_url(re.compile(r"/\?user_id=.*session_id="), timeout=READY_TIMEOUT_MS)
    wait_ready(page)
    fork = dict(x.split("=", 1) for x in page.url.split("?", 1)[1].split("&"))["session_id"]
    assert fork != source
    app.llm.enqueue(coach_reply(REPLY))
    message = DEMO_STEPS[AT].user
    send_chat(page, message)
    wait_for_reply(page, message, REPLY)
    no_exception(page)

    # Compare the original with the fork: they part at turn AT + 1.
    app.open(page, f"/compare?a={source}&b={fork}")
    main = page.get_by_test_id("stMain")
    warning = main.get_by_test_id("stAlertContentWarning")
    expect(warning).to_contain_text(f"First divergence: turn {AT + 1}")
    expect(main.get_by_text(f"Turn {AT + 1} · ⚠️ first divergence")).to_be_visible()
    expect(main.locator(".st-key-compare_turn_7")).to_contain_text(REPLY)
    expect(main.get_by_test_id("stVegaLiteChart")).to_be_visible()
    no_exception(page)
    shoot("compare")
    to_top(main.locator(f".st-key-compare_turn_{AT}"))
    shoot("compare-transcript")

    # The original lists the fork; the fork names the original.
    app.open(page, f"/inspector?session_id={fork}")
    expect(page.get_by_test_id("stMain")).to_contain_text(f"fork after turn {AT}")
    shoot("inspector-fork")
