"""Helpers of the browser tests: the running app, waiting for Streamlit, reading the chat, and the
stored records.

Streamlit marks its root element with the state of the script run
(``[data-testid='stApp'][data-test-script-state]``: ``initial``, ``running``, ``notRunning``).
A page is *ready* when the state is ``notRunning``, no ``stSkeleton`` placeholder is left, and that
has held for a short while: a page that reruns (``st.rerun``, ``st.switch_page``) passes through
``notRunning`` for a moment between its runs.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Locator, Page, expect

from coach.persistence import DatabaseInterface, DatabaseType, create_database
from tests.llm.fake_openai_server import FakeOpenAIServer, FakeReply

T = TypeVar("T")

#: The title ``app.py`` gives every page (``st.set_page_config``); a page run without the router
#: would have its file name as the title.
APP_TITLE = "Identity Coach Playground"
#: A first run builds the runtime and everything is slow on two shared cores.
READY_TIMEOUT_MS = 90_000
#: How long "ready" must hold before it counts.
SETTLE_MS = 400
VIEWPORT = {"width": 1400, "height": 900}
#: Dataframe rows are drawn on a canvas: the header and every row are 35 px high.
ROW_HEIGHT = 35

#: Resolves with the time (ms since navigation) the page became ready, and stayed ready for
#: ``settle`` ms; rejects after ``timeout`` ms.
_READY_JS = """
async ({settle, timeout}) => {
  const start = performance.now();
  let since = null;
  while (performance.now() - start < timeout) {
    const app = document.querySelector("[data-testid='stApp']");
    const ready = app !== null
      && app.getAttribute("data-test-script-state") === "notRunning"
      && document.querySelector("[data-testid='stSkeleton']") === null;
    if (!ready) {
      since = null;
    } else {
      if (since === null) since = performance.now();
      if (performance.now() - since >= settle) return since;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const app = document.querySelector("[data-testid='stApp']");
  const state = app === null ? "no stApp" : app.getAttribute("data-test-script-state");
  throw new Error(`the app was not ready after ${timeout} ms (script state: ${state})`);
}
"""


def wait_ready(page: Page, *, timeout_ms: int = READY_TIMEOUT_MS) -> float:
    """Wait until the script finished and nothing is left to draw; return when (ms since the
    page's navigation) it became ready."""
    return float(page.evaluate(_READY_JS, {"settle": SETTLE_MS, "timeout": timeout_ms}))


def script_state(page: Page) -> str | None:
    """``initial``, ``running`` or ``notRunning``."""
    return page.get_by_test_id("stApp").get_attribute("data-test-script-state")


def metric(page: Page, label: str) -> Locator:
    """The label and the value of the ``st.metric`` whose label starts with ``label``."""
    box = page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").filter(has_text=re.compile(f"^{label}"))
    )
    return box.get_by_test_id("stMetricLabel").or_(box.get_by_test_id("stMetricValue"))


def no_exception(page: Page) -> None:
    """The page shows no uncaught exception (and if it does, say which)."""
    shown = page.get_by_test_id("stException").all_inner_texts()
    assert not shown, "the page shows an exception:\n" + "\n---\n".join(shown)


def chat_messages(page: Page) -> Locator:
    return page.get_by_test_id("stChatMessage")


def message_text(message: Locator) -> str:
    """The text of one chat message (without its avatar), whitespace collapsed."""
    return squash(message.get_by_test_id("stChatMessageContent").inner_text())


def chat_texts(page: Page) -> list[str]:
    """The text of every chat message shown (without avatars), whitespace collapsed."""
    return [squash(t) for t in page.get_by_test_id("stChatMessageContent").all_inner_texts()]


def chat_roles(page: Page) -> list[str]:
    """``user`` or ``assistant`` for every chat message shown, by its avatar."""
    roles = []
    for message in chat_messages(page).all():
        user = message.get_by_test_id("stChatMessageAvatarUser").count()
        roles.append("user" if user else "assistant")
    return roles


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def query_of(page: Page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def coach_reply(message: str, **reply: Any) -> FakeReply:
    """A model reply with this message and no actions (``reply``: more ``FakeReply`` fields)."""
    return FakeReply(content=json.dumps({"message": message, "actions": []}), **reply)


def send_chat(page: Page, text: str) -> None:
    """Type a message into the chat input and send it (does not wait for the answer)."""
    box = page.get_by_test_id("stChatInputTextArea")
    expect(box).to_be_enabled()
    box.fill(text)
    box.press("Enter")


def wait_for_reply(page: Page, user_text: str, reply_text: str) -> None:
    """Wait until the chat shows ``user_text`` followed by ``reply_text`` and the page is ready."""
    messages = chat_messages(page)
    expect(messages.filter(has_text=reply_text)).to_have_count(1, timeout=READY_TIMEOUT_MS)
    wait_ready(page)
    texts = chat_texts(page)
    assert squash(user_text) in texts, texts
    assert texts.index(squash(reply_text)) > texts.index(squash(user_text)), texts


@dataclass(frozen=True)
class Demo:
    user_id: str
    session_id: str


@dataclass
class AppServer:
    """The app under ``streamlit run``, its database file and its (fake) model server."""

    url: str
    database_url: str
    llm: FakeOpenAIServer
    demo: Demo
    log: Path
    page_loads: int = 0

    def open(self, page: Page, path: str = "/") -> float:
        """Navigate to ``path``, wait until the page is ready, check that ``app.py`` routed it
        and nothing failed; return when it became ready (ms since navigation)."""
        page.goto(self.url + path)
        self.page_loads += 1
        ready = wait_ready(page)
        expect(page).to_have_title(APP_TITLE)
        nav = page.get_by_test_id("stSidebarNav")
        expect(nav.get_by_text("Session inspector", exact=True)).to_be_visible()
        assert page.get_by_text("Page not found").count() == 0, f"{path} is no page of the app"
        no_exception(page)
        return ready

    def start_session(self, page: Page, name: str) -> tuple[str, str]:
        """Start a new client with this name on the Coach page; return (user id, session id)."""
        self.open(page, "/")
        field = page.get_by_label("Name", exact=True)
        field.fill(name)
        field.press("Enter")
        wait_ready(page)
        page.get_by_role("button", name="Start coaching").click()
        expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible(timeout=READY_TIMEOUT_MS)
        expect(page).to_have_url(re.compile(r"session_id="))
        wait_ready(page)
        no_exception(page)
        query = query_of(page)
        return query["user_id"], query["session_id"]

    def db_call(self, call: Callable[[DatabaseInterface], Awaitable[T]]) -> T:
        """Run ``call`` against the app's database, through the persistence layer."""
        return run_on_database(self.database_url, call)


def run_on_database(url: str, call: Callable[[DatabaseInterface], Awaitable[T]]) -> T:
    async def run() -> T:
        db = create_database(DatabaseType.SQL, connection_string=url)
        try:
            await db.initialize()
            return await call(db)
        finally:
            await db.close()

    # On a thread of its own: Playwright's sync API keeps an event loop on this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


def click_row(frame: Locator, row: int) -> None:
    """Select row ``row`` (0-based) of an ``st.dataframe`` by its row-selection box."""
    frame.click(position={"x": 15, "y": (row + 1) * ROW_HEIGHT + 17})


def poll(until: Callable[[], bool], *, timeout_s: float, every_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if until():
            return True
        time.sleep(every_s)
    return until()
