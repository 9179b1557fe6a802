"""The Coach page in a real browser: replies stream into the page, and a conversation survives a
reload (it is read back from the database, not kept in the page)."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import (
    READY_TIMEOUT_MS,
    AppServer,
    chat_messages,
    chat_roles,
    chat_texts,
    coach_reply,
    message_text,
    send_chat,
    wait_for_reply,
    wait_ready,
)
from tests.llm.fake_openai_server import FakeOpenAIServer

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

    seen: list[str] = []
    last = chat_messages(page).last
    deadline = time.monotonic() + READY_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        if chat_messages(page).count() >= before + 2:
            text = message_text(last)
            if not seen or seen[-1] != text:
                seen.append(text)
            if text == SLOW_REPLY:
                break
        time.sleep(0.05)
    assert seen and seen[-1] == SLOW_REPLY, seen
    partial = [t for t in seen if t and t != SLOW_REPLY and SLOW_REPLY.startswith(t)]
    assert len(set(partial)) >= 2, f"no progressive states before the end: {seen}"
    # Growing, never shrinking.
    assert partial == sorted(partial, key=len), partial

    wait_ready(page)
    texts = chat_texts(page)
    assert texts[-2:] == ["I want to find out who I am becoming.", SLOW_REPLY]
    assert chat_roles(page)[-2:] == ["user", "assistant"]
    assert llm.last_body["stream"] is True


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
