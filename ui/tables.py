"""Tables shared by the pages: sessions as rows, each with a link that opens it in the inspector."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from coach.inspection import phase_label, phase_number
from coach.persistence.records import SessionSummary

#: Minutes are enough in tables; the full times are in the inspector.
TIME_FORMAT = "YYYY-MM-DD HH:mm"

_SESSION_COLUMNS = [
    "session",
    "user",
    "phase",
    "messages",
    "turns",
    "created",
    "last activity",
    "inspect",
]


def sessions_frame(sessions: Sequence[SessionSummary]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "session": s.session_id,
                "user": s.user_id,
                "phase": f"{phase_number(s.state)}. {phase_label(s.state)}" if s.state else "—",
                "messages": s.message_count,
                "turns": s.turn_count,
                "created": s.created_at,
                "last activity": s.last_activity_at,
                "inspect": f"inspector?session_id={s.session_id}",
            }
            for s in sessions
        ],
        columns=_SESSION_COLUMNS,
    )


def sessions_table(
    sessions: Sequence[SessionSummary], *, key: str, selectable: bool = False
) -> Any:
    """The sessions as a table with an "Open ↗" link each; with ``selectable``, one row can be
    selected (the return value's ``selection.rows``)."""
    return st.dataframe(
        sessions_frame(sessions),
        key=key,
        on_select="rerun" if selectable else "ignore",
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        # Narrow id columns (cut off, full on hover) so the whole row fits without scrolling.
        column_config={
            "session": st.column_config.TextColumn("session", width="medium"),
            "user": st.column_config.TextColumn("user", width="small"),
            "created": st.column_config.DatetimeColumn("created", format=TIME_FORMAT),
            "last activity": st.column_config.DatetimeColumn("last activity", format=TIME_FORMAT),
            "inspect": st.column_config.LinkColumn("inspect", display_text="Open ↗"),
        },
    )
