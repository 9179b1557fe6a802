"""Try a stored turn again (an experiment of the engine) and see its runs beside the stored
reply, live while they stream. Used by the inspector's Turns tab and the Prompts page.

The page only starts the experiment and follows it: the runs belong to the engine, are stored
as each ends, and go on when the page goes away. Opening the experiment again (it is kept by
name) shows what was stored, or follows it again while it runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from coach.enums import JobStatus
from coach.errors import CoachError
from coach.persistence.records import Experiment, ExperimentRun, TurnRecord
from coach.prompts.library import PromptPin
from coach.prompts.store import ACTIVE
from coach.turns.experiments import ExperimentProgress, experiment_trial
from coach.turns.trials import MAX_RUNS, stored_actions
from ui.access import workbench
from ui.app_runtime import AppRuntime
from ui.render import escape_markdown, safe_markdown, show_error, stop_on_error
from ui.tables import TIME_FORMAT

#: Cards side by side in one row (the stored reply first, then the runs).
CARDS_PER_ROW = 4
#: Seconds between looks at an experiment another app process runs.
OTHER_PROCESS_POLL_S = 2.0
ACTIVE_VERSIONS = "active"


def on_turn(
    runtime: AppRuntime, session_id: str, seq: int, *, key: str, versions: str = ""
) -> None:
    """Try turn ``seq`` again, and open one of its experiments (the new one once started)."""
    chooser = f"experiments_{key}"
    started = try_form(runtime, session_id, seq, key=key, versions=versions)
    if started is not None:
        st.session_state[chooser] = started  # the chooser below opens the new one
    chosen = kept_experiments(runtime, session_id=session_id, seq=seq, key=chooser)
    if chosen is not None:
        show(runtime, chosen)


def try_form(
    runtime: AppRuntime, session_id: str, seq: int, *, key: str, versions: str = ""
) -> str | None:
    """The form that starts an experiment on turn ``seq`` (``versions``: the pin's versions
    to offer, ``part=n,...``). Returns the new experiment's id."""
    with stop_on_error(runtime):
        labels = sorted({x.label for x in runtime.run(runtime.db.list_prompt_labels())} - {ACTIVE})
    client = runtime.client
    with st.form(f"try_{key}"):
        runs_column, label_column, versions_column = st.columns([1, 2, 3])
        runs = runs_column.number_input("Runs", 1, MAX_RUNS, 3, key=f"try_runs_{key}")
        label = label_column.selectbox(
            "Prompt versions", [ACTIVE_VERSIONS, *labels], key=f"try_label_{key}"
        )
        chosen_versions = versions_column.text_input(
            "…with these versions (part=number, comma-separated)",
            value=versions,
            placeholder="introduction=2",
            key=f"try_versions_{key}",
        )
        name_column, model_column = st.columns([3, 2])
        name = name_column.text_input(
            "Keep as (name)", placeholder=f"turn {seq}, …", key=f"try_name_{key}"
        )
        if client.provider == "openai":
            model = model_column.text_input("Model", value=client.model, key=f"try_model_{key}")
        else:
            model = client.model
            model_column.caption(
                f"Model: `{client.provider}/{client.model}` (the only one this app is set up "
                "with; an OpenAI-compatible server lets you pick others)"
            )
        if not st.form_submit_button(f"Try turn {seq} again", type="primary"):
            return None
    try:
        pin = PromptPin.parse(None if label == ACTIVE_VERSIONS else label, chosen_versions)
        started = runtime.run(
            workbench(runtime).try_turn(
                session_id,
                seq,
                runs=int(runs),
                pin=pin,
                model=model if model != client.model else None,
                name=name,
            )
        )
    except CoachError as e:
        show_error(e, runtime)
        return None
    return started.id


def kept_experiments(
    runtime: AppRuntime, *, session_id: str | None = None, seq: int | None = None, key: str
) -> str | None:
    """A choice of the kept experiments (of a session, of one turn); returns the chosen id."""
    with stop_on_error(runtime):
        found = runtime.run(runtime.db.list_experiments(session_id=session_id, limit=100))
    if seq is not None:
        found = [e for e in found if e.turn_seq == seq]
    if not found:
        return None
    names = {e.id: _title(e) for e in found}
    return st.selectbox(
        f"Kept experiments ({len(found)})",
        list(names),
        format_func=names.__getitem__,
        index=None,
        placeholder="Open one…",
        key=key,
    )


def experiments_table(experiments: Sequence[Experiment]) -> None:
    rows = [
        {
            "name": e.name,
            "session": e.session_id[:8],
            "turn": e.turn_seq,
            "versions": e.prompt_version,
            "model": e.model,
            "runs": e.runs_requested,
            "status": e.status.value,
            "by": e.created_by,
            "started (UTC)": e.created_at,
        }
        for e in experiments
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={"started (UTC)": st.column_config.DatetimeColumn(format=TIME_FORMAT)},
    )


def show(runtime: AppRuntime, experiment_id: str) -> None:
    """The experiment's runs beside the stored turn: followed live while they run here."""
    service = runtime.service
    # The handle first: one that ends meanwhile has stored everything before the read below.
    handle = service.experiments.handle(experiment_id)
    with stop_on_error(runtime):
        experiment = runtime.run(runtime.db.get_experiment(experiment_id))
        if handle is None and experiment and experiment.status is JobStatus.RUNNING:
            runtime.run(service.experiments.recover())  # its process may be gone
            experiment = runtime.run(runtime.db.get_experiment(experiment_id))
        if experiment is None:
            st.warning("This experiment is no longer stored (its session was deleted).")
            return
        trial = runtime.run(experiment_trial(runtime.db, experiment))
    st.markdown(f"##### {_title(experiment)}")
    st.caption(
        f"Turn {experiment.turn_seq} of session `{experiment.session_id}` · now "
        f"`{experiment.prompt_version}` on `{experiment.model}` · stored "
        f"`{trial.stored.prompt_version}` on `{trial.stored.provider}/{trial.stored.model}` · "
        "runs propose actions and phase changes; nothing is applied"
    )
    if experiment.error:
        st.warning(experiment.error)
    slots = _slots(1 + experiment.runs_requested)
    with slots[0].container(border=True):
        _stored_card(trial.stored, trial.stored_reply)
    stored = {run.number: run for run in experiment.runs}
    if handle is None:
        _draw_runs(slots, experiment, stored, texts={}, running=False)
        if experiment.status is JobStatus.RUNNING:
            st.caption(
                f"⏳ Another app process ({experiment.owner or 'unknown'}) runs this experiment; "
                f"this page looks again every {OTHER_PROCESS_POLL_S:.0f} s."
            )
            time.sleep(OTHER_PROCESS_POLL_S)
            st.rerun()
        return
    status, seen = st.empty(), 0
    while True:
        progress: ExperimentProgress = runtime.run(handle.wait(seen, within_s=0.5))
        seen = progress.seen
        _draw_runs(slots, experiment, {**stored, **progress.ended}, progress.texts, running=True)
        if progress.error is not None:
            status.empty()
            show_error(progress.error, runtime)
            return
        if progress.done:
            status.empty()
            st.rerun()  # draw what was stored
        left = experiment.runs_requested - len(progress.ended)
        status.caption(
            f"⏳ {left} of {experiment.runs_requested} runs answering… ({progress.elapsed_s:.0f} s)"
        )


def _slots(count: int) -> list[Any]:
    slots = []
    for row in range(0, count, CARDS_PER_ROW):
        columns = st.columns(CARDS_PER_ROW)
        slots += [c.empty() for c in columns[: min(CARDS_PER_ROW, count - row)]]
    return slots


def _draw_runs(
    slots: list[Any],
    experiment: Experiment,
    ended: dict[int, ExperimentRun],
    texts: dict[int, str],
    *,
    running: bool,
) -> None:
    for number in range(1, experiment.runs_requested + 1):
        with slots[number].container(border=True):
            run = ended.get(number)
            if run is not None:
                _run_card(run)
            else:
                st.markdown(f"**Run {number}**")
                if texts.get(number):
                    safe_markdown(texts[number])
                st.caption(
                    "streaming…"
                    if running and texts.get(number)
                    else "waiting…"
                    if running
                    else "did not end"
                )


def _stored_card(turn: TurnRecord, reply: str | None) -> None:
    st.markdown("**Stored reply**")
    if turn.error:
        st.error(f"Failed: {turn.error}")
    safe_markdown(reply or "(no reply)")
    phase = (
        f"asked for {turn.requested_transition.value}"
        + (
            f" — refused: {turn.transition_refused_reason}"
            if turn.transition_refused_reason
            else " — made"
        )
        if turn.requested_transition is not None
        else "no phase change asked"
    )
    _facts(stored_actions(turn), phase, turn.input_tokens, turn.output_tokens, turn.latency_ms)


def _run_card(run: ExperimentRun) -> None:
    st.markdown(f"**Run {run.number}**")
    if run.error:
        st.error(f"Failed: {run.error}")
    else:
        safe_markdown(run.reply or "(empty reply)")
    phase = f"asks for {run.requested_phase}" if run.requested_phase else "no phase change asked"
    _facts(run.actions, phase, run.input_tokens, run.output_tokens, run.latency_ms)


def _facts(
    actions: Sequence[dict[str, Any]],
    phase: str,
    tokens_in: int | None,
    tokens_out: int | None,
    latency_ms: float | None,
) -> None:
    # Model text: escaped, so that no link or image in it is followed.
    listed = "; ".join(
        f"{a['type']} {json.dumps(a['params'], ensure_ascii=False)}" for a in actions
    )
    st.caption(f"Actions: {escape_markdown(listed or 'none')}")
    st.caption(f"Phase: {escape_markdown(phase)}")
    latency = "—" if latency_ms is None else f"{latency_ms:,.0f} ms"
    st.caption(f"Tokens: {tokens_in or '—'} in, {tokens_out or '—'} out · {latency}")


def _title(experiment: Experiment) -> str:
    return (
        f"{experiment.name} · turn {experiment.turn_seq} · {experiment.runs_requested} runs · "
        f"{experiment.status.value}"
    )
