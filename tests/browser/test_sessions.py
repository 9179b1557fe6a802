"""The Sessions page: find a session by its client's name, open it with one click in this tab,
and on a phone, the search boxes stay clear of the tables' toolbars."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, expect

from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseInterface
from coach.service import CoachService, StartedSession
from tests.browser.helpers import (
    READY_TIMEOUT_MS,
    ROW_HEIGHT,
    AppServer,
    metric,
    no_exception,
    to_top,
    wait_ready,
)

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
#: The inputs of the page's filters, as Streamlit marks their widgets.
INPUTS = "[data-testid='stTextInput'], [data-testid='stDateInput']"


def start_sessions(app_server: AppServer, *names: str) -> list[StartedSession]:
    """A new client of each name, each with a session, started as the Coach page starts one."""

    async def start(db: DatabaseInterface) -> list[StartedSession]:
        service = CoachService(ScriptedLLMClient(), db)
        return [await service.start_session(user_name=name) for name in names]

    return app_server.db_call(start)


def search_sessions(page: Page, text: str) -> Locator:
    """Search the sessions for ``text``; return the sessions table."""
    search = page.get_by_label("Search sessions")
    search.fill(text)
    search.press("Enter")
    wait_ready(page)
    tables = page.get_by_test_id("stDataFrame")
    expect(tables).to_have_count(2)  # users, then sessions
    return tables.nth(1)


def rows_shown(table: Locator) -> Locator:
    """The table's accessible row count attribute (rows plus the header)."""
    return table.locator("[role='grid']")


def click_open(table: Locator, row: int) -> None:
    """Click the "Open" button of row ``row`` (0-based): the first column, drawn on a canvas."""
    cells = table.locator("[role='row']").nth(row + 1).locator("[role='gridcell']")
    expect(cells.first).to_have_text("Open")
    table.click(position={"x": 32, "y": (row + 1) * ROW_HEIGHT + ROW_HEIGHT // 2})


def test_a_session_found_by_its_clients_name_opens_with_one_click_in_this_tab(
    app_server: AppServer, page: Page, shoot: Callable[[str], None]
) -> None:
    first, second = start_sessions(app_server, "Quillon Vasquez", "Quillon Vasquez")
    app_server.open(page, "/sessions")
    sessions = search_sessions(page, "quillon v")
    expect(rows_shown(sessions)).to_have_attribute("aria-rowcount", "3")
    # The namesakes are told apart by the start of their user ids, newest first.
    for row, started in enumerate((second, first)):
        cells = sessions.locator("[role='row']").nth(row + 1).locator("[role='gridcell']")
        expect(cells.nth(1)).to_have_text("Quillon Vasquez")
        expect(cells.nth(2)).to_have_text(f"{started.user_id[:8]}…")
    to_top(page.get_by_role("heading", name="Sessions", exact=True))
    shoot("sessions-search-by-name")

    opened: list[Page] = []
    page.context.on("page", lambda new_tab: opened.append(new_tab))
    click_open(sessions, 1)
    expect(page).to_have_url(
        re.compile(rf"/inspector\?session_id={first.session_id}$"), timeout=READY_TIMEOUT_MS
    )
    wait_ready(page)
    no_exception(page)
    expect(page.get_by_test_id("stMain")).to_contain_text(f"Session {first.session_id}")
    assert opened == [], "the session opened in another tab"


def test_opening_the_demo_session_shows_its_records_in_the_inspector(
    app_server: AppServer, page: Page
) -> None:
    demo = app_server.demo
    app_server.open(page, "/sessions")
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="Sessions").first).to_be_visible()
    sessions = search_sessions(page, demo.session_id[:13])
    expect(main).to_contain_text("Page 1 (last)")
    expect(rows_shown(sessions)).to_have_attribute("aria-rowcount", "2")

    click_open(sessions, 0)
    expect(page).to_have_url(
        re.compile(rf"/inspector\?session_id={demo.session_id}$"), timeout=READY_TIMEOUT_MS
    )
    wait_ready(page)
    expect(main).to_contain_text(f"Session {demo.session_id} of Maya")

    # State: the phase and the focus identity.
    expect(metric(page, "Phase")).to_have_text(["Phase 6 of 6", "Accountability"])
    expect(main).to_contain_text("Focus identity: Creative Visionary")

    # Identities: one expander per identity of the client, with its state.
    page.get_by_role("tab", name="Identities").click()
    panel = page.get_by_role("tabpanel", name="Identities")
    for label in ("Creative Visionary · refined", "Devoted Parent", "Energetic Athlete"):
        expect(panel.get_by_test_id("stExpander").filter(has_text=label)).to_have_count(1)

    # Turns: the turn log, one expander per turn; open one to see what the model was sent.
    page.get_by_role("tab", name="Turns").click()
    panel = page.get_by_role("tabpanel", name="Turns")
    turns = panel.get_by_test_id("stExpander").filter(has_not_text="Difference between")
    expect(turns).to_have_count(10)
    expect(turns.first).to_contain_text("Turn 1 · ok · introduction →")
    # The demo's two refused phase changes are marked in the log, with their reasons inside.
    refused = turns.filter(has_text="phase change refused")
    expect(refused).to_have_count(2)
    refused.first.locator("summary").click()
    expect(refused.first).to_contain_text("(refused: ")
    turn = turns.nth(4)
    turn.locator("summary").click()
    expect(turn.get_by_text("Prompt sent:")).to_be_visible()
    expect(turn.get_by_text("Raw model output")).to_be_visible()


#: What is drawn at each of a grid of points over an element's box: ``true`` where it is the
#: element itself or inside it, else a description of what covers it.
_COVERED_POINTS_JS = """
(element) => {
  const box = element.getBoundingClientRect();
  const covered = [];
  for (const fx of [0.02, 0.25, 0.5, 0.75, 0.98]) {
    for (const fy of [0.1, 0.5, 0.9]) {
      const x = box.left + fx * box.width, y = box.top + fy * box.height;
      const hit = document.elementFromPoint(x, y);
      if (hit === null || !(hit === element || element.contains(hit))) {
        const owner = hit && hit.closest("[data-testid]");
        covered.push(`(${Math.round(x)}, ${Math.round(y)}): ` +
          (owner ? owner.getAttribute("data-testid") : String(hit && hit.tagName)));
      }
    }
  }
  return covered;
}
"""


def test_on_a_phone_no_table_toolbar_covers_the_search_boxes(
    app_server: AppServer, page: Page
) -> None:
    """With a table's toolbar shown (the pointer on the table, or a tap on a phone), every
    input above the table is still drawn on top at every point, and typing into the sessions
    search at its right end (where the toolbar sits) searches."""
    [started] = start_sessions(app_server, "Ysolde Marchetti")
    page.set_viewport_size(PHONE)
    app_server.open(page, "/sessions")
    tables = page.get_by_test_id("stDataFrame")
    expect(tables).to_have_count(2)
    for table in tables.all():
        # The table at the bottom of the screen, the filters above it on screen too.
        table.evaluate("e => e.scrollIntoView({block: 'end'})")
        box = table.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        expect(table.get_by_test_id("stElementToolbar")).to_have_css("opacity", "1")
        checked = 0
        for widget in page.locator(INPUTS).all():
            field = widget.locator("input").first
            place = field.bounding_box()
            if place is None or place["y"] < 60 or place["y"] + place["height"] > PHONE["height"]:
                continue  # off screen, or under Streamlit's header
            checked += 1
            covered = field.evaluate(_COVERED_POINTS_JS)
            assert covered == [], f"{widget.inner_text()!r} is covered at {covered}"
        assert checked, "no input was on screen above the table"

    search = page.get_by_label("Search sessions")
    search.evaluate("e => e.scrollIntoView({block: 'center'})")
    place = search.bounding_box()
    assert place is not None
    page.mouse.click(place["x"] + place["width"] - 6, place["y"] + place["height"] - 6)
    page.keyboard.type("ysolde m")
    page.keyboard.press("Enter")
    wait_ready(page)
    no_exception(page)
    sessions = tables.nth(1)
    expect(rows_shown(sessions)).to_have_attribute("aria-rowcount", "2")
    cells = sessions.locator("[role='row']").nth(1).locator("[role='gridcell']")
    expect(cells.nth(3)).to_have_text(started.session_id)
