"""Tables shared by the pages: sessions as rows, each with a link that opens it in the inspector."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from coach import costs
from coach.costs import Priced
from coach.inspection import phase_label, phase_number
from coach.persistence.records import SessionSummary
from ui.app_runtime import AppRuntime

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
    "cost",
    "inspect",
]


def session_costs(runtime: AppRuntime, sessions: Sequence[SessionSummary]) -> dict[str, Priced]:
    """What each session's turns cost (a session without turns: nothing)."""
    usage = runtime.run(runtime.db.list_model_usage([s.session_id for s in sessions]))
    return costs.session_costs(runtime.settings.model_prices, usage)


def sessions_frame(
    sessions: Sequence[SessionSummary], costs: Mapping[str, Priced] | None = None
) -> pd.DataFrame:
    free = Priced()
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
                "cost": (costs or {}).get(s.session_id, free).short(),
                "inspect": f"inspector?session_id={s.session_id}",
            }
            for s in sessions
        ],
        columns=_SESSION_COLUMNS,
    )


def sessions_table(
    runtime: AppRuntime,
    sessions: Sequence[SessionSummary],
    *,
    key: str,
    selectable: bool = False,
) -> Any:
    """The sessions as a table with their cost and an "Open ↗" link each; with
    ``selectable``, one row can be selected (the return value's ``selection.rows``)."""
    return st.dataframe(
        sessions_frame(sessions, session_costs(runtime, sessions)),
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
