"""Coach: chat with the coach, with phase progress and the client's identities alongside."""

from __future__ import annotations

from functools import partial

import streamlit as st

from coach import demo
from coach.prompts.library import describe_pin
from ui import chat, render
from ui.access import page_runtime, workbench

runtime = page_runtime()
db, service = runtime.db, runtime.service
st.session_state.setdefault(chat.PENDING_KEY, None)

user_id = st.query_params.get("user_id")
session_id = st.query_params.get("session_id")

st.title("💬 Coach")
render.offline_model_banner(runtime)

with render.stop_on_error(runtime):
    if session_id:
        owner = runtime.run(db.get_user_id_for_session(session_id))
        if owner is None or (user_id and owner != user_id):
            st.warning(f"Session `{session_id}` was not found for this client; choose another.")
            session_id = None
        else:
            user_id = owner
    if session_id is None and render.database_is_empty(runtime):
        info = render.demo_offer(runtime, key="coach_demo")
        if info is not None:
            chat.open_session(info.user_id, info.session_id)
    with st.expander("Client and session", expanded=session_id is None, icon="👤"):
        chat.session_chooser(runtime, user_id)

if not (user_id and session_id):
    st.stop()

with render.stop_on_error(runtime):
    view = runtime.run(chat.load_chat_view(service, user_id, session_id))
    total = view.context.total_messages if view.context else 0

name = chat.user_name(view.user, user_id)
prompts = describe_pin(view.context.user_data if view.context else {})
st.caption(
    f"Coaching **{render.escape_markdown(name)}** · session `{session_id}` · prompts: {prompts}"
)

with st.sidebar:
    st.subheader("Progress")
    if view.state is not None:
        render.phase_progress(view.state.state)
    st.subheader("Focus identity")
    render.focus_identity(view.focus)
    st.subheader("Identities")
    render.identity_groups(view.identities, focus_id=view.focus.id if view.focus else None)
    st.divider()
    if st.button("New session", key="coach_new_session", icon="➕", width="stretch"):
        with render.stop_on_error(runtime):
            info = runtime.run(workbench(runtime).start_session(user_id))
        chat.open_session(info.user_id, info.session_id)
    if demo.is_demo(view.context):
        copied = render.demo_copy_offer(runtime, session_id, key="coach_demo_copy")
        if copied is not None:
            chat.open_session(copied.user_id, copied.session_id)

    st.download_button(
        "Export session (bundle)",
        data=partial(chat.export_json, runtime, session_id),
        file_name=f"coach-session-{session_id[:8]}.bundle.json",
        mime="application/json",
        on_click="ignore",
        icon="⬇️",
        width="stretch",
    )
    st.page_link(
        "pages/inspector.py",
        label="Open in the inspector",
        icon="🔎",
        query_params={"session_id": session_id},
    )

chat.conversation(view, session_id, total=total)

# No max_chars on the box: the widget drops a longer paste without a word. The limit is
# checked on sending, and a refused message is shown to copy.
text = st.chat_input(
    f"Message the coach (up to {runtime.settings.max_message_chars:,} characters)",
    key="coach_input",
    submit_mode="disable",
)
if text is not None:
    chat.queue_message(text, session_id, runtime.settings.max_message_chars)
chat.hand_over_pending(runtime, user_id, session_id)
# The session's turns in progress (sent from here, another tab or before a reload), live.
chat.follow_turns(runtime, view, session_id)
