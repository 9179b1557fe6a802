"""Session inspector: every stored record of one session (``/inspector?session_id=…``)."""

from __future__ import annotations

import streamlit as st

from coach.inspection import load_session_view, phase_label
from ui import inspector, lineage, render
from ui.access import page_runtime
from ui.chat import when
from ui.routing import tab_in_url

runtime = page_runtime()
db = runtime.db
st.session_state.setdefault(inspector.FLASH_KEY, None)

st.title("🔎 Session inspector")
if st.session_state[inspector.FLASH_KEY]:
    st.success(st.session_state[inspector.FLASH_KEY], icon="🗑️")
    st.session_state[inspector.FLASH_KEY] = None

session_id = st.query_params.get("session_id")
view = None
if session_id:
    with render.stop_on_error(runtime):
        view = runtime.run(load_session_view(db, session_id))
    if view is None:
        st.warning(f"No session has the id `{session_id}`. It may have been deleted.")

if view is None:
    with render.stop_on_error(runtime):
        recent = runtime.run(db.list_sessions(limit=50)).items
    if not recent:
        st.info("There are no sessions yet. Chat with the coach or load the demo data first.")
        st.page_link("pages/coach.py", label="Go to the coach", icon="💬")
        st.stop()
    labels = {
        s.session_id: f"{s.session_id[:8]} · user {s.user_id[:8]} · {phase_label(s.state)} · "
        f"{s.message_count} messages · {when(s.last_activity_at)}"
        for s in recent
    }
    picked = st.selectbox(
        "Session (most recently active first)",
        list(labels),
        format_func=labels.__getitem__,
        key="pick",
    )
    typed = st.text_input("…or paste a session id", key="typed_session_id")
    if st.button("Open", type="primary", key="open_session"):
        st.query_params["session_id"] = typed.strip() or picked or ""
        st.rerun()
    st.page_link("pages/sessions.py", label="Browse all sessions", icon="🗂️")
    st.stop()

inspector.header(runtime, view)
lineage.follow_making(runtime)
lineage.lineage(runtime, view.session_id)
with st.container(horizontal=True, gap="medium"):  # one line, on a phone too
    st.page_link(
        "pages/coach.py",
        label="Continue in the coach",
        icon="💬",
        query_params={"user_id": view.user_id, "session_id": view.session_id},
    )
    st.page_link("pages/sessions.py", label="Back to sessions", icon="🗂️")

# Only the open tab runs (a long session's turn log is heavy to draw), and the open tab is part
# of the deep link (/inspector?session_id=…&tab=Turns) and of the browser's history: Back
# returns to the tab open before.
tab_in_url("tab", list(inspector.TABS), what="tab")
tabs = st.tabs(list(inspector.TABS), key="tab", on_change="rerun")
for draw, container in zip(inspector.TABS.values(), tabs, strict=True):
    if container.open:
        with container:
            draw(runtime, view)

with st.expander("Replay this session into a new one", icon="🔁"):
    lineage.replay_controls(runtime, view.session_id)

with st.expander("Make an eval scenario from this session", icon="📏"):
    lineage.make_scenario(runtime, view.session_id, view.summary.turn_count)

with st.expander("Delete", icon="🗑️"):
    inspector.delete_controls(runtime, view)
