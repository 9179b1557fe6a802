"""A long paste in the Coach page (issue 14, "a paste over 4,000 characters vanishes"): a
5,000-character paste is sent and answered; one over the limit is refused where the user sees
it, the text kept whole to copy, and nothing stored. ``fill`` sets the whole text at once, as
a paste does; with the box's old ``max_chars`` the browser cut it at the limit, silently."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import (
    READY_TIMEOUT_MS,
    AppServer,
    coach_reply,
    send_chat,
    wait_for_reply,
    wait_ready,
)

pytestmark = pytest.mark.browser

LIMIT = 6000


def pasted(length: int, tag: str) -> str:
    words = f"{tag} journal entry about the week, " * (length // 30 + 1)
    return words[:length].strip()


def test_a_long_paste_is_sent_and_one_over_the_limit_is_refused_and_kept(
    new_app_server: Callable[..., AppServer], page: Page, shoot: Callable[[str], None]
) -> None:
    app = new_app_server(max_message_chars=str(LIMIT))
    user_id, session_id = app.start_session(page, "Paste Tester")
    long_text = pasted(5000, "long")
    app.llm.enqueue(coach_reply("Thank you for all of that."))
    send_chat(page, long_text)
    wait_for_reply(page, long_text, "Thank you for all of that.")
    _, turns = app.stored(user_id, session_id)
    assert len(turns) == 1

    too_long = pasted(LIMIT + 500, "toolong")
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(too_long)
    assert box.input_value() == too_long  # the box took the whole paste
    box.press("Enter")
    wait_ready(page)
    # Shown next to the input (Streamlit puts what follows the chat box below the page).
    expect(page.get_by_test_id("stAlertContentWarning").first).to_contain_text(
        f"the limit is {LIMIT:,}", timeout=READY_TIMEOUT_MS
    )
    expect(page.get_by_text("Your message was not sent; here it is to copy:")).to_be_visible()
    expect(page.get_by_test_id("stCode").last).to_contain_text(too_long[-60:])
    shoot("chat-long-paste-refused")
    _, turns = app.stored(user_id, session_id)
    assert len(turns) == 1  # nothing stored
