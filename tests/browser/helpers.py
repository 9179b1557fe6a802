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
import os
import re
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Locator, Page, expect

from coach.persistence import (
    DatabaseInterface,
    DatabaseType,
    MessageRecord,
    TurnSummary,
    create_database,
)
from devtools import serve
from devtools.fake_openai import FakeOpenAIServer, FakeReply

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[2]

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


def watch_newest_message(
    page: Page,
    *,
    count: int,
    until: Callable[[str], bool],
    timeout_s: float = READY_TIMEOUT_MS / 1000,
) -> list[str]:
    """Read the newest chat message over and over, from when the chat shows ``count`` messages
    until its text satisfies ``until``; return every text it showed, in order, each change once
    (the last one satisfies ``until``).

    Raises:
        AssertionError: ``until`` did not hold within ``timeout_s``; the message says what was
            seen.
    """
    seen: list[str] = []
    newest = chat_messages(page).last
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if chat_messages(page).count() >= count:
            text = message_text(newest)
            if not seen or seen[-1] != text:
                seen.append(text)
            if until(text):
                return seen
        time.sleep(0.05)
    raise AssertionError(f"the newest message never showed what was waited for; it showed {seen}")


def assert_streamed(seen: list[str], reply: str) -> None:
    """``seen`` (``watch_newest_message``) ends with ``reply`` and shows at least two growing
    parts of it before: the reply streamed into the page, it did not appear at once."""
    assert seen and seen[-1] == reply, seen
    partial = [t for t in seen if t and t != reply and reply.startswith(t)]
    assert len(set(partial)) >= 2, f"no progressive states before the end: {seen}"
    # Growing, never shrinking.
    assert partial == sorted(partial, key=len), partial


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
class AppProcess:
    """``streamlit run app.py`` on a fixed port with a fixed environment. It can be stopped, or
    killed and started again: a crash and a restart on the same database, at the same URL."""

    port: int
    env: dict[str, str]
    #: The app's output, over all its starts.
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The process id of the running app."""
        assert self.popen is not None and self.popen.poll() is None, "the app is not running"
        return self.popen.pid

    def start(self) -> None:
        """Start the app and wait until it answers.

        Raises:
            RuntimeError: it exited or did not answer in time; the message ends with its log.
        """
        assert self.popen is None or self.popen.poll() is not None, "the app is running already"
        with self.log.open("ab") as out:  # the child keeps its own copy of the file
            self.popen = subprocess.Popen(
                serve.streamlit_command(self.port),
                cwd=REPO_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        serve.wait_healthy(self.url, self.popen, self.log)

    def kill(self) -> None:
        """SIGKILL the app: it gets no chance to store or clean up anything. The command runs
        Python itself, with no shell or wrapper in between, so this is the process that owns
        the turns."""
        pid = self.pid
        os.kill(pid, signal.SIGKILL)
        assert self.popen is not None
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.popen is not None:
            serve.stop(self.popen)


@dataclass
class AppServer:
    """The app under ``streamlit run``, its database file and its (fake) model server."""

    process: AppProcess
    database_url: str
    llm: FakeOpenAIServer
    demo: Demo
    page_loads: int = 0

    @property
    def url(self) -> str:
        return self.process.url

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

    def stored(
        self, user_id: str, session_id: str
    ) -> tuple[list[MessageRecord], list[TurnSummary]]:
        """The session's stored messages and turns, in order."""

        async def read(db: DatabaseInterface) -> tuple[list[MessageRecord], list[TurnSummary]]:
            context = await db.get_context(user_id, session_id, message_limit=None)
            assert context is not None, f"no stored session {session_id} of {user_id}"
            return context.messages, await db.list_turns(session_id)

        return self.db_call(read)


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


def to_top(element: Locator) -> None:
    """Scroll ``element`` to the top of the page, below Streamlit's header."""
    element.evaluate(
        "e => { e.style.scrollMarginTop = '70px'; e.scrollIntoView({block: 'start'}); }"
    )
