"""Forks and replays in the inspector: where a session came from and what was made from it
(both ways, linked), a fork at any turn, a replay, and the progress of one being made; and an
eval scenario made from the session after turn N (``coach.evals.make``).

The page only starts a fork or replay and follows it: the engine makes it as a task, stores it
as it goes, and goes on when the page goes away.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any

import streamlit as st

from coach.enums import JobStatus, OriginKind
from coach.errors import CoachError
from coach.persistence.records import SessionOrigin
from coach.prompts.library import PromptPin
from ui.access import workbench
from ui.app_runtime import AppRuntime
from ui.render import show_error, stop_on_error

#: The session being made from this page (its id), in ``st.session_state``.
MAKING_KEY = "lineage_making"
#: The scenario last made from a session on this page, in ``st.session_state``.
MADE_KEY = "eval_made_scenario"
#: Seconds between looks at a session another app process is making.
OTHER_PROCESS_POLL_S = 2.0
KIND_NAMES = {
    OriginKind.FORK: "fork",
    OriginKind.REPLAY_EXACT: "exact replay",
    OriginKind.REPLAY_LIVE: "live replay",
}


def describe(origin: SessionOrigin) -> str:
    """``fork after turn 6``, ``exact replay``, …, with its progress unless it is done."""
    what = KIND_NAMES[origin.kind]
    if origin.kind is OriginKind.FORK:
        what += f" after turn {origin.at_turn}"
    if origin.status is JobStatus.RUNNING:
        return f"{what} (being made: {origin.turns_done} of {origin.turns_total} turns)"
    if origin.status is JobStatus.FAILED:
        return f"{what} ({origin.turns_done} of {origin.turns_total} turns: {origin.error})"
    if origin.kind is not OriginKind.FORK:
        differences = len(origin.differences)
        what += f", {differences} difference{'s' * (differences != 1)} from its source"
    return what


def lineage(runtime: AppRuntime, session_id: str) -> None:
    """Where the session came from, and the sessions made from it, with links."""
    with stop_on_error(runtime):
        origin = runtime.run(runtime.db.get_session_origin(session_id))
        made = runtime.run(runtime.db.list_session_origins(source_session_id=session_id, limit=50))
    if origin is not None:
        left, middle, right = st.columns([5, 2, 3])
        left.markdown(
            f"↩️ This session is a **{describe(origin)}** of `{origin.source_session_id}`."
        )
        middle.page_link(
            "pages/inspector.py",
            label="Open the source",
            query_params={"session_id": origin.source_session_id},
        )
        right.page_link(
            "pages/compare.py",
            label="Compare with the source",
            icon="↔️",
            query_params={"a": origin.source_session_id, "b": session_id},
        )
        if origin.status is JobStatus.FAILED and st.button(
            f"Resume the {KIND_NAMES[origin.kind]}",
            key="lineage_resume",
            icon="▶️",
            help="Go on from the first turn it has not made; a turn cut off is answered again",
        ):
            _start(runtime, lambda: workbench(runtime).resume_replay(session_id))
    if made:
        with st.expander(f"↪️ Sessions made from this one ({len(made)})"):
            for child in made:
                left, middle, right = st.columns([3, 1, 1])
                left.markdown(f"`{child.session_id[:8]}` · {describe(child)}")
                middle.page_link(
                    "pages/inspector.py",
                    label="Open",
                    query_params={"session_id": child.session_id},
                )
                right.page_link(
                    "pages/compare.py",
                    label="Compare",
                    query_params={"a": session_id, "b": child.session_id},
                )


def fork_button(runtime: AppRuntime, session_id: str, seq: int) -> None:
    """Fork the session after turn ``seq``: into a copy of its client (identities as they were
    then), or for the same client (sharing the client's identities as they are now)."""
    copy, same = st.columns(2)
    acting = workbench(runtime)
    if copy.button(f"Fork after turn {seq}", key=f"fork_{seq}", icon="🍴"):
        _start(runtime, lambda: acting.fork(session_id, seq))
    if same.button(
        f"Fork after turn {seq} for the same client",
        key=f"fork_same_{seq}",
        help="A new session of this client: it shares the client's identities as they are now",
    ):
        _start(runtime, lambda: acting.fork(session_id, seq, same_client=True))


def replay_controls(runtime: AppRuntime, session_id: str) -> None:
    """Replay the session into a new one: exactly, or live with other prompt versions."""
    with st.form("replay_session"):
        mode = st.radio(
            "Replay",
            ["exact", "live"],
            format_func={
                "exact": "Exact: the recorded outputs, no model (checks the engine)",
                "live": "Live: ask the model again, with these prompt versions",
            }.__getitem__,
            horizontal=True,
            key="replay_mode",
        )
        label_column, versions_column = st.columns(2)
        label = label_column.text_input("Live: label (empty: active)", key="replay_label")
        versions = versions_column.text_input(
            "Live: versions (part=number, comma-separated)",
            placeholder="introduction=2",
            key="replay_versions",
        )
        if not st.form_submit_button("Replay into a new session"):
            return
    live = mode == "live"

    def start() -> SessionOrigin:
        pin = PromptPin.parse(label.strip() or None, versions)
        return workbench(runtime).replay(session_id, live=live, pin=pin)

    _start(runtime, start)


def _start(runtime: AppRuntime, start: Callable[[], Coroutine[Any, Any, SessionOrigin]]) -> None:
    try:
        origin = runtime.run(start())
    except CoachError as e:
        show_error(e, runtime)
        return
    st.session_state[MAKING_KEY] = origin.session_id
    st.rerun()


def follow_making(runtime: AppRuntime) -> None:
    """The progress of the session this page started making, until it is made; then links."""
    session_id = st.session_state.get(MAKING_KEY)
    if not session_id:
        return
    jobs = runtime.service.sessions
    handle = jobs.handle(session_id)
    box = st.container(border=True)
    if handle is not None:
        with box:
            bar = st.progress(0.0, text="Starting…")
            cancel = st.button("Cancel", key="lineage_cancel")
        if cancel:
            with stop_on_error(runtime):
                runtime.run(workbench(runtime).cancel_replay(session_id))
        seen = 0
        while True:
            progress = runtime.run(handle.wait(seen, within_s=0.5))
            seen = progress.seen
            share = progress.done / progress.total if progress.total else 1.0
            bar.progress(
                share, text=f"Making the new session: turn {progress.done} of {progress.total}"
            )
            if progress.finished:
                break
    with stop_on_error(runtime):
        origin = runtime.run(runtime.db.get_session_origin(session_id))
    if origin is None:
        st.session_state[MAKING_KEY] = None
        return
    if origin.status is JobStatus.RUNNING:
        box.caption(f"⏳ Being made by another app process: {describe(origin)}")
        time.sleep(OTHER_PROCESS_POLL_S)
        st.rerun()
    with box:
        (st.success if origin.status is JobStatus.DONE else st.warning)(
            f"New session `{session_id[:8]}`: {describe(origin)}."
        )
        links = st.columns(4)
        links[0].page_link(
            "pages/inspector.py",
            label="Inspect it",
            icon="🔎",
            query_params={"session_id": session_id},
        )
        with stop_on_error(runtime):
            made = runtime.run(runtime.db.get_session(session_id))
        if made is not None:
            links[1].page_link(
                "pages/coach.py",
                label="Continue it in the coach",
                icon="💬",
                query_params={"user_id": made.user_id, "session_id": session_id},
            )
        links[2].page_link(
            "pages/compare.py",
            label="Compare with the source",
            icon="↔️",
            query_params={"a": origin.source_session_id, "b": session_id},
        )
        if links[3].button("Dismiss", key="lineage_dismiss"):
            st.session_state[MAKING_KEY] = None
            st.rerun()


def make_scenario(runtime: AppRuntime, session_id: str, turns: int) -> None:
    """Make an eval scenario that continues this session after turn N with its client's words
    (the session is copied beside it as its fixture), written to ``COACH_SCENARIOS_DIR``."""
    directory = runtime.settings.scenarios_dir
    if turns < 1:
        st.caption("This session has no turn yet: there is nothing to make a scenario of.")
        return
    with st.form("make_scenario"):
        st.caption(
            f"The scenario starts from a copy of this session after turn N; the client says "
            f"what they said then, and the assertions start as what the session did (edit "
            f"them). Written to `{directory}`."
        )
        name_column, turn_column = st.columns([3, 1])
        name = name_column.text_input(
            "Scenario name",
            value=f"from-{session_id[:8]}",
            help="Lower-case letters, digits, '-' and '_'",
            key="make_scenario_name",
        )
        at_turn = turn_column.number_input(
            "After turn", 0, max(0, turns - 1), 0, key="make_scenario_turn"
        )
        submitted = st.form_submit_button("Make the scenario", icon="📏")
    if submitted:
        try:
            made, path = runtime.run(
                workbench(runtime).make_scenario(
                    session_id, int(at_turn), name=name.strip(), directory=directory
                )
            )
        except CoachError as e:
            show_error(e, runtime)
            return
        except OSError as e:
            st.error(
                f"The scenario could not be written in `{directory}`: {e}. Set "
                "`COACH_SCENARIOS_DIR` to a folder this app can write to.",
                icon="🚨",
            )
            return
        st.session_state[MADE_KEY] = {
            "session_id": session_id,
            "path": str(path),
            "fixture": str(directory / made.fixture_name),
            "name": made.name,
            "yaml": made.yaml_text,
        }
    made_here = st.session_state.get(MADE_KEY)
    if not made_here or made_here["session_id"] != session_id:
        return
    st.success(
        f"Written `{made_here['path']}`, with the session copied to `{made_here['fixture']}`.",
        icon="📏",
    )
    download, link = st.columns(2)
    download.download_button(
        "Download the YAML",
        data=made_here["yaml"],
        file_name=f"{made_here['name']}.yaml",
        mime="application/yaml",
        on_click="ignore",
        icon="⬇️",
    )
    link.page_link("pages/evals.py", label="Run it on the Evals page", icon="📏")
    st.code(made_here["yaml"], language="yaml")
