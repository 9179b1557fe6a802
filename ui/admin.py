"""The Admin page's parts: the database (schema, rows, size, growth), the model's reachability,
recent failed turns, retention (dry run, then delete as a task of the engine) and the audit
log."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from coach.access.roles import Action
from coach.admin import check_model
from coach.errors import CoachError
from coach.persistence.records import StorageReport
from coach.sessions.retention import KEY as RETENTION
from coach.sessions.retention import RetentionPlan, plan_retention
from ui.access import workbench
from ui.app_runtime import AppRuntime
from ui.paging import current_cursor, pager
from ui.render import escape_markdown, show_error, stop_on_error
from ui.tables import TIME_FORMAT

PLAN_KEY = "admin_retention_found"
FAILED_TURNS = 20
AUDIT_PAGE = 50
#: Sessions of a retention plan listed by id (the counts cover them all).
PLAN_LISTED = 200


def storage(runtime: AppRuntime) -> None:
    """Schema revision, and rows, size and growth per table, read on demand (it counts every
    row)."""
    if not st.button("Count rows and sizes", key="admin_storage", icon="📊"):
        st.caption("Counting reads every table: on millions of rows it takes a few seconds.")
        return
    with st.spinner("Counting…"), stop_on_error(runtime):
        report = runtime.run(runtime.db.describe_storage())
    st.markdown(
        f"**{report.backend}** · `{runtime.settings.describe()['database']}` · schema revision "
        f"`{report.revision or 'none (in memory)'}`"
    )
    st.dataframe(_storage_frame(report), hide_index=True, width="stretch")


def _storage_frame(report: StorageReport) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "table": t.name,
                "rows": t.rows,
                "size": "unknown" if t.bytes is None else f"{t.bytes / 1_000_000:,.2f} MB",
                "added in 24 h": t.added_last_day,
                "per day (7-day average)": (
                    None if t.added_last_week is None else round(t.added_last_week / 7, 1)
                ),
            }
            for t in report.tables
        ],
        columns=["table", "rows", "size", "added in 24 h", "per day (7-day average)"],
    )


def model(runtime: AppRuntime) -> None:
    """The model provider, and one cheap call on demand."""
    client = runtime.client
    st.markdown(f"Provider **{client.provider}** · model `{client.model}`")
    if st.button("Check that the model answers", key="admin_model_check", icon="📡"):
        with st.spinner("Asking the model one tiny question…"):
            found = runtime.run(check_model(client), timeout=runtime.settings.llm_timeout_s + 30)
        if found.reachable:
            st.success(f"Reachable in {found.seconds:.1f} s: {found.detail}", icon="✅")
        else:
            st.error(f"Not reachable ({found.seconds:.1f} s): {found.detail}", icon="🚨")


def failed_turns(runtime: AppRuntime) -> None:
    with stop_on_error(runtime):
        turns = runtime.run(runtime.db.list_failed_turns(limit=FAILED_TURNS))
    if not turns:
        st.caption("No failed turn.")
        return
    frame = pd.DataFrame(
        [
            {
                "when": t.created_at,
                "session": f"/inspector?session_id={t.session_id}&tab=Turns",
                "turn": t.seq,
                "error": t.error or "",
                "model": f"{t.provider}/{t.model}",
            }
            for t in turns
        ]
    )
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "when": st.column_config.DatetimeColumn("when", format=TIME_FORMAT),
            "session": st.column_config.LinkColumn(
                "session", display_text=r"session_id=([0-9a-f]{8})"
            ),
            "error": st.column_config.TextColumn("error", width="large"),
        },
    )


def retention(runtime: AppRuntime) -> None:
    """A dry run first (counts, nothing changed), then delete after an explicit confirmation,
    as a task of the engine with its progress."""
    handle = runtime.service.retention.handle(RETENTION)
    if handle is not None:
        _follow_retention(runtime)
        return
    outcome = runtime.service.retention.outcome
    if outcome is not None:
        st.caption(f"Latest run in this app process: {outcome.describe()}.")
    days = st.number_input(
        "Delete sessions inactive for at least (days)", 1, 3650, 90, key="admin_retention_days"
    )
    if st.button("Dry run: count what would be deleted", key="admin_retention_plan", icon="🔍"):
        with st.spinner("Finding the inactive sessions…"), stop_on_error(runtime):
            st.session_state[PLAN_KEY] = runtime.run(plan_retention(runtime.db, int(days)))
    plan: RetentionPlan | None = st.session_state.get(PLAN_KEY)
    if plan is None or plan.inactive_days != days:
        return
    st.info(f"Dry run: {plan.describe()}. Nothing was changed.", icon="🔍")
    if not plan.sessions:
        return
    with st.expander(f"The sessions ({len(plan.sessions)})"):
        st.code(
            "\n".join(
                f"{s.session_id} · user {s.user_id} · last active {s.last_activity_at:%Y-%m-%d}"
                for s in plan.sessions[:PLAN_LISTED]
            )
            + (
                f"\n… and {len(plan.sessions) - PLAN_LISTED} more"
                if len(plan.sessions) > PLAN_LISTED
                else ""
            ),
            language=None,
        )
    sure = st.checkbox(
        f"Yes: delete these {len(plan.sessions)} session(s) and {len(plan.emptied_user_ids)} "
        "client(s) for good, with everything of theirs",
        key="admin_retention_sure",
    )
    if st.button("Delete", type="primary", disabled=not sure, key="admin_retention_run"):
        try:
            runtime.run(workbench(runtime).run_retention(plan))
        except (CoachError, TimeoutError) as e:
            show_error(e, runtime)
            return
        st.session_state[PLAN_KEY] = None
        st.rerun()


def _follow_retention(runtime: AppRuntime) -> None:
    handle = runtime.service.retention.handle(RETENTION)
    if handle is None:
        return
    bar = st.progress(0.0, text="Deleting…")
    if st.button("Cancel", key="admin_retention_cancel", icon="⏹️"):
        with stop_on_error(runtime):
            runtime.run(workbench(runtime).cancel_retention())
    seen = 0
    while True:
        progress = runtime.run(handle.wait(seen, within_s=0.5))
        seen = progress.seen
        share = progress.done / progress.total if progress.total else 1.0
        bar.progress(share, text=f"Deleting: {progress.done} of {progress.total}")
        if progress.finished:
            break
    if progress.error:
        st.warning(f"Retention stopped: {escape_markdown(progress.error)}", icon="⏹️")
    st.rerun()


def audit_log(runtime: AppRuntime) -> None:
    """Who did what, on which ids, when, and how it went, newest first."""
    actor_column, action_column, target_column = st.columns(3)
    actor = actor_column.text_input("Who (exact)", key="audit_actor").strip()
    action = action_column.selectbox(
        "What",
        [None, *Action],
        format_func=lambda a: "Everything" if a is None else a.value,
        key="audit_action",
    )
    target = target_column.text_input("Id acted on", key="audit_target").strip()
    signature = (actor, action, target)
    with stop_on_error(runtime):
        cursor = current_cursor("audit_pages", signature)
        page = runtime.run(
            runtime.db.list_audit_entries(
                actor=actor or None,
                action=action.value if action else None,
                target_id=target or None,
                limit=AUDIT_PAGE,
                cursor=cursor,
            )
        )
    if not page.items:
        st.caption("No entry matches." if any(signature) else "No entry yet.")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "when": e.at,
                    "who": e.actor,
                    "role": e.role,
                    "what": e.action,
                    "outcome": e.outcome,
                    "ids": ", ".join(e.target_ids[:5])
                    + (f" (+{len(e.target_ids) - 5})" if len(e.target_ids) > 5 else ""),
                    "detail": e.detail,
                }
                for e in page.items
            ]
        ),
        hide_index=True,
        width="stretch",
        column_config={
            "when": st.column_config.DatetimeColumn("when", format=TIME_FORMAT),
            "detail": st.column_config.TextColumn("detail", width="large"),
        },
    )
    pager("audit_pages", page.next_cursor)
