"""Importing a bundle on the Sessions page in real Chromium: a cut-off file is refused with its
problem and nothing is written; the Coach page's older export is imported, and its session
opens in the inspector; a bundle from a database that numbered its own prompt version 2 goes
in, and the page says which number that version has here.

The app is this test's own: an import adds users the other tests do not expect.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseInterface
from coach.service import CoachService
from coach.sessions.bundles import export_session
from tests.browser.helpers import (
    READY_TIMEOUT_MS,
    AppServer,
    no_exception,
    run_on_database,
    wait_ready,
)
from tests.records import new_introduction

pytestmark = pytest.mark.browser

LEGACY = Path(__file__).parents[1] / "engine" / "data" / "session-export-v1.json"


def upload(page: Page, path: Path) -> None:
    dropzone = page.get_by_test_id("stFileUploaderDropzone")
    if not dropzone.is_visible():
        page.get_by_text("Import a bundle").click()
    expect(dropzone).to_be_visible()
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(path))
    # The chosen file is listed with its size (a long name is shortened in the middle).
    expect(page.get_by_test_id("stFileUploader")).to_contain_text("KB")
    page.get_by_role("button", name="Import", exact=True).click()
    wait_ready(page)


def test_a_bad_bundle_is_refused_and_a_good_one_opens_in_the_inspector(
    new_app_server: Callable[..., AppServer], page: Page, tmp_path: Path
) -> None:
    app = new_app_server()
    before = app.db_call(lambda db: db.count_records())
    cut = tmp_path / "cut-short.json"
    cut.write_text(LEGACY.read_text()[:5000])
    app.open(page, "/sessions")
    upload(page, cut)
    main = page.get_by_test_id("stMain")
    expect(main.get_by_test_id("stAlertContentWarning")).to_contain_text(
        "cut-short.json cannot be imported: 1 problem. Nothing was written."
    )
    expect(main.get_by_test_id("stCode")).to_contain_text("not JSON")
    assert app.db_call(lambda db: db.count_records()) == before

    app.open(page, "/sessions")
    upload(page, LEGACY)
    expect(main.get_by_test_id("stAlertContentSuccess")).to_contain_text(
        "Imported 1 user(s) and 1 session(s) under new ids", timeout=READY_TIMEOUT_MS
    )
    no_exception(page)
    after = app.db_call(lambda db: db.count_records())
    assert after["sessions"] == before["sessions"] + 1 and after["turns"] == before["turns"] + 10
    page.get_by_role("link", name="Inspect session").click()
    wait_ready(page)
    expect(page.get_by_test_id("stMain")).to_contain_text("Turns")
    no_exception(page)

    other = tmp_path / "other.bundle.json"
    other.write_text(run_on_database(f"sqlite:///{tmp_path / 'other.db'}", pinned_session))
    assert app.db_call(lambda db: new_introduction(db, "MARKER-C", activate=False)) == 2
    app.open(page, "/sessions")
    upload(page, other)
    expect(main.get_by_test_id("stAlertContentSuccess")).to_contain_text(
        "Imported 1 user(s) and 1 session(s) under new ids", timeout=READY_TIMEOUT_MS
    )
    expect(main.get_by_test_id("stAlertContentInfo")).to_contain_text(
        "Prompt version introduction@2 is introduction@3 here"
    )
    no_exception(page)


async def pinned_session(db: DatabaseInterface) -> str:
    """A bundle of a session whose turn used this database's own introduction@2."""
    coach = CoachService(ScriptedLLMClient([{"message": "Hello."}]), db)
    started = await coach.start_session("u1", user_name="Ana")
    await new_introduction(db, "MARKER-A", activate=True)
    assert (await coach.send_message_and_wait("u1", started.session_id, "Hi")).ok
    return (await export_session(db, started.session_id)).to_json()
