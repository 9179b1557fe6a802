"""Prompts: every prompt part with its versions; edit with a live preview on a stored session,
save as a new version, compare two versions, activate, and try a stored turn again with other
versions (``/prompts?part=…``)."""

from __future__ import annotations

import streamlit as st

from coach.prompts import lab
from coach.prompts.store import ACTIVE
from ui import prompts, render
from ui.access import page_runtime

runtime = page_runtime()
db = runtime.db
st.session_state.setdefault(prompts.FLASH_KEY, None)

st.title("🧪 Prompts")
flash = st.session_state[prompts.FLASH_KEY]
if flash:
    (st.error if flash.startswith("error: ") else st.success)(flash.removeprefix("error: "))
    st.session_state[prompts.FLASH_KEY] = None

with render.stop_on_error(runtime):
    runtime.run(runtime.service.prompts.versions())  # loads the files into an empty store
    parts = runtime.run(lab.overview(db))
prompts.overview(parts)

part = st.selectbox("Part", [p.part for p in parts], key="part", bind="query-params")
with render.stop_on_error(runtime):
    versions = runtime.run(lab.all_versions(db, part))
    labels = runtime.run(db.list_prompt_labels(part))
    current = runtime.run(lab.find_version(db, part))
    sessions = runtime.run(db.list_sessions(limit=50)).items
active = next((x for x in labels if x.label == ACTIVE), None)

st.markdown(f"#### {part}: history")
prompts.history(versions, labels)
edit, compare, activate, trial = st.tabs(
    ["Edit", "Compare", "Activate", "Try a turn"], key="prompt_tab"
)
with edit:
    prompts.editor(runtime, part, current, sessions)
with compare:
    prompts.compare(part, versions)
with activate:
    prompts.activate(runtime, part, versions, active)
with trial:
    prompts.try_a_turn(runtime, part, versions, active, sessions)
