"""How the chat shows what a message says: an image in a message is a link the browser does not
fetch, right-to-left text is right-aligned (English stays left), and a reply cut off at the
output token limit says which setting to raise."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, Request, expect

from coach.enums import IdentityCategory, IdentityState
from coach.persistence import DatabaseInterface
from coach.persistence.records import IdentityRecord
from devtools.fake_openai import FakeOpenAIServer, FakeReply
from tests.browser.helpers import (
    READY_TIMEOUT_MS,
    AppServer,
    chat_messages,
    coach_reply,
    send_chat,
    wait_for_reply,
    wait_ready,
)

pytestmark = pytest.mark.browser

#: Port 9 (discard) on loopback: nothing answers, but a request to it would still be made.
REMOTE = "http://127.0.0.1:9/x.png"
USER_REMOTE = "http://127.0.0.1:9/from-the-client.png"
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQ"
    "DwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
IMAGE_REPLY = (
    f"Here is a picture: ![remote picture]({REMOTE}) and an inline one: ![inline pixel]({PIXEL}) "
    "and one by reference: ![referenced picture][pic]\n\n"
    f"[pic]: {REMOTE}?ref\n\nCode stays code: `![x](y)`"
)


def test_images_in_messages_are_links_and_nothing_is_fetched(
    app_server: AppServer, page: Page, llm: FakeOpenAIServer, shoot: Callable[[str], None]
) -> None:
    requested: list[str] = []

    def note(request: Request) -> None:
        requested.append(request.url)

    page.on("request", note)
    app_server.start_session(page, "Picture Sender")
    llm.enqueue(coach_reply(IMAGE_REPLY, chunk_chars=9, chunk_delay=0.02))
    send_chat(page, f"Look at this: ![my picture]({USER_REMOTE})")
    expect(chat_messages(page).filter(has_text="Code stays code")).to_have_count(
        1, timeout=READY_TIMEOUT_MS
    )
    wait_ready(page)
    shoot("chat-image-as-link")
    page.reload()  # and read back from the database
    wait_ready(page)

    reply = chat_messages(page).filter(has_text="Here is a picture:")
    user = chat_messages(page).filter(has_text="Look at this:")
    for message in (reply, user):
        expect(message).to_have_count(1)
        expect(message.locator("img")).to_have_count(0)
    expect(user.get_by_role("link", name="my picture")).to_have_attribute("href", USER_REMOTE)
    expect(reply.get_by_role("link", name="remote picture")).to_have_attribute("href", REMOTE)
    expect(reply.get_by_role("link", name="referenced picture")).to_have_attribute(
        "href", f"{REMOTE}?ref"
    )
    # Streamlit's Markdown keeps no data: address in a link, but the text is there, marked.
    expect(reply).to_contain_text("🖼️ inline pixel")
    expect(reply.locator("code")).to_have_text("![x](y)")
    fetched = [url for url in requested if url.startswith(("http://127.0.0.1:9/", "data:"))]
    assert fetched == [], fetched
    assert page.evaluate("document.querySelectorAll('img[src^=\"data:image/png\"]').length") == 0


ARABIC = "مرحبا، أريد أن أجد من أكون حقا."
ENGLISH_REPLY = "Thank you. Tell me more about who you want to be."
ARABIC_LABEL = "الأب الحاضر"

#: Where the text of a block sits in it: its first and last line boxes against the block.
TEXT_BOX_JS = """(block) => {
  const range = document.createRange();
  range.selectNodeContents(block);
  const text = range.getBoundingClientRect();
  const box = block.getBoundingClientRect();
  return {left: text.left - box.left, right: box.right - text.right, width: box.width};
}"""


def text_box(block: Locator) -> dict[str, float]:
    """How far the block's text is from its left and right edges (px)."""
    return dict(block.evaluate(TEXT_BOX_JS))


def assert_right_aligned(block: Locator) -> None:
    box = text_box(block)
    assert box["right"] < 2 and box["left"] > 20, box


def assert_left_aligned(block: Locator) -> None:
    box = text_box(block)
    assert box["left"] < 2 and box["right"] > 20, box


def test_right_to_left_text_is_right_aligned_and_english_stays_left(
    app_server: AppServer, page: Page, llm: FakeOpenAIServer, shoot: Callable[[str], None]
) -> None:
    user_id, session_id = app_server.start_session(page, "Layla")
    llm.enqueue(coach_reply(ENGLISH_REPLY))
    send_chat(page, ARABIC)
    wait_for_reply(page, ARABIC, ENGLISH_REPLY)
    user = chat_messages(page).filter(has_text=ARABIC)
    reply = chat_messages(page).filter(has_text=ENGLISH_REPLY)
    assert_right_aligned(user.locator("p").first)
    assert_left_aligned(reply.locator("p").first)

    # An identity label in Arabic, in the sidebar's list, is right-aligned too.
    async def save(db: DatabaseInterface) -> None:
        await db.save_identity(
            IdentityRecord(
                user_id=user_id,
                label=ARABIC_LABEL,
                category=IdentityCategory.FAMILIAL_RELATIONS,
                state=IdentityState.ACCEPTED,
            )
        )

    app_server.db_call(save)
    app_server.open(page, f"/?user_id={user_id}&session_id={session_id}")
    label = page.get_by_test_id("stSidebar").locator("li").filter(has_text=ARABIC_LABEL)
    expect(label).to_have_count(1)
    assert_right_aligned(label)
    shoot("chat-right-to-left")

    # What the client types is laid out by its own direction too.
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(ARABIC)
    assert box.evaluate("(e) => getComputedStyle(e).unicodeBidi") == "plaintext"


def test_a_reply_cut_off_at_the_token_limit_names_the_setting_to_raise(
    new_app_server: Callable[..., AppServer], page: Page
) -> None:
    server = new_app_server(max_output_tokens="300")
    server.start_session(page, "Long Talker")
    cut = json.dumps({"message": "Let me tell you everything about", "actions": []})[:40]
    server.llm.enqueue(FakeReply(content=cut, finish_reason="length"))
    send_chat(page, "Tell me everything.")
    error = page.get_by_test_id("stAlert").filter(has_text="could not answer")
    expect(error).to_have_count(1, timeout=READY_TIMEOUT_MS)
    wait_ready(page)
    expect(error).to_contain_text("cut off at the 300-token output limit")
    expect(error).to_contain_text("raise COACH_MAX_OUTPUT_TOKENS (now 300)")
    assert server.llm.last_body.get("max_completion_tokens") == 300, server.llm.last_body
    expect(page.get_by_role("button", name="Retry")).to_be_visible()
