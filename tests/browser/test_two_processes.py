"""Two app processes on one PostgreSQL database, as behind a reverse proxy with sticky sessions
(README, "Several app processes"): a conversation held on one shows on the other, and a process
that starts (or opens a session) while the other runs a turn leaves that turn alone.

Each process has a fake model server of its own, so a test tells which process asked the model.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from coach.enums import TurnStatus
from coach.process import ProcessId
from devtools.fake_openai import FakeOpenAIServer, FakeReply
from tests.browser.helpers import (
    READY_TIMEOUT_MS,
    AppServer,
    chat_messages,
    chat_texts,
    coach_reply,
    poll,
    send_chat,
    wait_for_reply,
    wait_ready,
)

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

MESSAGE = "I want to become someone who finishes what they start."
REPLY = "Then let us look at the last thing you did finish, and who you were while doing it."
#: The page's caption for a turn another app process runs (``ui/chat.py``).
OTHER_PROCESS = re.compile(r"Another app process \((.+)\) is answering this message")
#: Long enough for a held reply to outlast a restart of the other process.
LLM_TIMEOUT_S = "300"


def session_path(user_id: str, session_id: str) -> str:
    return f"/?user_id={user_id}&session_id={session_id}"


@pytest.fixture
def two_apps(
    postgres_url: str, new_app_server: Callable[..., AppServer]
) -> tuple[AppServer, AppServer]:
    """Two ``streamlit run`` processes on one new PostgreSQL database (dropped after the test,
    once both have stopped), each with a fake model server of its own."""
    first = new_app_server(database_url=postgres_url, llm_timeout_s=LLM_TIMEOUT_S)
    second = new_app_server(database_url=postgres_url, llm_timeout_s=LLM_TIMEOUT_S)
    return first, second


def hold_replies(llm: FakeOpenAIServer, reply: FakeReply) -> threading.Event:
    """Make ``llm`` answer each request with ``reply`` only once the returned event is set (or
    after ``LLM_TIMEOUT_S``); the request is recorded at once."""
    release = threading.Event()

    def respond(body: object) -> FakeReply:
        release.wait(float(LLM_TIMEOUT_S))
        return reply

    llm.respond = respond
    return release


def owner_pid(owner: str | None) -> int | None:
    process = ProcessId.parse(owner)
    return None if process is None else process.pid


def test_a_turn_sent_on_one_process_shows_on_the_other(
    two_apps: tuple[AppServer, AppServer], context: BrowserContext, page: Page
) -> None:
    a, b = two_apps
    user_id, session_id = a.start_session(page, "Two Processes")
    a.llm.enqueue(coach_reply(REPLY))
    send_chat(page, MESSAGE)
    wait_for_reply(page, MESSAGE, REPLY)

    other = context.new_page()
    b.open(other, session_path(user_id, session_id))
    wait_for_reply(other, MESSAGE, REPLY)

    # And back: a message sent on B shows on A after a reload.
    answer = "Good. Name one small promise you can keep today."
    b.llm.enqueue(coach_reply(answer))
    send_chat(other, "What is my next step?")
    wait_for_reply(other, "What is my next step?", answer)
    page.reload()
    wait_ready(page)
    assert chat_texts(page)[-4:] == [MESSAGE, REPLY, "What is my next step?", answer]

    _, turns = a.stored(user_id, session_id)
    assert [t.status for t in turns] == [TurnStatus.OK, TurnStatus.OK]
    assert [owner_pid(t.owner) for t in turns] == [a.process.pid, b.process.pid]
    assert (len(a.llm.requests), len(b.llm.requests)) == (1, 1)


def test_a_restarted_process_leaves_the_other_process_s_running_turn_alone(
    two_apps: tuple[AppServer, AppServer], context: BrowserContext, page: Page
) -> None:
    a, b = two_apps
    user_id, session_id = a.start_session(page, "Held Reply")
    release = hold_replies(a.llm, coach_reply(REPLY))
    try:
        send_chat(page, MESSAGE)
        assert poll(lambda: len(a.llm.requests) == 1, timeout_s=30), "A did not ask the model"
        _, turns = a.stored(user_id, session_id)
        assert [t.status for t in turns] == [TurnStatus.PENDING]
        assert owner_pid(turns[0].owner) == a.process.pid

        # B's start recovers every session's turns (``open_database``), and its page recovers
        # the session it opens: both while A's turn waits for the model.
        b.process.stop()
        b.process.start()
        other = context.new_page()
        other.goto(b.url + session_path(user_id, session_id))
        expect(chat_messages(other).filter(has_text=MESSAGE)).to_have_count(
            1, timeout=READY_TIMEOUT_MS
        )
        _, turns = b.stored(user_id, session_id)
        assert [(t.status, t.error) for t in turns] == [(TurnStatus.PENDING, None)]
        expect(other.get_by_text(OTHER_PROCESS)).to_contain_text(turns[0].owner or "?")
        expect(other.get_by_text("interrupted")).to_have_count(0)
        expect(other.get_by_role("button", name="Retry")).to_have_count(0)
    finally:
        release.set()

    wait_for_reply(page, MESSAGE, REPLY)
    _, turns = a.stored(user_id, session_id)
    assert [(t.status, t.error) for t in turns] == [(TurnStatus.OK, None)]
    other.reload()
    wait_for_reply(other, MESSAGE, REPLY)
    expect(other.get_by_text("interrupted")).to_have_count(0)
    assert chat_texts(other).count(MESSAGE) == 1
    assert (len(a.llm.requests), len(b.llm.requests)) == (1, 0)
