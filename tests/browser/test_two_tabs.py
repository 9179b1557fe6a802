"""Two browser tabs on one session send at the same moment: neither message is lost, each gets
its reply, both are stored once, and both tabs show the whole conversation after a reload. A
tab that finds a turn another tab started says what it waits for."""

from __future__ import annotations

import re

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
    send_chat,
    wait_for_reply,
    wait_ready,
    watch_newest_message,
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


#: What a tab says while it waits for a turn another tab started (``ui/chat.py``).
ELSEWHERE = re.compile(r"Waiting for the reply to your message sent from another tab.*\((\d+) s\)")
LATE_REPLY = "A reply that took its time, followed from the other tab."


def test_a_tab_following_another_tabs_turn_says_what_it_waits_for(
    app_server: AppServer, context: BrowserContext, page: Page, llm: FakeOpenAIServer
) -> None:
    user_id, session_id = app_server.start_session(page, "Tab Watcher")
    # Eight seconds before the first token: long enough to open the session in a second tab.
    llm.enqueue(coach_reply(LATE_REPLY, delay=8, chunk_chars=6, chunk_delay=0.05))
    send_chat(page, "Sent from the first tab.")
    expect(chat_messages(page).filter(has_text="Thinking…")).to_have_count(1)

    other = context.new_page()
    other.goto(f"{app_server.url}/?user_id={user_id}&session_id={session_id}")
    # The welcome, the message sent from the first tab, then the turn this tab follows.
    seen = watch_newest_message(other, count=3, until=lambda text: text == LATE_REPLY)
    waiting = [i for i, text in enumerate(seen) if ELSEWHERE.search(text)]
    assert waiting, f"the second tab never said what it waited for: {seen}"
    # Once it says so, the bubble never goes empty or says anything else until the text comes.
    first_text = next(i for i, text in enumerate(seen) if text and LATE_REPLY.startswith(text))
    assert waiting[0] < first_text, seen
    assert all(ELSEWHERE.search(text) for text in seen[waiting[0] : first_text]), seen
    assert not any(seen[: waiting[0]]), seen
    counted = [int(ELSEWHERE.search(seen[i])[1]) for i in waiting]  # type: ignore[index]
    assert counted == sorted(counted) and counted[-1] >= 2, counted  # it counts the seconds
    wait_ready(other)
    # The first tab, which sent the message, said it was thinking; both end with the reply.
    wait_for_reply(page, "Sent from the first tab.", LATE_REPLY)
    assert chat_texts(other)[-2:] == ["Sent from the first tab.", LATE_REPLY]
