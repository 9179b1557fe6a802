"""Tables shared by the pages: sessions as rows, each with its client and an "Open" button that
opens it in the inspector, in this tab, in one click; and the long texts of a table, whole."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd
import streamlit as st

from coach import costs
from coach.costs import Priced
from coach.inspection import phase_label, phase_number
from coach.persistence.records import SessionSummary
from ui.app_runtime import AppRuntime
from ui.render import escape_markdown

#: Minutes are enough in tables; the full times are in the inspector.
TIME_FORMAT = "YYYY-MM-DD HH:mm"
#: Characters of a user id shown next to the client's name.
SHORT_ID_LENGTH = 8
#: Streamlit shows a table's toolbar (search, download, full screen) over the 44 px above the
#: table while the pointer is on it, and on a phone after a tap, until the next tap elsewhere.
#: With this room (plus the usual 16 px gaps) an input above a table stays uncovered.
TOOLBAR_ROOM_PX = 20

_SESSION_COLUMNS = [
    "open",
    "client",
    "user",
    "session",
    "phase",
    "messages",
    "turns",
    "created",
    "last activity",
    "cost",
]


def toolbar_room() -> None:
    """Room for the toolbar of the table that follows (see ``TOOLBAR_ROOM_PX``)."""
    st.space(TOOLBAR_ROOM_PX)


def short_ids(ids: Iterable[str], *, length: int = SHORT_ID_LENGTH) -> dict[str, str]:
    """Each id as its first ``length`` characters, or more where two of ``ids`` start alike:
    the shortest start of each id that no other id shares, with "…" when it is cut."""
    distinct = sorted(set(ids))
    shown: dict[str, str] = {}
    for i, user_id in enumerate(distinct):
        # In sorted order, the id sharing the longest start with this one is a neighbour.
        neighbours = distinct[max(0, i - 1) : i] + distinct[i + 1 : i + 2]
        shared = max((_shared_start(user_id, other) for other in neighbours), default=0)
        cut = user_id[: max(length, shared + 1)]
        shown[user_id] = cut if cut == user_id else f"{cut}…"
    return shown


def _shared_start(a: str, b: str) -> int:
    """How many characters ``a`` and ``b`` have in common at their start."""
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def session_costs(runtime: AppRuntime, sessions: Sequence[SessionSummary]) -> dict[str, Priced]:
    """What each session's turns cost (a session without turns: nothing)."""
    usage = runtime.run(runtime.db.list_model_usage([s.session_id for s in sessions]))
    return costs.session_costs(runtime.settings.model_prices, usage)


def sessions_frame(
    sessions: Sequence[SessionSummary], costs: Mapping[str, Priced] | None = None
) -> pd.DataFrame:
    free = Priced()
    users = short_ids(s.user_id for s in sessions)
    return pd.DataFrame(
        [
            {
                "open": "Open",
                "client": s.user_name or "—",
                "user": users[s.user_id],
                "session": s.session_id,
                "phase": f"{phase_number(s.state)}. {phase_label(s.state)}" if s.state else "—",
                "messages": s.message_count,
                "turns": s.turn_count,
                "created": s.created_at,
                "last activity": s.last_activity_at,
                "cost": (costs or {}).get(s.session_id, free).short(),
            }
            for s in sessions
        ],
        columns=_SESSION_COLUMNS,
    )


def sessions_table(runtime: AppRuntime, sessions: Sequence[SessionSummary], *, key: str) -> None:
    """The sessions as a table with their client and cost. Each row's "Open" button opens the
    session in the inspector (``/inspector?session_id=…``), in this tab, in one click.

    A link column could not do this: its links open a new tab, and only on a second click (the
    first selects the cell).
    """
    open_key = f"{key}_open"
    st.dataframe(
        sessions_frame(sessions, session_costs(runtime, sessions)),
        key=key,
        hide_index=True,
        width="stretch",
        # Narrow id columns (cut off, full on hover) so the whole row fits without scrolling.
        column_config={
            "open": st.column_config.ButtonColumn(
                "", key=open_key, pinned=True, help="Open the session in the inspector"
            ),
            "client": st.column_config.TextColumn("client", help="The client's name"),
            "user": st.column_config.TextColumn(
                "user",
                help="The start of the client's user id: two clients of the same name differ "
                "here. Search for it to see only their sessions.",
            ),
            "session": st.column_config.TextColumn("session", width="medium"),
            "created": st.column_config.DatetimeColumn("created", format=TIME_FORMAT),
            "last activity": st.column_config.DatetimeColumn("last activity", format=TIME_FORMAT),
        },
    )
    clicked = st.session_state.get(open_key)  # set only in the run that the click started
    if clicked is not None and clicked.row < len(sessions):
        chosen = sessions[clicked.row].session_id
        st.switch_page("pages/inspector.py", query_params={"session_id": chosen})


# --- long texts, whole --------------------------------------------------------------------------

#: A text longer than this is cut off with "…" in a table column of the usual width.
CUT_OFF_AT = 40
#: Rows whose long texts are shown whole under a table, a page at a time.
WHOLE_ROWS_PER_PAGE = 10
#: Cells that name a row above its long texts: at most this many, each at most this long.
_NAME_CELLS, _NAME_CELL_LENGTH = 3, 60


def whole_texts(
    rows: Sequence[Mapping[str, object]], columns: Sequence[str], *, key: str | None = None
) -> None:
    """Under a table of ``rows``: each row whose text in one of ``columns`` is too long for its
    cell, named by its first short cells, with those texts whole and wrapped (a table draws its
    cells on a canvas, one line each, and cuts a long text off with "…").

    With ``key``, more than ``WHOLE_ROWS_PER_PAGE`` such rows are paged (a number input keyed
    ``<key>_whole_page``); without, the first ones are shown and the others counted.
    """
    long = [(row, _long_texts(row, columns)) for row in rows]
    long = [(row, texts) for row, texts in long if texts]
    if not long:
        return
    pages = math.ceil(len(long) / WHOLE_ROWS_PER_PAGE)
    start = 0
    if pages > 1 and key is not None:
        number = st.number_input(
            f"Long texts in full, page (of {pages})", 1, pages, 1, key=f"{key}_whole_page"
        )
        start = (int(number) - 1) * WHOLE_ROWS_PER_PAGE
    shown = long[start : start + WHOLE_ROWS_PER_PAGE]
    for row, texts in shown:
        lines = [f"**{escape_markdown(_row_name(row, columns))}**"]
        lines += [f"*{column}:* {_whole(text)}" for column, text in texts.items()]
        st.markdown("  \n".join(lines))
    if key is None and len(long) > len(shown):
        st.caption(f"{len(long) - len(shown)} more rows have texts longer than their cells.")


def _long_texts(row: Mapping[str, object], columns: Sequence[str]) -> dict[str, str]:
    return {
        column: text
        for column in columns
        if isinstance(text := row.get(column), str) and len(text) > CUT_OFF_AT
    }


def _row_name(row: Mapping[str, object], columns: Sequence[str]) -> str:
    """The row's short cells before its first long-text column ("turn 3 · rejected")."""
    parts: list[str] = []
    for column, value in row.items():
        if column in columns or len(parts) == _NAME_CELLS:
            break
        if isinstance(value, bool) or not isinstance(value, int | str):
            continue  # times and the like name nothing
        text = f"{column} {value}" if isinstance(value, int) else value
        if text and len(text) <= _NAME_CELL_LENGTH:
            parts.append(text)
    return " · ".join(parts) or "row"


def _whole(text: str) -> str:
    """Literal text as Markdown, its line breaks kept."""
    return escape_markdown(text).replace("\n", "  \n")


#: Columns of the inspector's tables whose texts run long (reasons of refused phase changes and
#: rejected actions, what an action changed, a diff's values): shown whole under the table too.
WHOLE_TEXT_COLUMNS = ("reason", "change", "before", "after")


def table(rows: list[dict[str, object]], *, key: str | None = None) -> None:
    """Records as a table, with their long texts (``WHOLE_TEXT_COLUMNS``) whole under it."""
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key=key)
    columns = [c for c in WHOLE_TEXT_COLUMNS if rows and c in rows[0]]
    whole_texts(rows, columns, key=key)
