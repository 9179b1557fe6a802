"""The session inspector's tabs: State, Context, Identities, Turns, Prompt, User, and the
delete controls. Each record view can be copied as JSON (code blocks have a copy button).

What is shown is derived in ``coach.inspection``; this module only lays it out, one function
per tab. An opened turn is drawn by ``ui.turn_view``, the session's memory (what it carries from
the client's previous session, the summary steps) by ``ui.memory``.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from coach.costs import Priced
from coach.errors import CoachError
from coach.inspection import (
    SessionView,
    chat_parts,
    diff_snapshots,
    identity_history,
    identity_rows,
    latest_window_turn,
    load_turn_exchange,
    load_turn_outlines,
    message_rows,
    phase_label,
    phase_number,
    phase_timeline,
    replay,
    timeline_points,
    turn_rows,
    window_view,
)
from coach.prompts.library import PromptPin, describe_pin
from coach.prompts.store import ACTIVE
from ui import client_edits, experiments, lineage, memory, turn_view
from ui.access import workbench
from ui.app_runtime import AppRuntime
from ui.charts import phase_timeline_chart
from ui.chat import user_name
from ui.paging import current_cursor, page_picker, pager
from ui.render import escape_markdown, json_view, safe_markdown, show_error, stop_on_error
from ui.tables import session_costs, sessions_table, table

MESSAGES_PER_PAGE = 50
TURNS_PER_PAGE = 20
USER_SESSIONS_PER_PAGE = 20
TIMELINE_EVERY_TURN_UP_TO = 200
FLASH_KEY = "inspector_flash"


def header(runtime: AppRuntime, view: SessionView) -> None:
    summary = view.summary
    name = user_name(view.user, view.user_id)
    prompts = describe_pin(view.context.user_data if view.context else {})
    last = summary.last_activity_at
    st.caption(
        f"Session `{view.session_id}` of **{escape_markdown(name)}** (`{view.user_id}`) · "
        f"last active {last.strftime('%Y-%m-%d %H:%M') + ' UTC' if last else '—'} · "
        f"prompts: {prompts}"
    )
    # A row that wraps, each metric as wide as its value: columns stack one under another on a
    # phone, where six metrics filled the first screen and pushed the tabs below it.
    state = view.state.state if view.state else summary.state
    cost = session_costs(runtime, [summary]).get(view.session_id, Priced())
    with st.container(horizontal=True, gap="medium", key="inspector_header"):
        st.metric(
            f"Phase {phase_number(state)} of 6" if state else "Phase",
            phase_label(state) if state else "—",
            width="content",
        )
        st.metric("Messages", summary.message_count, width="content")
        st.metric("Turns", summary.turn_count, width="content")
        st.metric("Identities", len(view.identities), width="content")
        st.metric("Cost", cost.short(), help=cost.describe(), width="content")


def state_tab(runtime: AppRuntime, view: SessionView) -> None:
    focus = next(
        (i for i in view.identities if view.state and i.id == view.state.focus_identity_id), None
    )
    st.markdown(f"**Focus identity:** {escape_markdown(focus.label) if focus else '—'}")
    st.markdown("#### Phases over turns")
    with stop_on_error(runtime):
        turns = runtime.run(load_turn_outlines(runtime.db, view.session_id))
    steps = phase_timeline(turns)
    if steps:
        # A point per turn is noise at thousands of turns (and slow to draw): then only the
        # turns that changed the phase, were refused or failed, and the last one.
        every_turn = len(steps) <= TIMELINE_EVERY_TURN_UP_TO
        points = timeline_points(steps, quiet_turns=every_turn)
        st.altair_chart(phase_timeline_chart(points), width="stretch")
        if not every_turn:
            st.caption(
                f"{len(steps):,} turns: points mark phase changes, refused requests, failures "
                "and the last turn; the table lists every turn."
            )
        table([s.row() for s in steps], key="state_timeline")
    else:
        st.caption("No turns yet.")
    st.markdown("#### Records")
    json_view(view.state, label="State record")
    json_view(view.summary, label="Session summary")


def context_tab(runtime: AppRuntime, view: SessionView) -> None:
    user_data = view.context.user_data if view.context else {}
    summary = user_data.get("summary")
    st.markdown("#### Summary")
    if isinstance(summary, str) and summary:
        safe_markdown(summary)
        st.caption(f"Covers the messages before #{view.summarized_until}.")
    else:
        st.caption("No summary yet: every message still fits the context window.")
    memory.earlier_session(view)
    # Collapsed: the raw records would push the context window and the messages off screen.
    with st.expander("User data and context record as JSON", icon="🧾"):
        json_view(user_data, label="User data (summary and metadata)")
        json_view(view.context, label="Context record (its messages are listed below)")

    st.markdown("#### Context window")
    with stop_on_error(runtime):
        latest = runtime.run(latest_window_turn(runtime.db, view))
    window = None if latest is None else window_view(latest)
    if window is None:
        st.caption("No turn has run yet, so no context window was built.")
    else:
        st.caption(f"What the model saw in turn {window.seq}: {window.total_tokens:,} tokens.")
        parts = window.parts()
        chart, numbers = st.columns([2, 1])
        chart.bar_chart(pd.DataFrame(parts), x="part", y="tokens", horizontal=True, height=180)
        with numbers:
            table(parts, key="context_parts")
        if view.summarized_until:
            st.markdown(
                f"Messages **#0–#{view.summarized_until - 1}** are folded into the summary "
                "(they stay stored; the model sees the summary instead)."
            )
        left_out = (
            f"messages before #{window.folded_until} were left out"
            if window.folded_until
            else "no message was left out"
        )
        st.caption(
            f"In that turn {len(window.included_message_ids)} messages were sent and {left_out}."
        )
        outcome = window.summary
        if outcome.get("error"):
            st.warning(f"The summary step failed (the context was kept): {outcome['error']}")
        elif outcome.get("attempted"):
            st.caption(
                f"That turn folded {outcome.get('folded_messages')} messages into the summary."
            )
    memory.summary_history(runtime, view)

    st.markdown("#### Messages")
    total = view.summary.message_count
    start = page_picker("Messages", total, MESSAGES_PER_PAGE, key="context_messages_page")
    with stop_on_error(runtime):
        messages = runtime.run(
            runtime.db.list_messages(view.session_id, start=start, limit=MESSAGES_PER_PAGE)
        )
    rows = message_rows(messages, start=start, view=window, summarized_until=view.summarized_until)
    st.caption(f"Messages #{start}–#{start + len(messages) - 1} of {total}.")
    table(rows, key="context_messages")
    with st.expander("These messages as JSON"):
        json_view(messages, label="Messages")


def identities_tab(runtime: AppRuntime, view: SessionView) -> None:
    client_edits.flash()
    if not view.identities:
        st.caption("The client has no identities yet.")
        return
    table(identity_rows(view.identities, session_id=view.session_id), key="identities_table")
    with stop_on_error(runtime):
        turns = runtime.run(load_turn_outlines(runtime.db, view.session_id))
    events = identity_history(turns, view.identities)
    for identity in view.identities:
        history = [e.row() for e in events if e.identity_id == identity.id]
        with st.expander(f"{identity.label} · {identity.state.value} · {len(history)} actions"):
            if history:
                table(history)
            else:
                st.caption("No action of this session concerned this identity.")
            client_edits.edit_identity(runtime, identity)
            json_view(identity, label="Identity record")
    known = {i.id for i in view.identities}
    stray = [e.row() for e in events if e.identity_id not in known]
    if stray:
        st.markdown("#### Actions naming no known identity")
        table(stray, key="identities_stray")


def turns_tab(runtime: AppRuntime, view: SessionView) -> None:
    total = view.summary.turn_count
    if not total:
        st.caption("No turns yet.")
        return
    # A page of turn summaries; a turn's prompt and raw output are read when it is opened.
    start = page_picker("Turns", total, TURNS_PER_PAGE, key="turns_page")
    with stop_on_error(runtime):
        turns = runtime.run(
            runtime.db.list_turns(view.session_id, after_seq=start, limit=TURNS_PER_PAGE)
        )
    st.caption(f"Turns {start + 1}–{start + len(turns)} of {total:,}.")
    table(turn_rows(turns, runtime.settings.model_prices), key="turns_table")
    for turn in turns:
        applied = sum(1 for x in turn.actions if x.status.value == "applied")
        refused = " · phase change refused" if turn.transition_refused_reason else ""
        entry = st.expander(
            f"Turn {turn.seq} · {turn.status.value} · {turn.state_before.value} → "
            f"{turn.state_after.value} · {applied} applied, {len(turn.actions) - applied} "
            f"rejected{refused}",
            key=f"turn_{turn.seq}",
            on_change="rerun",
        )
        if entry.open:
            with entry, stop_on_error(runtime):
                whole = runtime.run(runtime.db.get_turn(view.session_id, turn.seq or 0))
                if whole is not None:
                    turn_view.turn_details(runtime.run(load_turn_exchange(runtime.db, whole)))
                    lineage.fork_button(runtime, view.session_id, whole.seq or 0)
                    st.markdown("**Try this turn again**")
                    experiments.on_turn(
                        runtime, view.session_id, whole.seq or 0, key=f"turn_{whole.seq}"
                    )

    # Opened on demand: it replays every turn up to the later of the two.
    diff = st.expander(
        "Difference between two turns", icon="↔️", key="turns_diff_open", on_change="rerun"
    )
    if diff.open:
        with diff:
            _turn_diff(runtime, view, total)


def _turn_diff(runtime: AppRuntime, view: SessionView, last: int) -> None:
    # Number inputs, not lists of turns: a long session has thousands.
    left, right = st.columns(2)
    a = left.number_input(
        "From: after turn (0 is the start of the session)",
        0,
        last,
        max(0, last - 1),
        key="diff_from",
    )
    b = right.number_input("To: after turn", 0, last, last, key="diff_to")
    with stop_on_error(runtime):
        turns = runtime.run(load_turn_outlines(runtime.db, view.session_id, up_to=max(a, b)))
    snapshots = {s.seq: s for s in replay(turns)}
    diff = (
        diff_snapshots(snapshots[a], snapshots[b], labels=view.labels())
        if a in snapshots and b in snapshots
        else None
    )
    if diff is None:
        st.caption("No turn with that number is logged in this session.")
    elif diff:
        table([d.row() for d in diff], key="turns_diff")
    else:
        st.caption("No difference in the state or the identities between these two points.")
    st.caption("Identities found in earlier sessions show only the fields this session changed.")


def prompt_tab(runtime: AppRuntime, view: SessionView) -> None:
    _pin_controls(runtime, view)
    try:
        preview = runtime.run(runtime.service.preview_prompt(view.user_id, view.session_id))
    except (CoachError, TimeoutError) as e:  # shown with its fix; the other tabs still work
        show_error(e, runtime)
        return
    prompt = preview.prompt
    st.caption(
        f"The exact prompt the next turn would send: `{prompt.name}` · version `{prompt.version}` "
        f"· hash `{prompt.short_hash}` · {preview.window.get('total_tokens', '?')} tokens in the "
        "context window, before the client's next message."
    )
    # The prompt once; the schema and the JSON copy (which repeats it) are drawn when opened.
    turn_view.model_input(
        chat_parts(preview.request.messages),
        what="What the next turn would send, before the client's next message",
    )
    schema = st.expander(
        "Reply schema for this phase (JSON)", icon="🧩", key="prompt_schema", on_change="rerun"
    )
    if schema.open:
        with schema:
            json_view(preview.request.response_schema or {}, label="JSON schema")
    copy = st.expander(
        "Model input as JSON, to copy", icon="🧾", key="prompt_input_json", on_change="rerun"
    )
    if copy.open:
        with copy:
            json_view(
                [{"role": m.role, "content": m.content} for m in preview.request.messages],
                label="Model input (role and content, in order)",
            )


NO_PIN = "active (no pin)"


def _pin_controls(runtime: AppRuntime, view: SessionView) -> None:
    """Pin the session to other prompt versions than the active ones, or unpin it."""
    with stop_on_error(runtime):
        labels = sorted({x.label for x in runtime.run(runtime.db.list_prompt_labels())} - {ACTIVE})
    with st.form("pin_prompts"):
        st.markdown(
            f"**Prompt versions of this session:** "
            f"{describe_pin(view.context.user_data if view.context else {})}"
        )
        label = st.selectbox("Use the versions with the label", [NO_PIN, *labels], key="pin_label")
        versions = st.text_input(
            "…and these versions (part=number, comma-separated)",
            placeholder="introduction=2",
            key="pin_versions",
        )
        if st.form_submit_button("Apply to this session"):
            try:
                pin = PromptPin.parse(None if label == NO_PIN else label, versions)
                runtime.run(workbench(runtime).pin_prompts(view.user_id, view.session_id, pin))
            except CoachError as e:
                show_error(e, runtime)
            else:
                st.rerun()


def user_tab(runtime: AppRuntime, view: SessionView) -> None:
    if view.user is None:
        st.caption("No user record is stored for this session's user.")
        return
    st.markdown("**Edit the client**")
    client_edits.edit_client(runtime, view.user)
    json_view(view.user, label="User record")
    st.markdown("**Sessions of this user**, most recently active first")
    # Paged: some users have thousands of sessions.
    with stop_on_error(runtime):
        cursor = current_cursor("user_sessions_pages", view.user_id)
        sessions = runtime.run(
            runtime.db.list_sessions(
                user_id=view.user_id, limit=USER_SESSIONS_PER_PAGE, cursor=cursor
            )
        )
    sessions_table(runtime, sessions.items, key="user_sessions")
    pager("user_sessions_pages", sessions.next_cursor)


def delete_controls(runtime: AppRuntime, view: SessionView) -> None:
    """Delete the session or the user, each after an explicit confirmation."""
    session_column, user_column = st.columns(2)
    with session_column:
        sure = st.checkbox(
            "Delete this session: its state, messages and turns (identities stay with the user)",
            key="confirm_delete_session",
        )
        if st.button("Delete session", type="primary", disabled=not sure, key="delete_session"):
            with stop_on_error(runtime):
                runtime.run(workbench(runtime).delete_session(view.session_id))
            _deleted(f"Session {view.session_id} was deleted.")
    with user_column:
        sure = st.checkbox(
            "Delete this user and everything of theirs: all sessions, identities and turns",
            key="confirm_delete_user",
        )
        if st.button("Delete user", type="primary", disabled=not sure, key="delete_user"):
            with stop_on_error(runtime):
                runtime.run(workbench(runtime).delete_user(view.user_id))
            _deleted(f"User {view.user_id} and all their data were deleted.")


#: The inspector's tabs in order: label, and what draws it.
TABS: dict[str, Callable[[AppRuntime, SessionView], None]] = {
    "State": state_tab,
    "Context": context_tab,
    "Identities": identities_tab,
    "Turns": turns_tab,
    "Prompt": prompt_tab,
    "User": user_tab,
}


def _deleted(message: str) -> None:
    st.session_state[FLASH_KEY] = message
    st.query_params.clear()
    st.rerun()
