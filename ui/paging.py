"""Server-side paging with keyset cursors: a stack of the cursors of the pages visited.

``stack[-1]`` is the cursor of the page shown (``None`` for the first page). Next pushes the
page's ``next_cursor``; Previous pops. A change of the filters (``signature``) starts again from
the first page. The stack lives in ``st.session_state`` and is replaced, never mutated.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import streamlit as st


def current_cursor(key: str, signature: Hashable, *, forget: Sequence[str] = ()) -> str | None:
    """The cursor of the page to show; back to the first page when the filters changed.

    Args:
        forget: widget keys (a table's selection) to reset when the filters change.
    """
    state = st.session_state.get(key)
    if not state or state["signature"] != signature:
        if state:
            for widget_key in forget:
                st.session_state.pop(widget_key, None)
        state = {"signature": signature, "stack": [None]}
        st.session_state[key] = state
    cursor: str | None = state["stack"][-1]
    return cursor


def page_number(key: str) -> int:
    return len(st.session_state[key]["stack"])


def _move(key: str, cursor: str | None, forget: Sequence[str]) -> None:
    state = st.session_state[key]
    stack = state["stack"]
    stack = [*stack, cursor] if cursor is not None else stack[:-1] or [None]
    st.session_state[key] = {**state, "stack": stack}
    for widget_key in forget:  # a selection made on another page means nothing here
        st.session_state.pop(widget_key, None)


def pager(key: str, next_cursor: str | None, *, forget: Sequence[str] = ()) -> None:
    """Previous / Next buttons for the paged list ``key``.

    Args:
        forget: widget keys (a table's selection) to reset when the page changes.
    """
    number = page_number(key)
    previous, following, label = st.columns([1, 1, 4], vertical_alignment="center")
    previous.button(
        "◀ Previous",
        key=f"{key}_previous",
        disabled=number <= 1,
        on_click=_move,
        args=(key, None, forget),
    )
    following.button(
        "Next ▶",
        key=f"{key}_next",
        disabled=next_cursor is None,
        on_click=_move,
        args=(key, next_cursor, forget),
    )
    label.caption(f"Page {number}" + ("" if next_cursor else " (last)"))


def page_picker(label: str, total: int, per_page: int, key: str) -> int:
    """A page number input; returns the 0-based index of the first item of the page."""
    pages = max(1, math.ceil(total / per_page))
    if pages == 1:
        return 0
    number = st.number_input(f"{label} page (of {pages})", 1, pages, pages, key=key)
    return (int(number) - 1) * per_page
