"""Two browser tabs on one session send at the same moment: neither message is lost, each gets
its reply, both are stored once, and both tabs show the whole conversation after a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from coach.enums import MessageRole, TurnStatus
from devtools.fake_openai import FakeOpenAIServer
from tests.browser.helpers import (
    READY_TIMEOUT_MS,
    AppServer,
    chat_messages,
    chat_texts,
    coach_reply,
    poll,
    script_state,
    wait_ready,
)

pytestmark = pytest.mark.browser

FIRST, SECOND = "Message from the first tab.", "Message from the second tab."
REPLIES = {"Reply number one, streamed slowly.", "Reply number two, streamed slowly."}


def test_two_tabs_sending_at_once_lose_nothing(
    app_server: AppServer, context: BrowserContext, page: Page, llm: FakeOpenAIServer
) -> None:
    user_id, session_id = app_server.start_session(page, "Two Tabs")
    other = context.new_page()
    app_server.open(other, f"/?user_id={user_id}&session_id={session_id}")
    # Slow replies, so the second turn is asked for while the first is still streaming.
    llm.enqueue(*(coach_reply(text, chunk_chars=4, chunk_delay=0.15) for text in REPLIES))

    boxes = [tab.get_by_test_id("stChatInputTextArea") for tab in (page, other)]
    for box, text in zip(boxes, (FIRST, SECOND), strict=True):
        box.fill(text)
    for box in boxes:
        box.press("Enter")
    # Both tabs are running their turn at the same time.
    assert poll(lambda: all(script_state(tab) == "running" for tab in (page, other)), timeout_s=10)

    for tab, text in ((page, FIRST), (other, SECOND)):
        expect(chat_messages(tab).filter(has_text=text)).to_have_count(1)
        # This tab's turn is over when it shows its reply (read back from the database).
        expect(chat_messages(tab).filter(has_text="streamed slowly")).not_to_have_count(
            0, timeout=READY_TIMEOUT_MS
        )
    for tab in (page, other):
        expect(tab.get_by_test_id("stChatInputTextArea")).to_be_enabled(timeout=READY_TIMEOUT_MS)
        wait_ready(tab)

    records, turns = app_server.stored(user_id, session_id)
    messages = [(m.role, m.content) for m in records]
    assert [t.status for t in turns] == [TurnStatus.OK, TurnStatus.OK]
    assert [m for m in messages if m[0] is MessageRole.USER] in (
        [(MessageRole.USER, FIRST), (MessageRole.USER, SECOND)],
        [(MessageRole.USER, SECOND), (MessageRole.USER, FIRST)],
    )
    coach = [content for role, content in messages if role is MessageRole.COACH]
    assert set(coach[1:]) == REPLIES and len(coach) == 3  # the welcome, then one reply each
    # Each turn answered its own message: the reply comes after it and names it.
    position = {m.id: i for i, m in enumerate(records)}
    for turn in turns:
        reply = records[position[turn.coach_message_id or ""]]
        assert reply.reply_to == turn.user_message_id
        assert position[turn.user_message_id] < position[reply.id]

    expected = [content for _, content in messages]
    for tab in (page, other):
        tab.reload()
        wait_ready(tab)
        expect(chat_messages(tab)).to_have_count(len(expected))
        assert chat_texts(tab)[1:] == expected[1:]  # the welcome is Markdown: not compared
