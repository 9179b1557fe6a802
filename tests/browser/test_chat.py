"""The Coach page in a real browser: replies stream into the page, and a conversation survives a
reload (it is read back from the database, not kept in the page)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from devtools.fake_openai import FakeOpenAIServer
from tests.browser.helpers import (
    AppServer,
    assert_streamed,
    chat_messages,
    chat_roles,
    chat_texts,
    coach_reply,
    send_chat,
    wait_for_reply,
    wait_ready,
    watch_newest_message,
)

pytestmark = pytest.mark.browser

SLOW_REPLY = (
    "Thank you for sharing that with me. Let us take it one step at a time: first we look at "
    "the people you already are on your best days, then at the people you want to become, "
    "and only then do we choose one identity to focus on together."
)


def test_the_reply_streams_into_the_page(
    app_server: AppServer, page: Page, llm: FakeOpenAIServer
) -> None:
    app_server.start_session(page, "Stream Tester")
    # About 50 pieces of 6 characters, 80 ms apart: four seconds of streaming.
    llm.enqueue(coach_reply(SLOW_REPLY, chunk_chars=6, chunk_delay=0.08))
    before = chat_messages(page).count()
    send_chat(page, "I want to find out who I am becoming.")

    seen = watch_newest_message(page, count=before + 2, until=lambda text: text == SLOW_REPLY)
    assert_streamed(seen, SLOW_REPLY)

    wait_ready(page)
    texts = chat_texts(page)
    assert texts[-2:] == ["I want to find out who I am becoming.", SLOW_REPLY]
    assert chat_roles(page)[-2:] == ["user", "assistant"]
    assert llm.last_body["stream"] is True


#: The page's caption from Enter to the first token (``ui/chat.py``).
THINKING = re.compile(r"Thinking… \((\d+) s\)")


def test_thinking_shows_until_the_first_token_and_goes_when_text_arrives(
    app_server: AppServer, page: Page, llm: FakeOpenAIServer
) -> None:
    app_server.start_session(page, "Patient Reader")
    # Three seconds before the first token (a model reading its prompt), then streaming.
    llm.enqueue(coach_reply(SLOW_REPLY, delay=3, chunk_chars=6, chunk_delay=0.08))
    before = chat_messages(page).count()
    send_chat(page, "I want to find out who I am becoming.")

    seen = watch_newest_message(page, count=before + 2, until=lambda text: text == SLOW_REPLY)
    thinking_at = [i for i, t in enumerate(seen) if THINKING.search(t)]
    text_at = [i for i, t in enumerate(seen) if t and not THINKING.search(t)]
    assert thinking_at, f"the page never said the coach was thinking: {seen}"
    assert not any(seen[: thinking_at[0]]), f"something came before Thinking…: {seen}"
    assert max(thinking_at) < min(text_at), f"Thinking… stayed with the text: {seen}"
    counted = [int(THINKING.search(seen[i])[1]) for i in thinking_at]  # type: ignore[index]
    assert counted[-1] >= 2, counted  # it counts the seconds
    replying = [seen[i] for i in text_at]
    assert_streamed(replying, SLOW_REPLY)


def test_the_conversation_is_still_there_after_a_reload(
    app_server: AppServer, page: Page, llm: FakeOpenAIServer
) -> None:
    _, session_id = app_server.start_session(page, "Reload Tester")
    llm.enqueue(coach_reply("Welcome back to the page: this answer was stored."))
    send_chat(page, "Please remember this message.")
    wait_for_reply(
        page, "Please remember this message.", "Welcome back to the page: this answer was stored."
    )
    before = chat_texts(page)

    page.reload()
    wait_ready(page)
    assert f"session_id={session_id}" in page.url
    expect(chat_messages(page).filter(has_text="Please remember this message.")).to_have_count(1)
    assert chat_texts(page) == before
    assert before[-2:] == [
        "Please remember this message.",
        "Welcome back to the page: this answer was stored.",
    ]
