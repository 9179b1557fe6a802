"""The inspector shows what the model read in a turn, in a real browser: a returning client's
turn carries a digest of their earlier session, and the turn's model input shows it, labelled,
between the system prompt and the conversation; the Context tab links the session it came from."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from devtools.fake_openai import FakeOpenAIServer
from tests.browser.helpers import (
    READY_TIMEOUT_MS,
    AppServer,
    coach_reply,
    no_exception,
    query_of,
    send_chat,
    to_top,
    wait_for_reply,
    wait_ready,
)

pytestmark = pytest.mark.browser

EARLIER = re.compile(r"^\s*Summary of the client's earlier sessions:")


def test_a_returning_clients_turn_shows_the_earlier_session_in_its_model_input(
    app_server: AppServer, page: Page, llm: FakeOpenAIServer, shoot: Callable[[str], None]
) -> None:
    _, first_id = app_server.start_session(page, "Robin Vale")
    llm.enqueue(coach_reply("Sundays in the kitchen sound lovely."))
    send_chat(page, "I love cooking on Sundays.")
    wait_for_reply(page, "I love cooking on Sundays.", "Sundays in the kitchen sound lovely.")

    page.get_by_test_id("stSidebar").get_by_role("button", name="New session").click()
    expect(page).not_to_have_url(re.compile(f"session_id={first_id}"), timeout=READY_TIMEOUT_MS)
    wait_ready(page)
    second_id = query_of(page)["session_id"]
    llm.enqueue(coach_reply("Good to see you again, Robin."))
    send_chat(page, "Hello again.")
    wait_for_reply(page, "Hello again.", "Good to see you again, Robin.")

    app_server.open(page, f"/inspector?session_id={second_id}&tab=Turns")
    label = page.get_by_text(re.compile(r"^Turn 1 · ok"))
    label.click()
    wait_ready(page)
    no_exception(page)
    entry = page.get_by_test_id("stExpander").filter(has=label)
    # The client's message and the coach's reply, by their text.
    said = entry.get_by_test_id("stChatMessage")
    expect(said.filter(has_text="The client's message")).to_contain_text("Hello again.")
    expect(said.filter(has_text="The coach's reply")).to_contain_text(
        "Good to see you again, Robin."
    )
    # The model's input, in order: the system prompt, then the earlier session's digest as a
    # second system message, labelled; the word the client said in the first session is there.
    expect(entry.get_by_text("Carried from the client's earlier session")).to_be_visible()
    digest = entry.get_by_test_id("stCode").filter(has_text=EARLIER)
    expect(digest).to_have_count(1)
    expect(digest).to_be_visible()
    expect(digest).to_contain_text("Client: I love cooking on Sundays.")
    expect(digest.get_by_text(re.compile("cooking"))).to_be_visible()
    to_top(entry.get_by_text("Model input", exact=True))
    shoot("inspector-model-input")

    # The Context tab shows the digest too, and links the session it came from.
    page.get_by_role("tab", name="Context").click()
    wait_ready(page)
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text("Carried from the client's earlier session")).to_be_visible()
    link = main.get_by_role("link", name="Open the session it came from")
    expect(link).to_have_attribute("href", f"/inspector?session_id={first_id}")
    with page.context.expect_page() as opened:  # a new browser tab
        link.click()
    earlier = opened.value
    wait_ready(earlier)
    no_exception(earlier)
    expect(earlier.get_by_test_id("stMain")).to_contain_text(f"Session {first_id} of Robin Vale")
    earlier.close()
