"""The client's name in a real browser: the model's attempt to replace the name given at start
is refused and highlighted under its reply, and a coach changes the name in the inspector."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from devtools.fake_openai import FakeOpenAIServer, FakeReply
from tests.browser.helpers import (
    READY_TIMEOUT_MS,
    AppServer,
    send_chat,
    wait_for_reply,
)

pytestmark = pytest.mark.browser


def test_a_refused_name_change_is_shown_and_a_coach_edits_the_name(
    app_server: AppServer, page: Page, llm: FakeOpenAIServer, shoot: Callable[[str], None]
) -> None:
    user_id, session_id = app_server.start_session(page, "Edge Case")
    renaming = {
        "message": "Thank you, Maya.",
        "actions": [{"type": "save_user_info", "params": {"key": "name", "value": "Maya"}}],
    }
    llm.enqueue(FakeReply(content=json.dumps(renaming)))
    send_chat(page, "I am Riley, I think.")
    wait_for_reply(page, "I am Riley, I think.", "Thank you, Maya.")

    # Right after the reply (not inside it: the reply is the model's text alone).
    refused = page.get_by_test_id("stAlert").filter(has_text="was not saved")
    expect(refused).to_contain_text("The model's name “Maya” was not saved")
    expect(refused).to_contain_text("'Edge Case' was given when the session started")
    shoot("chat-name-refused")

    app_server.open(page, f"/inspector?session_id={session_id}&tab=User")
    expect(
        page.get_by_text("given when the session started; the model cannot change it")
    ).to_be_visible()
    name = page.get_by_label("Name", exact=True)
    expect(name).to_have_value("Edge Case")
    name.fill("Edge Example")
    page.get_by_role("button", name="Save the client's data").click()
    expect(page.get_by_text("The client's data was saved.")).to_be_visible(timeout=READY_TIMEOUT_MS)
    shoot("inspector-edit-client")

    user = app_server.db_call(lambda db: db.get_user(user_id))
    assert user is not None and (user.data["name"], user.data["name_set_by"]) == (
        "Edge Example",
        "coach",
    )
    audit = app_server.db_call(lambda db: db.list_audit_entries(limit=1)).items[0]
    assert (audit.action, audit.detail, audit.target_ids) == (
        "edit_client",
        "edited name",
        [user_id],
    )
