"""The sidebar's navigation on a server's very first page load: the router's titles from the
first paint, never the file names of ``pages/`` (Streamlit's old-style multipage mode runs the
first script run of a process that has a ``pages/`` folder; ``.streamlit/config.toml`` keeps
its menu hidden and ``app.py`` shows the router's)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import REPO_ROOT, AppServer, no_exception, wait_ready

pytestmark = pytest.mark.browser

TITLES = ["Coach", "Sessions", "Session inspector", "Prompts", "Compare", "Evals", "Admin"]
#: What Streamlit's own discovery of ``pages/`` would name the pages (``app`` is the main script).
FILE_NAMES = {"app"} | {p.stem.replace("_", " ") for p in (REPO_ROOT / "pages").glob("*.py")}

#: Installed before any of the page's scripts: records every distinct list of the sidebar
#: navigation's link texts (icons left out), from the first paint on.
RECORD_NAV_JS = """
window.__navSeen = [];
const record = () => {
  const nav = document.querySelector("[data-testid='stSidebarNav']");
  const links = nav === null ? [] : Array.from(nav.querySelectorAll("a")).map(
    (a) => a.textContent.replace(/^[^\\p{L}]+/u, "").trim()
  );
  const key = JSON.stringify(links);
  if (window.__navSeen[window.__navSeen.length - 1] !== key) window.__navSeen.push(key);
};
new MutationObserver(record).observe(
  document, {subtree: true, childList: true, characterData: true}
);
"""


def nav_seen(page: Page) -> list[list[str]]:
    return [json.loads(x) for x in page.evaluate("window.__navSeen")]


@pytest.mark.parametrize("path", ["/", "/inspector"])
def test_the_first_load_of_a_new_server_never_shows_file_names(
    new_app_server: Callable[..., AppServer], page: Page, path: str
) -> None:
    server = new_app_server()
    page.add_init_script(RECORD_NAV_JS)
    page.goto(server.url + path)
    wait_ready(page)
    no_exception(page)
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_role("link")).to_have_count(len(TITLES))
    seen = nav_seen(page)
    assert seen and seen[-1] == TITLES, seen
    shown = {text for links in seen for text in links}
    assert not shown & FILE_NAMES, f"the sidebar showed file names: {seen}"
    assert all(links in ([], TITLES) for links in seen), seen
