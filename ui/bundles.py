"""Importing a bundle on the Sessions page: the whole file is checked first and every problem
shown; then everything is written or nothing (``coach.sessions.bundles``)."""

from __future__ import annotations

import streamlit as st

from coach.errors import CoachError
from coach.sessions.bundles import (
    BundleError,
    moved_versions,
    read_bundle,
)
from ui.access import workbench
from ui.app_runtime import AppRuntime
from ui.render import show_error


def import_form(runtime: AppRuntime) -> None:
    max_mb = runtime.settings.max_bundle_mb
    with st.form("import_bundle", clear_on_submit=True):
        uploaded = st.file_uploader(
            f"A bundle (JSON, at most {max_mb} MB): exported from the Coach page or with "
            "`python -m coach export`",
            type=["json"],
            key="bundle_file",
            max_upload_size=max_mb,
        )
        keep_ids = st.checkbox(
            "Keep the bundle's ids (only if none of them is stored here yet)", key="bundle_keep_ids"
        )
        if not st.form_submit_button("Import", type="primary"):
            return
    if uploaded is None:
        st.warning("Choose a bundle file first.", icon="✋")
        return
    try:
        bundle = read_bundle(uploaded.getvalue(), max_mb=max_mb)  # its size is checked first
        stored = runtime.run(workbench(runtime).import_bundle(bundle, keep_ids=keep_ids))
    except BundleError as e:
        # Paths and values from the file: shown as text, never as Markdown.
        st.warning(
            f"**{uploaded.name}** cannot be imported: {len(e.problems)} problem"
            f"{'s' * (len(e.problems) != 1)}. Nothing was written.",
            icon="✋",
        )
        st.code("\n".join(e.problems), language=None, wrap_lines=True)
        return
    except CoachError as e:
        show_error(e, runtime)
        return
    st.success(
        f"Imported {len(stored.users)} user(s) and {len(stored.sessions)} session(s)"
        f"{' with their own ids' if keep_ids else ' under new ids'}.",
        icon="📥",
    )
    for moved in moved_versions(bundle, stored):
        st.info(
            f"Prompt version {moved}: the two databases number their versions apart.",
            icon="🔢",
        )
    for session in stored.sessions:
        st.page_link(
            "pages/inspector.py",
            label=f"Inspect session {session.session_id[:8]} ({len(session.turns)} turns)",
            icon="🔎",
            query_params={"session_id": session.session_id},
        )
