"""The Evals page's parts: start an eval run, the runs, and follow one (its views are
``ui.eval_views``'s).

The page only starts a run and follows it: the run is a task of the engine
(``service.evals``), stored as each conversation ends, and goes on when the page goes away or
the browser is closed. Opened again, the page reads what was stored, or follows the run again
while this process plays it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import streamlit as st

from coach.enums import JobStatus
from coach.errors import CoachError
from coach.evals.report import RunReport, build_report
from coach.evals.scenario import ScenarioError, load_scenarios
from coach.persistence.base import DatabaseInterface
from coach.persistence.records import (
    MAX_EVAL_CONCURRENCY,
    MAX_EVAL_REPEATS,
    EvalRun,
    utcnow,
)
from coach.prompts.library import PromptPin
from coach.prompts.store import ACTIVE
from coach.sessions.jobs import JobHandle
from ui import eval_tables as tables
from ui.access import workbench
from ui.app_runtime import AppRuntime
from ui.render import escape_markdown, show_error, stop_on_error
from ui.tables import TIME_FORMAT

#: The runs listed, read with their conversations (the grid and the comparison use them too).
RECENT_RUNS = 20
#: Seconds between looks at a run another app process plays.
OTHER_PROCESS_POLL_S = 2.0
#: While a run plays here, the report is drawn again at most this often (as conversations end).
REFRESH_S = 3.0
#: The prompt versions each scenario names (none named: the active ones).
SCENARIO_VERSIONS = "each scenario's own"
#: The views of the page, as tabs.
VIEWS = ("Report", "Conversations", "Prompt versions × scenarios", "Compare runs")


# -- starting a run ------------------------------------------------------------------------------


def scenario_problems(directory: object, problems: list[ScenarioError]) -> None:
    """The scenario files that cannot be used, each problem with its line."""
    if not problems:
        return
    lines = [
        f"{len(problems)} scenario file(s) in `{directory}` cannot be used; fix them and reload:"
    ]
    for problem in problems:
        lines.append(f"- `{problem.path}`")
        lines += [f"    - {escape_markdown(p)}" for p in problem.problems]
    st.warning("\n".join(lines), icon="⚠️")


def start_form(runtime: AppRuntime) -> str | None:
    """The form that starts a run of the scenarios in ``COACH_SCENARIOS_DIR``; returns the new
    run's id."""
    directory = runtime.settings.scenarios_dir
    scenarios, problems = load_scenarios(directory)
    scenario_problems(directory, problems)
    if not scenarios:
        st.info(
            f"No usable scenario in `{directory}` (`COACH_SCENARIOS_DIR`). Write one (see the "
            "shipped `scenarios/`), or make one from a session in the inspector.",
            icon="📄",
        )
        return None
    by_name = {s.name: s for s in scenarios}
    with stop_on_error(runtime):
        labels = sorted({x.label for x in runtime.run(runtime.db.list_prompt_labels())} - {ACTIVE})
    client = runtime.client
    with st.form("eval_start"):
        chosen = st.multiselect(
            f"Scenarios ({len(scenarios)} in `{directory}`)",
            list(by_name),
            format_func=lambda n: (
                f"{n} — {by_name[n].description}" if by_name[n].description else n
            ),
            placeholder="Choose one or more…",
            key="eval_scenarios",
        )
        repeats_column, concurrency_column, name_column = st.columns([1, 1, 3])
        repeats = repeats_column.number_input(
            "Runs per scenario", 1, MAX_EVAL_REPEATS, 3, key="eval_repeats"
        )
        concurrency = concurrency_column.number_input(
            "Conversations at once", 1, MAX_EVAL_CONCURRENCY, 8, key="eval_concurrency"
        )
        name = name_column.text_input(
            "Name", placeholder="(default: the scenarios and the time)", key="eval_name"
        )
        label_column, versions_column = st.columns(2)
        label = label_column.selectbox(
            "Prompt versions", [SCENARIO_VERSIONS, ACTIVE, *labels], key="eval_label"
        )
        versions = versions_column.text_input(
            "…with these versions (part=number, comma-separated)",
            placeholder="introduction=2",
            key="eval_versions",
        )
        if client.provider == "openai":
            model_column, client_column = st.columns(2)
            model = model_column.text_input(
                "Coach model",
                placeholder=f"each scenario's, else {client.model}",
                key="eval_model",
            )
            client_model = client_column.text_input(
                "Client model (plays the personas)",
                placeholder=f"each scenario's, else {client.model}",
                key="eval_client_model",
            )
        else:
            model = client_model = ""
            st.caption(
                f"Models: `{client.provider}/{client.model}` (the only one this app is set up "
                "with; an OpenAI-compatible server lets you pick others)"
            )
        cached = st.checkbox(
            "Cache identical requests (repeats not independent)",
            key="eval_cached",
            help="Identical model requests are answered once per run: cheaper, but the "
            "repeats then say nothing about how reliably the coach does it. Labelled CACHED.",
        )
        if not st.form_submit_button("Start the run", type="primary", icon="▶️"):
            return None
    try:
        pin = PromptPin.parse(None if label == SCENARIO_VERSIONS else label, versions)
        started = runtime.run(
            workbench(runtime).start_eval(
                [by_name[n] for n in chosen],
                repeats=int(repeats),
                concurrency=int(concurrency),
                name=name.strip(),
                pin=pin,
                model=model.strip() or None,
                client_model=client_model.strip() or None,
                cached=cached,
            )
        )
    except CoachError as e:
        show_error(e, runtime)
        return None
    return started.id


# -- the runs ------------------------------------------------------------------------------------


async def _with_conversations(db: DatabaseInterface, limit: int) -> list[EvalRun]:
    runs = [await db.get_eval_run(r.id) for r in await db.list_eval_runs(limit=limit)]
    return [r for r in runs if r is not None]


def recent_runs(runtime: AppRuntime) -> list[RunReport]:
    """The newest runs with their conversations, as reports."""
    with stop_on_error(runtime):
        runs = runtime.run(_with_conversations(runtime.db, RECENT_RUNS))
    return [build_report(r, prices=runtime.settings.model_prices) for r in runs]


def runs_table(reports: list[RunReport], *, key: str) -> None:
    """The runs; selecting one opens it (``?run=``)."""
    ids = [r.run.id for r in reports]
    st.dataframe(
        tables.runs_frame(reports),
        key=key,
        on_select=partial(_open_selected, key, ids),
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        column_config={
            "pass rate": st.column_config.ProgressColumn(
                "pass rate", format="percent", min_value=0.0, max_value=1.0
            ),
            "started": st.column_config.DatetimeColumn("started", format=TIME_FORMAT),
            "id": st.column_config.TextColumn("id", width="small"),
        },
    )
    st.caption(f"The {RECENT_RUNS} newest runs. Select one to open it.")


def _open_selected(key: str, ids: list[str]) -> None:
    rows = st.session_state[key].selection.rows
    if rows and rows[0] < len(ids):
        st.query_params["run"] = ids[rows[0]]


def open_run(runtime: AppRuntime, run_id: str) -> tuple[EvalRun | None, JobHandle | None]:
    """The run as stored, and its task when this process plays it. A run left running by a
    process that is gone is ended first (``recover``)."""
    jobs = runtime.service.evals
    # The handle first: a run that ends meanwhile has stored everything before the read below.
    handle = jobs.handle(run_id)
    with stop_on_error(runtime):
        run = runtime.run(runtime.db.get_eval_run(run_id))
        if handle is None and run is not None and run.status is JobStatus.RUNNING:
            runtime.run(jobs.recover())
            run = runtime.run(runtime.db.get_eval_run(run_id))
    if run is None:
        st.warning(f"No eval run has the id `{run_id}`.")
    return run, handle


def run_header(report: RunReport) -> None:
    run = report.run
    pin = "each scenario's own" if run.pin is None else PromptPin.model_validate(run.pin).describe()
    st.subheader(escape_markdown(run.name))
    st.caption(
        f"Run `{run.id}` · {run.status.value} · coach `{run.model}` · clients "
        f"`{run.client_model}` · {run.repeats} run(s) per scenario, {run.concurrency} at once · "
        f"prompt versions: {escape_markdown(pin)} · started "
        f"{run.created_at:%Y-%m-%d %H:%M} UTC"
        + (f" by {escape_markdown(run.created_by)}" if run.created_by else "")
    )
    if run.cached:
        st.warning(
            "**CACHED**: identical model requests were answered once in this run, so its "
            "repeats are not independent: the pass rates and pass^k say less than they seem.",
            icon="♻️",
        )


# -- following a run -----------------------------------------------------------------------------


@dataclass
class Following:
    """What the end of the page keeps following: this process's task, or another's run."""

    run: EvalRun
    handle: JobHandle | None = None
    bar: Any = None
    #: Conversations the task had ended before the page read the run (its report shows them).
    drawn: int = 0
    elsewhere: bool = False


def run_status(runtime: AppRuntime, run: EvalRun, handle: JobHandle | None) -> Following:
    """The run's progress with Cancel while it plays, or how it ended with Resume."""
    total = run.total
    with st.container(border=True):
        if handle is not None:
            bar = st.progress(
                min(1.0, handle.done / total),
                text=_progress(handle.done, total, time.monotonic() - handle.started),
            )
            if st.button("Cancel the run", key="eval_cancel", icon="⏹️"):
                with stop_on_error(runtime):
                    runtime.run(workbench(runtime).cancel_eval(run.id))
            return Following(run, handle, bar, drawn=handle.done)
        done = len(run.played)
        if run.status is JobStatus.RUNNING:
            elapsed = (utcnow() - run.created_at).total_seconds()
            bar = st.progress(min(1.0, done / total), text=_progress(done, total, elapsed))
            st.caption(
                f"⏳ Another app process ({run.owner or 'unknown'}) plays this run; this page "
                f"looks again every {OTHER_PROCESS_POLL_S:.0f} s."
            )
            return Following(run, bar=bar, elsewhere=True)
        ended_at = run.ended_at or run.created_at
        took = (ended_at - run.created_at).total_seconds()
        if run.status is JobStatus.DONE:
            st.success(f"Done: {done} of {total} conversations in {took:.0f} s.", icon="✅")
        else:
            st.warning(
                f"Ended with {done} of {total} conversations played to the end "
                f"({took:.0f} s): "
                f"{escape_markdown(run.error or 'failed')}",
                icon="⏹️",
            )
        left = run.total - len(run.played)
        if left and st.button(
            f"Resume: play the {left} conversation(s) not played to the end",
            key="eval_resume",
            icon="⏯️",
        ):
            try:
                runtime.run(workbench(runtime).resume_eval(run.id))
            except CoachError as e:
                show_error(e, runtime)
            else:
                st.rerun()
    return Following(run)


def keep_following(runtime: AppRuntime, following: Following) -> None:
    """Move the progress bar until the run ends (then draw the page again), redrawing the page
    at most every ``REFRESH_S`` as conversations end. The page may be closed at any moment:
    the run goes on."""
    if following.elsewhere:
        time.sleep(OTHER_PROCESS_POLL_S)
        st.rerun()
    handle = following.handle
    if handle is None:
        return
    total = following.run.total
    since, seen = time.monotonic(), 0
    while True:
        progress = runtime.run(handle.wait(seen, within_s=0.5))
        seen = progress.seen
        following.bar.progress(
            min(1.0, progress.done / total),
            text=_progress(progress.done, total, time.monotonic() - handle.started),
        )
        if progress.finished:
            st.rerun()  # draw what was stored
        if progress.done > following.drawn and time.monotonic() - since >= REFRESH_S:
            st.rerun()


def _progress(done: int, total: int, elapsed_s: float) -> str:
    return f"{done} of {total} conversations · {elapsed_s:.0f} s"
