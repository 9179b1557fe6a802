"""The Prompts page's parts: the overview, a part's history, the editor with its live preview,
the side-by-side diff, and activation. The work itself is ``coach.prompts.lab``'s."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import pandas as pd
import streamlit as st

from coach.errors import CoachError
from coach.persistence.records import PromptLabel, PromptVersion, SessionSummary
from coach.prompts import lab
from coach.prompts.loader import PromptError
from coach.prompts.store import DEFAULT
from ui import experiments
from ui.access import current_actor, workbench
from ui.app_runtime import AppRuntime
from ui.render import show_error, stop_on_error
from ui.tables import TIME_FORMAT

FLASH_KEY = "prompts_flash"

#: Colours of the side-by-side diff (``difflib.HtmlDiff`` marks lines with these classes).
_DIFF_STYLE = """<style>
table.diff {font-family: ui-monospace, monospace; font-size: 0.8rem; border-collapse: collapse;
  width: 100%; table-layout: fixed;}
table.diff td {white-space: pre-wrap; word-break: break-word; vertical-align: top; padding: 0 4px;}
table.diff th, td.diff_header, td.diff_next {display: none;}
.diff_add {background: #d8f5d0;} .diff_chg {background: #fff2b3;} .diff_sub {background: #fbd4d4;}
</style>"""


def overview(parts: Sequence[lab.PartRow]) -> None:
    rows = [
        {
            "part": p.part,
            "active": p.active,
            "default (files)": p.labels.get(DEFAULT),
            "versions": p.versions,
            "other labels": p.others(),
        }
        for p in parts
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="prompt_parts")


def history(versions: Sequence[PromptVersion], labels: Sequence[PromptLabel]) -> None:
    pointing: dict[int, list[str]] = {}
    for x in labels:
        pointing.setdefault(x.version, []).append(x.label)
    rows = [
        {
            "version": v.version,
            "labels": ", ".join(sorted(pointing.get(v.version or 0, []))),
            "author": v.author,
            "note": v.note,
            "saved (UTC)": v.created_at,
        }
        for v in reversed(versions)
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        key="prompt_history",
        column_config={"saved (UTC)": st.column_config.DatetimeColumn(format=TIME_FORMAT)},
    )


def editor(
    runtime: AppRuntime, part: str, current: PromptVersion, sessions: Sequence[SessionSummary]
) -> None:
    """The active version in an editor, its preview on a stored session, and saving."""
    text = st.text_area(
        f"{part} as a prompt file (front matter, then the text); based on version "
        f"{current.version}",
        lab.version_text(current),
        height=420,
        key=f"prompt_edit_{part}_{current.version}",
    )
    st.markdown("##### Preview")
    if not sessions:
        st.caption("No stored session to preview on yet: chat with the coach or load the demo.")
    else:
        labels = {s.session_id: f"{s.session_id[:8]} · user {s.user_id[:8]}" for s in sessions}
        left, right = st.columns([3, 1])
        session_id = left.selectbox(
            "Rendered for the session",
            list(labels),
            format_func=labels.__getitem__,
            key="prompt_preview_session",
        )
        session = next(s for s in sessions if s.session_id == session_id)
        at = right.number_input(
            "At turn (0: now)",
            min_value=0,
            max_value=session.turn_count,
            value=0,
            key=f"prompt_preview_turn_{session_id}",
        )
        try:
            context = runtime.run(
                runtime.service.context_manager.load_turn_context(session.user_id, session_id)
            )
            if context is None:
                raise PromptError(f"session {session_id} has no stored context to preview on")
            turn = runtime.run(runtime.db.get_turn(session_id, int(at))) if at else None
            rendered = lab.preview(part, text or "", current, context, turn)
        except PromptError as e:
            st.error(str(e), icon="🚫")
        else:
            tokens = runtime.client.count_tokens(rendered)
            when = f"as turn {at} had it" if at else "now"
            st.caption(f"{tokens:,} tokens ({runtime.client.model}), {when}")
            st.code(rendered, language="markdown", wrap_lines=True)
    with st.form(f"prompt_save_{part}", border=False):
        note = st.text_input("What changed and why", key="prompt_note")
        if current_actor(runtime).via == "off":  # signed in: the author is who signed in
            st.text_input("Your name", value=_typed_author(), key="prompt_author")
        if st.form_submit_button("Save as a new version", type="primary"):
            _save(runtime, part, text or "", note=note)


def _typed_author() -> str:
    """The name the coach gave in the editor (for saves, activations, forks and runs), or
    "coach"."""
    name = st.session_state.get("prompt_author")
    return name.strip() if isinstance(name, str) and name.strip() else "coach"


def _save(runtime: AppRuntime, part: str, text: str, *, note: str) -> None:
    if not note.strip():
        st.error("Say what changed in a note before saving.", icon="🚫")
        return
    try:
        saved = runtime.run(workbench(runtime).save_prompt(part, text, note=note))
    except CoachError as e:
        show_error(e, runtime)
        return
    st.session_state[FLASH_KEY] = saved.describe()
    st.rerun()


def compare(part: str, versions: Sequence[PromptVersion]) -> None:
    """Any two versions side by side, changed lines highlighted (front matter included)."""
    if len(versions) < 2:
        st.caption("Only one version so far: save an edit to compare.")
        return
    numbers = [v.version or 0 for v in versions]
    left, right = st.columns(2)
    # Keyed by part and count: another part, or a new version, starts from the newest two.
    key = f"{part}_{len(numbers)}"
    a = left.selectbox("From version", numbers, index=len(numbers) - 2, key=f"diff_a_{key}")
    b = right.selectbox("To version", numbers, index=len(numbers) - 1, key=f"diff_b_{key}")
    old, new = (next(v for v in versions if v.version == n) for n in (a, b))
    old_lines, new_lines = lab.comparable_lines(old), lab.comparable_lines(new)
    table = difflib.HtmlDiff(wrapcolumn=70).make_table(
        old_lines, new_lines, f"{part}@{a}", f"{part}@{b}"
    )
    changed = sum(1 for line in difflib.ndiff(old_lines, new_lines) if line[:1] in "+-")
    st.caption(f"{part}@{a} → {part}@{b}: {changed} changed lines")
    st.html(_DIFF_STYLE + table)


def activate(
    runtime: AppRuntime, part: str, versions: Sequence[PromptVersion], active: PromptLabel | None
) -> None:
    """Make a version the one the coach uses (rolling back is activating an earlier one)."""
    numbers = [v.version or 0 for v in versions]
    now = active.version if active else None
    st.caption(
        f"Version {now} is active (set by {active.updated_by or 'someone'})."
        if active
        else "No version is active."
    )
    chosen = st.selectbox(
        "Version", numbers, index=len(numbers) - 1, key=f"activate_version_{part}_{len(numbers)}"
    )
    sure = st.checkbox(
        f"Yes: new turns of every session not pinned elsewhere use {part}@{chosen}",
        key="activate_sure",
    )
    st.button(
        f"Activate version {chosen}",
        disabled=not sure or chosen == now,
        key="activate_button",
        on_click=_activate,
        # The revision shown now: a move by someone else meanwhile is refused, not overwritten.
        args=(runtime, part, chosen, None if active is None else active.revision),
    )


def _activate(runtime: AppRuntime, part: str, version: int, seen: int | None) -> None:
    try:
        moved = runtime.run(
            workbench(runtime).activate_prompt(part, version, expected_revision=seen)
        )
    except CoachError as e:
        st.session_state[FLASH_KEY] = f"error: {e}"
        return
    st.session_state[FLASH_KEY] = f"{part}@{moved.version} is active"
    st.session_state["activate_sure"] = False


def try_a_turn(
    runtime: AppRuntime,
    part: str,
    versions: Sequence[PromptVersion],
    active: PromptLabel | None,
    sessions: Sequence[SessionSummary],
) -> None:
    """Try a stored turn again (``ui.experiments``), offering the part's newest version when
    it is not the active one; and every kept experiment."""
    answered = [s for s in sessions if s.turn_count]
    if not answered:
        st.caption("No stored session has a turn yet: chat with the coach or load the demo.")
    else:
        labels = {s.session_id: f"{s.session_id[:8]} · user {s.user_id[:8]}" for s in answered}
        left, right = st.columns([3, 1])
        session_id = left.selectbox(
            "Session", list(labels), format_func=labels.__getitem__, key="try_session"
        )
        session = next(s for s in answered if s.session_id == session_id)
        seq = right.number_input(
            "Turn", 1, session.turn_count, session.turn_count, key=f"try_turn_{session_id}"
        )
        newest = versions[-1].version if versions else None
        offered = f"{part}={newest}" if active is None or newest != active.version else ""
        experiments.on_turn(
            runtime, session_id, int(seq), key=f"prompts_{session_id}_{seq}", versions=offered
        )
    st.markdown("##### Kept experiments")
    with stop_on_error(runtime):
        kept = runtime.run(runtime.db.list_experiments(limit=100))
    if not kept:
        st.caption("None yet: try a turn above, or from a turn in the session inspector.")
        return
    experiments.experiments_table(kept)
    chosen = experiments.kept_experiments(runtime, key="prompts_all_experiments")
    if chosen is not None:
        experiments.show(runtime, chosen)
