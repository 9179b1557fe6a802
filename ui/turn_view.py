"""A turn of the inspector's Turns tab, opened: how it went, what the client said and the coach
replied, and the model's input exactly as it was sent, with its sampling settings. The Prompt
tab shows the next turn's input the same way (``model_input``).

What is shown is derived in ``coach.inspection`` (``load_turn_exchange``); this module only lays
it out.
"""

from __future__ import annotations

import streamlit as st

from coach.enums import TurnStatus
from coach.inspection import (
    InputPart,
    TurnExchange,
    action_rows,
    prompt_refs,
    sampling_rows,
    summary_title,
)
from coach.inspection.model_input import NOT_RECORDED
from coach.window import SAMPLING
from ui import client_edits
from ui.render import escape_markdown, json_view, safe_markdown
from ui.tables import table

#: Heights (px) of the scrolling boxes that hold a system prompt, and a turn's messages.
PROMPT_HEIGHT = 300
MESSAGES_HEIGHT = 420
#: A model input with more messages of the conversation than this scrolls in a box.
MESSAGES_UNBOXED = 4


def _ms(value: float | None) -> str | None:
    return f"{value:,.0f} ms" if value is not None else None


def turn_details(exchange: TurnExchange) -> None:
    """A turn opened: how it went, what the client said and the coach replied, and what the
    model was sent (every message, in order) with which settings."""
    turn = exchange.turn
    if turn.status is TurnStatus.FAILED:
        st.error(f"Failed: {turn.error}")
    metrics: dict[str, int | str | None] = {
        "Input tokens": turn.input_tokens,
        "Output tokens": turn.output_tokens,
        "Latency": _ms(turn.latency_ms),
        "Time to first token": _ms(turn.ttft_ms),
    }
    for column, (label, value) in zip(st.columns(4), metrics.items(), strict=True):
        column.metric(label, value if value is not None else "—")
    change = f"**Phase:** {turn.state_before.value} → {turn.state_after.value}"
    if turn.requested_transition is not None:
        outcome = (
            f"refused: {escape_markdown(turn.transition_refused_reason)}"
            if turn.transition_refused_reason
            else "made"
        )
        change += f" · requested {turn.requested_transition.value} ({outcome})"
    st.markdown(change)
    _exchanged(exchange)
    if turn.actions:
        client_edits.data_notes(turn.actions)
        table(action_rows(turn))
    refs = prompt_refs(turn.prompt_version)
    versions = " + ".join(f"[{part}@{n}](/prompts?part={part})" for part, n in refs)
    st.markdown(
        f"**Prompt sent:** `{turn.prompt_name}` · versions {versions or turn.prompt_version}"
        f" · hash `{turn.prompt_hash[:12]}` · model `{turn.provider}/{turn.model}`"
    )
    sampling_line(turn.details.get(SAMPLING))
    st.markdown("**Model input**")
    if exchange.parts is None:
        st.caption(
            "This turn recorded no context window (it is still running, failed before the "
            "window was built, or is older than that record): only its system prompt is known."
        )
        st.code(turn.system_prompt, language="markdown", wrap_lines=True, height=PROMPT_HEIGHT)
    else:
        model_input(exchange.parts, what="What the model was sent in this turn")
    st.markdown("**Raw model output**")
    st.code(turn.raw_output or "(none)", language="json", wrap_lines=True)
    # Folded and drawn when opened: the record repeats the system prompt.
    record = st.expander(
        "Turn record and model input as JSON", key=f"turn_record_{turn.seq}", on_change="rerun"
    )
    if record.open:
        with record:
            json_view(exchange.model_input(), label="Model input (role and content, in order)")
            json_view(turn, label="Turn record")


def _exchanged(exchange: TurnExchange) -> None:
    """The client's message of the turn and the coach's reply, by their text."""
    turn = exchange.turn
    with st.chat_message("user"):
        st.caption("The client's message")
        if exchange.client_message is not None:
            safe_markdown(exchange.client_message.content)
        else:
            st.caption(f"Message {turn.user_message_id} is no longer stored.")
    with st.chat_message("assistant"):
        st.caption("The coach's reply")
        if exchange.reply is not None:
            safe_markdown(exchange.reply.content)
        elif turn.coach_message_id:
            st.caption(f"Message {turn.coach_message_id} is no longer stored.")
        elif turn.status is TurnStatus.PENDING:
            st.caption("No reply yet: the turn is running.")
        else:
            st.caption("No reply: the turn failed.")


def sampling_line(recorded: object) -> None:
    """The sampling settings of a model call (temperature, output limit, seed, …) on a line."""
    rows = sampling_rows(recorded)
    if all(r["value"] == NOT_RECORDED for r in rows):
        st.markdown(f"**Sampling:** {NOT_RECORDED} (the call is older than that record)")
        return
    st.markdown(
        "**Sampling:** " + " · ".join(f"{r['setting'].lower()} `{r['value']}`" for r in rows)
    )


def model_input(parts: list[InputPart], *, what: str) -> None:
    """A model input as it was sent, in order: the system prompt (once, in a box of bounded
    height), the summary message when there was one (labelled with what it carries), then
    each message of the conversation with its role (in a scrolling box when there are many)."""
    conversation = [p for p in parts if p.kind in ("message", "missing")]
    st.caption(
        f"{what}, in order: {len(parts)} messages, {len(conversation)} of them from the "
        "conversation. The reply schema of the phase goes with them."
    )
    for number, part in enumerate(parts[: len(parts) - len(conversation)], start=1):
        if part.kind == "system prompt":
            st.markdown(f"**{number} · System prompt** (a system message)")
            st.code(part.content, language="markdown", wrap_lines=True, height=PROMPT_HEIGHT)
        else:
            st.markdown(
                f"**{number} · {summary_title(part.content)}** — sent as a second system message"
            )
            st.code(part.content, language=None, wrap_lines=True)
    head = len(parts) - len(conversation)
    boxed = len(conversation) > MESSAGES_UNBOXED
    with st.container(height=MESSAGES_HEIGHT if boxed else "content", border=boxed):
        for number, part in enumerate(conversation, start=head + 1):
            st.caption(f"{number} · {part.title}")
            if part.kind == "missing":
                st.warning(part.content)
            else:
                st.code(part.content, language=None, wrap_lines=True)
