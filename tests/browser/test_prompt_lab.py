"""The Prompts page in real Chromium: edit the introduction prompt, watch the preview change on
the demo session, save, compare with the previous version, activate; then a new client's turn
uses the new version, and the inspector links the turn to it.

The app is this test's own: activating a version would change the prompts of the other tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import (
    READY_TIMEOUT_MS,
    AppServer,
    coach_reply,
    no_exception,
    send_chat,
    wait_for_reply,
    wait_ready,
)

pytestmark = pytest.mark.browser

TITLE = "# Right now: getting started"
NEW_TITLE = "# Right now: LAB-MARKER first steps"


def edit(page: Page, old: str, new: str) -> None:
    """Change the editor's text and leave the field, so the page reruns with it."""
    box = page.get_by_label(re.compile(r"introduction as a prompt file"))
    text = box.input_value()
    assert old in text, old
    box.fill(text.replace(old, new, 1))
    page.get_by_role("heading", name="Preview").click()  # blur: Streamlit sends the value
    wait_ready(page)


def test_edit_preview_save_compare_activate_then_a_turn_uses_it(
    new_app_server: Callable[..., AppServer], page: Page
) -> None:
    app = new_app_server()
    app.open(page, "/prompts?part=introduction")
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="Prompts").first).to_be_visible()
    preview = main.get_by_test_id("stCode").first

    # The preview renders the active version on the demo session: its client is Maya.
    expect(preview).to_contain_text(TITLE)
    expect(preview).to_contain_text("Maya")
    expect(main).to_contain_text("tokens (")

    # A misspelt variable is refused in the preview, naming it; fixed, the preview follows.
    edit(page, "{{ client_name }}", "{{ client_nmae }}")
    expect(main.get_by_test_id("stAlertContentError")).to_contain_text("client_nmae")
    edit(page, "{{ client_nmae }}", "{{ client_name }}")
    edit(page, TITLE, NEW_TITLE)
    expect(preview).to_contain_text("LAB-MARKER first steps")

    # Save as a new version.
    page.get_by_label("What changed and why").fill("a clearer first heading")
    page.get_by_role("button", name="Save as a new version").click()
    wait_ready(page)
    expect(main.get_by_test_id("stAlertContentSuccess")).to_contain_text("saved introduction@2")
    history = main.get_by_test_id("stDataFrame").nth(1)
    expect(history.locator("[role='grid']")).to_have_attribute("aria-rowcount", "3")

    # Compare: version 1 → 2 side by side, the changed line marked on both sides.
    page.get_by_role("tab", name="Compare").click()
    wait_ready(page)
    diff = main.locator("table.diff")
    expect(diff).to_be_visible()
    expect(diff.locator(".diff_chg, .diff_add").filter(has_text="LAB-MARKER")).not_to_have_count(0)
    expect(diff.locator(".diff_chg, .diff_sub").filter(has_text="getting")).not_to_have_count(0)

    # Activate, after confirming.
    page.get_by_role("tab", name="Activate").click()
    wait_ready(page)
    button = page.get_by_role("button", name="Activate version 2")
    expect(button).to_be_disabled()
    page.get_by_text("Yes: new turns of every session").click()
    expect(button).to_be_enabled()
    button.click()
    wait_ready(page)
    expect(main.get_by_test_id("stAlertContentSuccess")).to_contain_text("introduction@2 is active")
    no_exception(page)

    # A new client's first turn (introduction phase) uses version 2.
    user_id, session_id = app.start_session(page, "Lab Tester")
    app.llm.enqueue(coach_reply("Nice to meet you."))
    send_chat(page, "Hello there")
    wait_for_reply(page, "Hello there", "Nice to meet you.")
    _, turns = app.stored(user_id, session_id)
    turn = app.db_call(lambda db: db.get_turn(session_id, turns[-1].seq or 0))
    assert turn is not None
    assert turn.prompt_version == "persona@1+response_format@1+introduction@2"
    assert "LAB-MARKER" in turn.system_prompt

    # The inspector's Turns tab links the turn to the versions it used.
    app.open(page, f"/inspector?session_id={session_id}&tab=Turns")
    entry = main.get_by_test_id("stExpander").filter(has_text="Turn 1").first
    entry.locator("summary").click()
    link = entry.get_by_role("link", name="introduction@2")
    expect(link).to_have_attribute("href", re.compile(r"/prompts\?part=introduction$"))
    with page.context.expect_page() as opened:  # Markdown links open a new tab
        link.click()
    prompts = opened.value
    expect(prompts).to_have_url(
        re.compile(r"/prompts\?part=introduction"), timeout=READY_TIMEOUT_MS
    )
    wait_ready(prompts)
    expect(prompts.get_by_test_id("stMain")).to_contain_text("introduction: history")
