"""A turn is a job of the engine, not of the page (``coach/turns/``): closing the tab, reloading
it or killing the app in the middle of a turn loses nothing, and a slow model is waited for as
long as it takes.

Each test checks the page and the stored records: the user's message is stored once, and its
turns end as they should.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from coach.enums import MessageRole, TurnStatus
from coach.persistence import MessageRecord, TurnSummary
from coach.process import ProcessId
from coach.turns import INTERRUPTED
from devtools.fake_openai import FakeOpenAIServer
from tests.browser.helpers import (
    READY_TIMEOUT_MS,
    AppServer,
    assert_streamed,
    chat_messages,
    chat_texts,
    coach_reply,
    message_text,
    no_exception,
    poll,
    script_state,
    send_chat,
    wait_for_reply,
    wait_ready,
    watch_newest_message,
)

pytestmark = pytest.mark.browser

MESSAGE = "I keep starting projects and never finishing them."
REPLY = (
    "That pattern is worth looking at closely. Before we change anything, let us notice who you "
    "are on the days you do finish something: what you tell yourself, what you protect, and "
    "what you let go of. That person is already part of you, and we can build on them."
)
#: The page's caption while the model has not sent its first token (``ui/chat.py``).
THINKING = re.compile(r"Thinking… \((\d+) s\)")


def session_path(user_id: str, session_id: str) -> str:
    return f"/?user_id={user_id}&session_id={session_id}"


def answered_once(
    messages: list[MessageRecord], turns: list[TurnSummary], *, reply: str
) -> MessageRecord:
    """The session holds ``MESSAGE`` once, and its last turn is ``ok`` with ``reply`` for it;
    return the stored message."""
    sent = [m for m in messages if m.role is MessageRole.USER]
    assert [m.content for m in sent] == [MESSAGE], sent
    assert turns, "no turn was stored"
    last = turns[-1]
    assert last.status is TurnStatus.OK, last
    assert last.user_message_id == sent[0].id
    answers = [m for m in messages if m.id == last.coach_message_id]
    assert [(m.content, m.reply_to) for m in answers] == [(reply, sent[0].id)]
    return sent[0]


def test_closing_the_tab_at_the_first_token_loses_nothing(
    app_server: AppServer, context: BrowserContext, page: Page, llm: FakeOpenAIServer
) -> None:
    user_id, session_id = app_server.start_session(page, "Tab Closer")
    # About 50 pieces, 100 ms apart: five seconds of streaming.
    llm.enqueue(coach_reply(REPLY, chunk_chars=6, chunk_delay=0.1))
    before = chat_messages(page).count()
    send_chat(page, MESSAGE)
    seen = watch_newest_message(
        page, count=before + 2, until=lambda text: bool(text) and REPLY.startswith(text)
    )
    assert seen[-1] != REPLY, "the reply had streamed to its end before the tab was closed"
    page.close()

    tab = context.new_page()
    app_server.open(tab, session_path(user_id, session_id))  # ready: the turn is over
    wait_for_reply(tab, MESSAGE, REPLY)
    assert chat_texts(tab).count(MESSAGE) == 1
    expect(tab.get_by_role("button", name="Retry")).to_have_count(0)

    messages, turns = app_server.stored(user_id, session_id)
    answered_once(messages, turns, reply=REPLY)
    assert len(turns) == 1, turns
    assert len(llm.requests) == 1, "the model was asked more than once"


def test_a_reload_mid_stream_follows_the_reply_to_its_end(
    app_server: AppServer, page: Page, llm: FakeOpenAIServer
) -> None:
    user_id, session_id = app_server.start_session(page, "Reloader")
    # About 70 pieces, 120 ms apart: eight seconds of streaming, most of it after the reload.
    llm.enqueue(coach_reply(REPLY, chunk_chars=4, chunk_delay=0.12))
    before = chat_messages(page).count()
    send_chat(page, MESSAGE)
    watch_newest_message(
        page, count=before + 2, until=lambda text: len(text) >= 12 and REPLY.startswith(text)
    )

    page.reload()
    # The reloaded page finds the turn running and draws the rest of the reply as it streams.
    seen = watch_newest_message(page, count=before + 2, until=lambda text: text == REPLY)
    assert_streamed(seen, REPLY)
    wait_ready(page)
    assert f"session_id={session_id}" in page.url
    texts = chat_texts(page)
    assert texts[-2:] == [MESSAGE, REPLY]
    assert texts.count(MESSAGE) == 1

    messages, turns = app_server.stored(user_id, session_id)
    answered_once(messages, turns, reply=REPLY)
    assert len(turns) == 1, turns
    assert len(llm.requests) == 1, "the model was asked more than once"


def test_a_turn_cut_by_a_crash_is_interrupted_and_retried_after_a_restart(
    new_app_server: Callable[..., AppServer], page: Page
) -> None:
    app = new_app_server()
    user_id, session_id = app.start_session(page, "Crash Survivor")
    # The model takes ten minutes to answer: the app is killed long before.
    app.llm.enqueue(coach_reply("This reply is never sent.", delay=600))
    send_chat(page, MESSAGE)
    expect(page.get_by_text(THINKING)).to_be_visible(timeout=READY_TIMEOUT_MS)
    assert poll(lambda: len(app.llm.requests) == 1, timeout_s=30), "the model was not asked"

    _, turns = app.stored(user_id, session_id)
    assert [t.status for t in turns] == [TurnStatus.PENDING]
    owner = ProcessId.parse(turns[0].owner)
    assert owner is not None and owner.pid == app.process.pid, (
        f"the turn is run by {turns[0].owner}, not by the process to kill ({app.process.pid})"
    )
    app.process.kill()

    app.llm.enqueue(coach_reply(REPLY))
    app.process.start()  # same database, same port
    app.open(page, session_path(user_id, session_id))
    expect(chat_messages(page).filter(has_text=MESSAGE)).to_have_count(1)
    expect(page.get_by_test_id("stAlert")).to_contain_text(
        f"The coach could not answer this message: {INTERRUPTED}"
    )
    retry = page.get_by_role("button", name="Retry")
    expect(retry).to_have_count(1)

    retry.click()
    wait_for_reply(page, MESSAGE, REPLY)
    expect(page.get_by_role("button", name="Retry")).to_have_count(0)
    expect(page.get_by_test_id("stAlert")).to_have_count(0)
    assert chat_texts(page).count(MESSAGE) == 1

    messages, turns = app.stored(user_id, session_id)
    sent = answered_once(messages, turns, reply=REPLY)
    assert [(t.status, t.error, t.user_message_id) for t in turns] == [
        (TurnStatus.FAILED, INTERRUPTED, sent.id),
        (TurnStatus.OK, None, sent.id),
    ]
    assert len(app.llm.requests) == 2  # the killed turn's request, and the retry's


#: The page gave up on a reply after 120 s without a streamed piece before turns became jobs.
OLD_PAGE_TIMEOUT_S = 120
FIRST_TOKEN_AFTER_S = 125


@pytest.mark.slow
def test_a_model_slower_than_the_old_page_timeout_is_waited_for(
    new_app_server: Callable[..., AppServer], page: Page
) -> None:
    # The engine's own model timeout (30 s in the tests) must not end the turn first.
    app = new_app_server(llm_timeout_s=str(FIRST_TOKEN_AFTER_S + 60))
    user_id, session_id = app.start_session(page, "Patient Client")
    app.llm.enqueue(coach_reply(REPLY, delay=FIRST_TOKEN_AFTER_S))
    before = chat_messages(page).count()
    send_chat(page, MESSAGE)

    # The page says how long it has been waiting, and keeps waiting.
    waited: list[int] = []
    newest = chat_messages(page).last
    deadline = time.monotonic() + FIRST_TOKEN_AFTER_S + READY_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        if chat_messages(page).count() >= before + 2:
            text = message_text(newest)
            if text and REPLY.startswith(text):
                break  # the first token
            shown = THINKING.search(text)
            if shown and (not waited or waited[-1] != int(shown[1])):
                waited.append(int(shown[1]))
        if waited:  # following the turn: the script runs until the turn is stored
            assert script_state(page) == "running", f"the page stopped following: {waited}"
        no_exception(page)
        time.sleep(1)
    assert waited, "the page never showed that the coach was thinking"
    assert waited == sorted(waited), waited
    assert waited[-1] > OLD_PAGE_TIMEOUT_S, waited
    assert len(waited) >= FIRST_TOKEN_AFTER_S // 5, f"the caption rarely changed: {waited}"

    wait_for_reply(page, MESSAGE, REPLY)
    expect(page.get_by_test_id("stAlert")).to_have_count(0)
    messages, turns = app.stored(user_id, session_id)
    answered_once(messages, turns, reply=REPLY)
    assert len(turns) == 1, turns
    assert turns[0].ttft_ms is not None and turns[0].ttft_ms >= FIRST_TOKEN_AFTER_S * 1000
