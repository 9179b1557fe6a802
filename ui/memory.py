"""The session's memory in the inspector's Context tab: what a returning client's session
carries from their previous one, and the history of summary steps (what the summarizer was
sent and wrote, or why it failed).

What is shown is derived in ``coach.inspection.summaries``; this module only lays it out.
"""

from __future__ import annotations

from urllib.parse import quote

import streamlit as st

from coach.inspection import SessionView, SummaryStep, carried_over, load_summary_steps
from ui.app_runtime import AppRuntime
from ui.paging import page_picker
from ui.render import stop_on_error
from ui.tables import table
from ui.turn_view import PROMPT_HEIGHT, sampling_line

#: Turns read per page of the summary history (each is read whole: it holds its summary step).
SUMMARY_TURNS_PER_PAGE = 20


def earlier_session(view: SessionView) -> None:
    """What a returning client's session carries from their previous one, and a link to it."""
    carried = carried_over(view.context)
    if carried is None:
        return
    st.markdown("#### Carried from the client's earlier session")
    st.caption(
        "A digest of the client's previous session (its summary and its last messages). The "
        "model reads it in every turn of this session, in the summary message: a second system "
        "message after the system prompt."
    )
    if carried.from_session_id:
        # A plain link (a page link to this same page changes the session shown but leaves
        # the old id in the address bar, so a reload would show the wrong one).
        source = carried.from_session_id
        link = f"/inspector?session_id={quote(source)}"
        st.markdown(f"↩️ [Open the session it came from]({link}) (`{source}`)")
    st.code(carried.digest, language=None, wrap_lines=True)


def summary_history(runtime: AppRuntime, view: SessionView) -> None:
    """The summary steps of a page of turns: what each folded in and wrote, or why it failed.

    Opened on demand, and a page of turns at a time: the turn list holds no summary steps, so
    every turn of the page is read whole.
    """
    history = st.expander(
        "History of summary steps: what the summarizer was sent and wrote, or why it failed",
        icon="🗜️",
        key="summary_history_open",
        on_change="rerun",
    )
    if not history.open:
        return
    with history:
        total = view.summary.turn_count
        if not total:
            st.caption("No turns yet.")
            return
        start = page_picker("Turns", total, SUMMARY_TURNS_PER_PAGE, key="summary_steps_page")
        first, last = start + 1, min(total, start + SUMMARY_TURNS_PER_PAGE)
        with stop_on_error(runtime):
            steps = runtime.run(
                load_summary_steps(runtime.db, view.session_id, first=first, last=last)
            )
        st.caption(
            f"Turns {first:,}–{last:,} of {total:,}: {len(steps)} summary steps, newest first."
        )
        if not steps:
            return
        table([s.row() for s in steps], key="summary_steps")
        for step in steps:
            with st.expander(f"Turn {step.seq} · {step.outcome()}", key=f"summary_{step.seq}"):
                _summary_step(step)


def _summary_step(step: SummaryStep) -> None:
    if step.error:
        st.warning(f"The summary step failed (the context was kept): {step.error}")
    else:
        st.markdown(
            f"**Summary written** ({step.folded_messages} messages folded in; it replaced the "
            "summary before it)"
        )
        st.code(step.summary or "", language=None, wrap_lines=True)
    prompt = step.prompt
    if prompt:
        st.markdown(
            f"**Summarizer prompt:** `{prompt.get('name')}` · version "
            f"[{prompt.get('version')}](/prompts?part=summarizer) · hash "
            f"`{str(prompt.get('hash', ''))[:12]}`"
        )
    sampling_line(step.sampling or None)
    if step.request:
        st.markdown("**Sent to the summarizer**")
        for number, message in enumerate(step.request, start=1):
            st.caption(f"{number} · {message['role']}")
            st.code(message["content"], language=None, wrap_lines=True, height=PROMPT_HEIGHT)
    else:
        st.caption("What was sent to the summarizer was not recorded (an older turn).")
    st.markdown("**The summarizer's raw output**")
    st.code(
        step.raw_output if step.raw_output is not None else "(none: no output, or not recorded)",
        language=None,
        wrap_lines=True,
    )
