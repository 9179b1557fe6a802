"""Sessions: users and sessions as tables, with search, filters and server-side paging.

A session's "Open" button opens it in the inspector (``/inspector?session_id=…``).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from coach.enums import CoachingState
from coach.inspection import activity_bounds, phase_label, phase_number
from coach.models import PHASE_ORDER
from ui import bundles, render
from ui.access import page_runtime
from ui.paging import current_cursor, pager
from ui.tables import TIME_FORMAT, sessions_table, toolbar_room

runtime = page_runtime()
db = runtime.db
st.session_state.setdefault("users_pages", None)
st.session_state.setdefault("sessions_pages", None)

st.title("🗂️ Sessions")

with render.stop_on_error(runtime):
    counts = runtime.run(db.count_records())
columns = st.columns(5)
for column, name in zip(
    columns, ("users", "sessions", "messages", "identities", "turns"), strict=True
):
    column.metric(name.capitalize(), f"{counts.get(name, 0):,}")

with st.expander("Import a bundle", icon="📥"):
    bundles.import_form(runtime)

if counts.get("users", 0) == 0:
    info = render.demo_offer(runtime, key="sessions_demo")
    if info is not None:
        st.switch_page("pages/inspector.py", query_params={"session_id": info.session_id})
    st.stop()

page_size = st.sidebar.selectbox("Rows per page", [25, 50, 100, 200], index=1, key="page_size")

# --- users ------------------------------------------------------------------------------------
st.subheader("Users")
user_search = st.text_input(
    "Search users", key="user_search", placeholder="Name or id starts with…"
)
with render.stop_on_error(runtime):
    cursor = current_cursor("users_pages", (user_search, page_size), forget=["users_table"])
    users = runtime.run(
        db.list_users(search=user_search.strip() or None, limit=page_size, cursor=cursor)
    )
users_frame = pd.DataFrame(
    [
        {
            "name": u.name or "",
            "sessions": u.session_count,
            "created": u.created_at,
            "last activity": u.last_activity_at,
            "id": u.id,
        }
        for u in users.items
    ],
    columns=["name", "sessions", "created", "last activity", "id"],
)
toolbar_room()
picked_user = st.dataframe(
    users_frame,
    key="users_table",
    on_select="rerun",
    selection_mode="single-row",
    hide_index=True,
    width="stretch",
    column_config={
        "created": st.column_config.DatetimeColumn("created", format=TIME_FORMAT),
        "last activity": st.column_config.DatetimeColumn("last activity", format=TIME_FORMAT),
    },
)
pager("users_pages", users.next_cursor, forget=["users_table"])
rows = picked_user.selection.rows
selected_user = users.items[rows[0]] if rows and rows[0] < len(users.items) else None

# --- sessions ---------------------------------------------------------------------------------
st.subheader("Sessions")
if selected_user is not None:
    st.caption(
        f"Sessions of **{render.escape_markdown(selected_user.name or selected_user.id)}** "
        "(clear the selection in the users table to see everyone's)."
    )
search_column, phase_column, dates_column = st.columns([2, 1, 1])
session_search = search_column.text_input(
    "Search sessions",
    key="session_search",
    placeholder="Client name, session or user id starts with…",
)
phase: CoachingState | None = phase_column.selectbox(
    "Phase",
    [None, *PHASE_ORDER],
    format_func=lambda p: "All phases" if p is None else f"{phase_number(p)}. {phase_label(p)}",
    key="session_phase",
)
dates = dates_column.date_input("Last active between", value=[], key="session_dates")
start = dates[0] if len(dates) > 0 else None
end = dates[1] if len(dates) > 1 else start
after, before = activity_bounds(start, end)

signature = (
    selected_user.id if selected_user else None,
    session_search,
    phase,
    str(after),
    str(before),
    page_size,
)
with render.stop_on_error(runtime):
    cursor = current_cursor("sessions_pages", signature)
    sessions = runtime.run(
        db.list_sessions(
            user_id=selected_user.id if selected_user else None,
            state=phase,
            active_after=after,
            active_before=before,
            search=session_search.strip() or None,
            limit=page_size,
            cursor=cursor,
        )
    )
toolbar_room()
sessions_table(runtime, sessions.items, key="sessions_table")
pager("sessions_pages", sessions.next_cursor)
