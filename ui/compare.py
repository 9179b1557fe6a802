"""The Compare page's parts: the two sessions' totals, the first divergence, both phase paths,
the identities each found, and the transcript aligned by turn, a page at a time. The work is
``coach.sessions.compare``'s."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd
import streamlit as st

from coach.costs import PRICES_SETTING, Price, turn_cost, usd_text
from coach.persistence.records import TurnSummary
from coach.sessions.compare import (
    Comparison,
    Side,
    TurnRow,
    compare_sessions,
    transcript_page,
)
from ui.app_runtime import AppRuntime
from ui.charts import two_phase_paths_chart
from ui.render import escape_markdown, safe_markdown, stop_on_error
from ui.tables import whole_texts

TURNS_PER_PAGE = 20
PAGE_KEY = "compare_page"
CACHE_KEY = "compare_cache"


def comparison(runtime: AppRuntime, a: str, b: str) -> Comparison:
    """The comparison of ``a`` and ``b``, computed again only when either session changed
    (paging the transcript of two 2,500-turn sessions then reads one page, not both sessions:
    the comparison takes about 0.5 s there on SQLite, a page 25 ms)."""
    with stop_on_error(runtime):
        summaries = [runtime.run(runtime.db.get_session(x)) for x in (a, b)]
        key = (a, b, *[(s.turn_count, s.message_count) if s else None for s in summaries])
        cached = st.session_state.get(CACHE_KEY)
        if cached is not None and cached[0] == key:
            found: Comparison = cached[1]
            return found
        found = runtime.run(
            compare_sessions(runtime.db, a, b, prices=runtime.settings.model_prices)
        )
    st.session_state[CACHE_KEY] = (key, found)
    return found


def totals(found: Comparison) -> None:
    left, right = st.columns(2)
    for name, side, column in (("A", found.a, left), ("B", found.b, right)):
        with column:
            _side(name, side)


def _side(name: str, side: Side) -> None:
    st.markdown(f"**{name}** · `{side.session_id}`")
    st.page_link(
        "pages/inspector.py",
        label="Inspect",
        icon="🔎",
        query_params={"session_id": side.session_id},
    )
    metrics = st.columns(5)
    metrics[0].metric("Turns", side.turns, help=f"{side.failed_turns} failed")
    metrics[1].metric("Tokens in", f"{side.input_tokens:,}")
    metrics[2].metric("Tokens out", f"{side.output_tokens:,}")
    metrics[3].metric("Latency", f"{side.latency_ms / 1000:,.1f} s")
    cost = side.cost
    metrics[4].metric("Cost", f"${cost.usd:,.4f}" + ("" if cost.known else " + ?"))
    if not cost.known:
        st.caption(
            f"No price for {', '.join(cost.unpriced)}: set `{PRICES_SETTING}` "
            "(US dollars per million tokens) to see what it cost."
        )


def divergence(found: Comparison) -> None:
    """The first turn where the two differ, marked, with a button to its page."""
    seq = found.first_divergence
    if seq is None:
        st.success("No divergence: the same conversation and the same coaching events.", icon="✅")
        return
    lines = []
    if found.first_text_divergence:
        lines.append(f"the text differs from turn {found.first_text_divergence}")
    lines += [escape_markdown(line) for line in found.event_divergence]
    st.warning(
        f"**First divergence: turn {seq}**\n\n" + "\n".join(f"- {x}" for x in lines), icon="⚠️"
    )
    if st.button(f"Show turn {seq}", key="show_divergence"):
        st.session_state[PAGE_KEY] = (seq - 1) // TURNS_PER_PAGE + 1
        st.rerun()


def phase_paths(found: Comparison) -> None:
    st.altair_chart(
        two_phase_paths_chart(
            found.a.phase_path, found.b.phase_path, diverges_at=found.first_divergence
        ),
        width="stretch",
    )


def identities(found: Comparison) -> None:
    if not found.identities:
        st.caption("Both found the same identities (labels, states, texts and action items).")
        return
    rows = [
        {
            "identity": change.label,
            "change": change.change,
            "in A": "" if change.a is None else _identity_text(change.a),
            "in B": "" if change.b is None else _identity_text(change.b),
        }
        for change in found.identities
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    whole_texts(rows, ["in A", "in B"], key="compare_identities")


def _identity_text(shown: dict[str, object]) -> str:
    return " · ".join(f"{k}: {v}" for k, v in shown.items() if v not in (None, "", []))


def transcript(runtime: AppRuntime, found: Comparison) -> None:
    turns = max(found.a.turns, found.b.turns)
    if not turns:
        st.caption("Neither session has a turn yet.")
        return
    pages = max(1, math.ceil(turns / TURNS_PER_PAGE))
    st.session_state.setdefault(PAGE_KEY, 1)
    page = st.number_input(f"Transcript page (of {pages})", 1, pages, key=PAGE_KEY)
    after = (int(page) - 1) * TURNS_PER_PAGE
    with stop_on_error(runtime):
        rows = runtime.run(
            transcript_page(
                runtime.db,
                found.a.session_id,
                found.b.session_id,
                after_seq=after,
                limit=TURNS_PER_PAGE,
            )
        )
    for row in rows:
        _turn(row, runtime.settings.model_prices, first=row.seq == found.first_divergence)


def _cost(turn: TurnSummary, prices: Mapping[str, Price]) -> str:
    tokens = f"{turn.input_tokens or 0:,} in / {turn.output_tokens or 0:,} out tokens"
    latency = "—" if turn.latency_ms is None else f"{turn.latency_ms:,.0f} ms"
    usd = turn_cost(prices, turn.provider, turn.model, turn.input_tokens, turn.output_tokens)
    return f"{tokens} · {latency} · {usd_text(usd)} · {turn.provider}/{turn.model}"


def _turn(row: TurnRow, prices: Mapping[str, Price], *, first: bool) -> None:
    mark = " · ⚠️ first divergence" if first else " · differs" if row.differs else ""
    with st.container(border=True, key=f"compare_turn_{row.seq}"):
        st.markdown(f"**Turn {row.seq}**{mark}")
        left, right = st.columns(2)
        for column, turn, (said, reply) in (
            (left, row.a, row.a_texts),
            (right, row.b, row.b_texts),
        ):
            with column:
                if turn is None:
                    st.caption("(no such turn)")
                    continue
                st.caption(f"Client: {escape_markdown(said)}")
                safe_markdown(
                    reply or f"*(no reply: {escape_markdown(turn.error or turn.status.value)})*"
                )
                actions = "; ".join(
                    f"{a.type} {a.status.value}" + (f" ({a.reason})" if a.reason else "")
                    for a in turn.actions
                )
                change = f"{turn.state_before.value} → {turn.state_after.value}"
                if turn.transition_refused_reason:
                    change += f" (refused: {turn.transition_refused_reason})"
                st.caption(escape_markdown(f"{change} · {actions or 'no actions'}"))
                st.caption(_cost(turn, prices))
