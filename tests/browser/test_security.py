"""Text from the client or the model is shown as text: no HTML from a message ever runs."""

from __future__ import annotations

import pytest
from playwright.sync_api import Dialog, Page, expect

from devtools.fake_openai import FakeOpenAIServer
from tests.browser.helpers import (
    AppServer,
    chat_messages,
    coach_reply,
    message_text,
    send_chat,
    wait_ready,
)

pytestmark = pytest.mark.browser

SCRIPT = "<script>window.__pwned = 1</script>"
IMAGE = '<img src=x onerror="window.__pwned = 2">'
ATTACK = f"Hello {SCRIPT} and {IMAGE} bye"
MODEL_ATTACK = "Noted. <script>window.__pwned = 3</script><img src=y onerror=\"alert('x')\"> ok"

#: Elements that a message would have added had its HTML been rendered.
INJECTED_JS = """() => ({
  scripts: [...document.querySelectorAll("script")]
    .filter((s) => s.textContent.includes("__pwned")).length,
  images: document.querySelectorAll("img[onerror], img[src='x'], img[src='y']").length,
  pwned: typeof window.__pwned,
})"""


def test_html_in_messages_is_shown_as_text_and_runs_nothing(
    app_server: AppServer, page: Page, llm: FakeOpenAIServer
) -> None:
    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    app_server.start_session(page, "Mallory")
    llm.enqueue(coach_reply(MODEL_ATTACK, chunk_chars=7, chunk_delay=0.02))
    send_chat(page, ATTACK)
    reply = chat_messages(page).filter(has_text="Noted.")
    expect(reply).to_have_count(1, timeout=90_000)
    wait_ready(page)

    user = chat_messages(page).filter(has_text="Hello")
    expect(user).to_have_count(1)
    # Shown literally, tags and all.
    assert message_text(user) == ATTACK
    assert message_text(reply) == MODEL_ATTACK
    assert page.evaluate(INJECTED_JS) == {"scripts": 0, "images": 0, "pwned": "undefined"}

    # Read back from the database after a reload, and in the inspector, it is still only text.
    page.reload()
    wait_ready(page)
    expect(chat_messages(page).filter(has_text="Hello")).to_have_count(1)
    assert page.evaluate(INJECTED_JS) == {"scripts": 0, "images": 0, "pwned": "undefined"}
    session_id = page.url.split("session_id=")[1].split("&")[0]
    app_server.open(page, f"/inspector?session_id={session_id}")
    for tab in ("Context", "Turns", "Prompt"):
        page.get_by_role("tab", name=tab).click()
    expect(page.get_by_role("tabpanel", name="Prompt")).to_contain_text("window.__pwned")
    assert page.evaluate(INJECTED_JS) == {"scripts": 0, "images": 0, "pwned": "undefined"}
    assert dialogs == []
