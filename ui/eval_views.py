"""The views of an eval run on the Evals page: its report (per scenario and per assertion),
its conversations (the failed ones easy to find, each opening in the inspector), prompt
version sets × scenarios over the recent runs, and two runs compared. The tables are
``ui.eval_tables``'s; the figures ``coach.evals.report``'s."""

from __future__ import annotations

import streamlit as st

from coach.evals.report import RunReport
from coach.persistence.records import EvalConversation, EvalRun
from ui import eval_tables as tables
from ui.render import escape_markdown


def report_view(report: RunReport) -> None:
    """Per scenario and per assertion: pass rate, pass@k, pass^k, flaky; turns, tokens, cost,
    latency; and the errors of conversations that could not be played."""
    run, overall, k = report.run, report.overall, report.k
    columns = st.columns(4)
    columns[0].metric("Passed", f"{overall.passed} of {overall.n}")
    columns[1].metric("Pass rate", tables.share(overall.pass_rate))
    columns[2].metric(f"pass^{k}", tables.share(overall.pass_hat_k))
    columns[3].metric("Played to the end", f"{len(run.played)} of {run.total}")
    st.caption(
        f"Cost: {escape_markdown(report.cost.describe())} · pass@{k}: the chance that one of "
        f"{k} conversations passes; pass^{k}: that all {k} do (— under {k} conversations); a "
        "conversation not played to the end counts as failed."
    )
    st.dataframe(
        tables.scenarios_frame(report),
        hide_index=True,
        width="stretch",
        column_config={
            name: st.column_config.NumberColumn(name, format="percent")
            for name in ("pass rate", f"pass@{k}", f"pass^{k}")
        }
        | {
            name: st.column_config.NumberColumn(name, format="%.0f")
            for name in ("latency p50 (ms)", "latency p95 (ms)")
        },
    )
    for s in report.scenarios:
        flaky = " · flaky" if s.overall.flaky else ""
        with st.expander(
            f"{s.scenario} · {tables.rate_text(s.overall)} passed{flaky}",
            key=f"eval_s_{s.scenario}",
        ):
            st.table(tables.checks_frame(s, k), hide_index=True)
            if s.errors:
                st.markdown(f"**{s.failed} conversation(s) could not be played to the end**")
                st.markdown("\n".join(f"- {escape_markdown(e)}" for e in s.errors))


def conversations_view(run: EvalRun) -> None:
    """Every conversation of the run, failed ones easy to find; one selected shows its checks
    and opens in the inspector."""
    left, right = st.columns([1, 2])
    failed_only = left.toggle("Failed only", key="eval_failed_only")
    scenario = right.selectbox(
        "Scenario",
        [None, *run.scenario_names],
        format_func=lambda n: n or "All scenarios",
        key="eval_conversation_scenario",
    )
    shown = [
        c
        for c in run.conversations
        if (not failed_only or tables.is_failed(c)) and (scenario is None or c.scenario == scenario)
    ]
    if not shown:
        st.caption("No conversation " + ("failed." if failed_only else "yet."))
        return
    picked = st.dataframe(
        tables.conversations_frame(shown),
        key=f"eval_conversations_{run.id}_{failed_only}_{scenario}",
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        column_config={
            "what failed": st.column_config.TextColumn("what failed", width="large"),
            "inspect": st.column_config.LinkColumn("inspect", display_text="Open ↗"),
        },
    )
    st.caption(
        f"{len(shown)} of {len(run.conversations)} conversations. Select one for its checks."
    )
    rows = picked.selection.rows
    if rows and rows[0] < len(shown):
        conversation_detail(shown[rows[0]])


def conversation_detail(c: EvalConversation) -> None:
    with st.container(border=True):
        verdict = {True: "passed", False: "failed", None: c.status.value}[c.passed]
        st.markdown(f"**{escape_markdown(c.scenario)} · repeat {c.repeat}** · {verdict}")
        if c.error:
            st.error(f"Not played to the end: {escape_markdown(c.error)}")
        lines = []
        for check in c.checks:
            mark = "✅" if check.get("passed") else "❌"
            kind = "[rubric] " if check.get("kind") == "rubric" else ""
            name, detail = str(check.get("name")), str(check.get("detail"))
            lines.append(f"- {mark} {kind}{escape_markdown(name)}: {escape_markdown(detail)}")
        if lines:
            st.markdown("\n".join(lines))
        st.page_link(
            "pages/inspector.py",
            label="Open this conversation in the inspector",
            icon="🔎",
            query_params={"session_id": c.session_id},
        )


# -- across runs ---------------------------------------------------------------------------------


def grid_view(reports: list[RunReport]) -> None:
    """Prompt version sets × scenarios over the recent runs, coloured by pass rate."""
    text, rates = tables.grid([r.run for r in reports])
    if text.empty:
        st.caption("No conversation has ended yet.")
        return
    st.dataframe(text.style.apply(lambda _: rates.map(tables.colour), axis=None), width="stretch")
    st.caption(
        f"Pass rate (conversations) of each scenario with each prompt version set, over the "
        f"{len(reports)} newest runs; green passes, red fails. A conversation that played no "
        "turn used no version and is left out."
    )


def compare_view(reports: list[RunReport], opened: str | None) -> None:
    """Two runs side by side: each scenario and assertion's pass rate in A and B, and a link
    to compare the sessions of one scenario and repeat."""
    if len(reports) < 2:
        st.caption("Compare needs two runs.")
        return
    by_id = {r.run.id: r for r in reports}
    ids = list(by_id)
    names = {
        i: f"{r.run.name} · {r.run.created_at:%Y-%m-%d %H:%M} · {i[:8]}" for i, r in by_id.items()
    }
    b_default = ids.index(opened) if opened in by_id else 0
    a_default = b_default + 1 if b_default + 1 < len(ids) else 0
    left, right = st.columns(2)
    a = left.selectbox("Run A", ids, a_default, format_func=names.__getitem__, key="eval_compare_a")
    b = right.selectbox(
        "Run B", ids, b_default, format_func=names.__getitem__, key="eval_compare_b"
    )
    frame = tables.compare_frame(by_id[a], by_id[b])
    delta = frame[tables.DELTA]
    shown = frame.assign(**{tables.DELTA: delta.map(tables.points)})
    st.dataframe(
        shown.style.apply(lambda _: delta.map(tables.delta_colour), subset=[tables.DELTA]),
        hide_index=True,
        width="stretch",
    )
    both = tables.pairs(by_id[a].run, by_id[b].run)
    if not both:
        st.caption("The two runs have no scenario and repeat in common.")
        return
    scenarios = list(dict.fromkeys(s for s, _ in both))
    left, right, link = st.columns([2, 1, 2], vertical_alignment="bottom")
    scenario = left.selectbox("Scenario", scenarios, key="eval_compare_scenario")
    repeats = [r for s, r in both if s == scenario]
    repeat = right.selectbox("Repeat", repeats, key="eval_compare_repeat")
    if (scenario, repeat) not in both:  # a choice left from other runs
        return
    session_a, session_b = both[(scenario, repeat)]
    link.page_link(
        "pages/compare.py",
        label=f"Compare {scenario} #{repeat}: A with B",
        icon="↔️",
        query_params={"a": session_a, "b": session_b},
    )
