"""Every page runs through the router, ``app.py``, even on a deep link to a fresh server.

Streamlit treats a ``pages/`` folder beside the main script as an old-style multipage app until
some script run calls ``st.navigation``. So after each server start, until someone opens ``/``,
a deep link such as ``/inspector?session_id=…`` runs the page file alone, without ``app.py``: no
page config and no settings check (the file names it would show as the navigation are hidden by
``client.showSidebarNavigation = false`` in ``.streamlit/config.toml``). ``st.navigation`` turns
that mode off for the whole process by clearing ``PagesManager.uses_pages_directory``; a page
that finds it still set does the same and, on the browser session's first run, reruns. The
rerun goes through ``app.py`` and keeps the URL (the page is found by its ``url_path``, which is
its file name). A later run is not rerun: that would drop the click that started it.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

_SEEN_KEY = "router_seen"


def require_router() -> None:
    """Rerun through ``app.py`` when this page was run on its own; call it first on a page."""
    first_run = not st.session_state.get(_SEEN_KEY, False)
    st.session_state[_SEEN_KEY] = True
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        if first_run:
            st.rerun()


def known_choice(param: str, choices: Sequence[str], *, what: str) -> None:
    """Read ``?param=`` (a tab bound to the URL, keyed ``param``) as one of ``choices``,
    case-insensitively; one that is none of them is said so (the first opens), never silently
    replaced. Call it before the widget bound to ``param``: it sets the widget's value, which
    the URL follows (a bound parameter cannot be written directly)."""
    asked = st.query_params.get(param)
    if asked is None or asked in choices:
        return
    found = _matching(asked, choices)
    st.session_state[param] = found or choices[0]
    if found is None:
        _say_unknown(asked, choices, what=what)


def _matching(asked: str, choices: Sequence[str]) -> str | None:
    """The choice ``asked`` names, in any case; ``None`` when it names none."""
    return next((c for c in choices if c.casefold() == asked.strip().casefold()), None)


def _say_unknown(asked: str, choices: Sequence[str], *, what: str) -> None:
    st.warning(
        f"There is no {what} {asked!r}; the {what}s are {', '.join(choices)}. "
        f"{choices[0]} is open.",
        icon="🧭",
    )


def tab_in_url(param: str, choices: Sequence[str], *, what: str) -> None:
    """Keep the tabs keyed ``param`` (``st.tabs(..., key=param, on_change="rerun")``) and
    ``?param=`` in step, one browser history entry per tab change. Call it before the tabs.

    A link, Back or Forward changes the URL: its tab opens, matched case-insensitively; one
    that is none of ``choices`` is said so (the first opens), never silently replaced. A click
    on a tab changes the widget: the URL follows, written through ``st.query_params``, which
    adds a history entry, so Back shows the tab open before. Tabs bound to the URL
    (``bind="query-params"``) would keep it in step too, but replace the entry: Back then
    skipped every tab change and left the page.

    The ``?param=`` value this function last saw or wrote is kept in the session: it tells a
    changed URL from a changed tab.
    """
    seen_key = f"url_seen_{param}"
    raw = st.query_params.get(param, "")
    found = _matching(raw, choices)
    asked = found or choices[0]
    shown = st.session_state.get(param)
    if raw == st.session_state.get(seen_key) and shown in choices and shown != asked:
        st.query_params[param] = shown
        st.session_state[seen_key] = shown
        return
    if raw and found is None and raw != st.session_state.get(seen_key):
        _say_unknown(raw, choices, what=what)
    st.session_state[param] = asked
    st.session_state[seen_key] = raw
