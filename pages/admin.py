"""Admin: the database's schema, size and growth; the model's reachability; recent failed
turns; retention; the audit log. Reading is open to every role; retention needs admin (checked
by the engine's ``Workbench``)."""

from __future__ import annotations

import streamlit as st

from ui import admin
from ui.access import page_runtime

runtime = page_runtime()

st.title("🛠️ Admin")

st.subheader("Database")
admin.storage(runtime)

st.subheader("Model")
admin.model(runtime)

st.subheader("Recent failed turns")
admin.failed_turns(runtime)

st.subheader("Retention")
admin.retention(runtime)

st.subheader("Audit log")
admin.audit_log(runtime)
