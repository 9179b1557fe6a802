"""Importing a bundle on the Sessions page in real Chromium: a cut-off file is refused with its
problem and nothing is written; the Coach page's older export is imported, and its session
opens in the inspector.

The app is this test's own: an import adds users the other tests do not expect.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import READY_TIMEOUT_MS, AppServer, no_exception, wait_ready

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
