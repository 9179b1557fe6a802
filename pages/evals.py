"""Evals: start a run of scenarios played by simulated clients, follow it (it goes on when the
page is closed), read its report and conversations, see prompt versions × scenarios, and
compare two runs (``/evals?run=…&view=Conversations``)."""

from __future__ import annotations

import streamlit as st

from coach.evals.report import build_report
from ui import eval_views, evals
from ui.access import page_runtime
from ui.routing import known_choice

runtime = page_runtime()
run_id = st.query_params.get("run", "")

st.title("📏 Evals")

with st.expander("Start a run", icon="▶️", expanded=not run_id):
    started = evals.start_form(runtime)
if started is not None:
    st.query_params["run"] = started
    st.rerun()

run, handle = evals.open_run(runtime, run_id) if run_id else (None, None)
reports = evals.recent_runs(runtime)
if not reports and run is None:
    st.info("No eval run yet: start one above, or with `python -m coach eval`.", icon="📏")
    st.stop()

st.markdown("#### Runs")
evals.runs_table(reports, key="eval_runs")

following = None
report = None
if run is not None:
    report = build_report(run, prices=runtime.settings.model_prices)
    evals.run_header(report)
    following = evals.run_status(runtime, run, handle)

# Only the open view runs; it is part of the link (/evals?run=…&view=Compare runs).
known_choice("view", list(evals.VIEWS), what="view")
views = st.tabs(list(evals.VIEWS), key="view", bind="query-params")
for name, container in zip(evals.VIEWS, views, strict=True):
    if not container.open:
        continue
    with container:
        if name in ("Report", "Conversations") and report is None:
            st.caption("Select a run above to open it.")
        elif name == "Report" and report is not None:
            eval_views.report_view(report)
        elif name == "Conversations" and report is not None:
            eval_views.conversations_view(report.run)
        elif name == "Prompt versions × scenarios":
            eval_views.grid_view(reports)
        else:
            eval_views.compare_view(reports, run.id if run else None)

if following is not None:
    evals.keep_following(runtime, following)
