"""Compare two sessions (``/compare?a=…&b=…``): a fork or replay against its source, or any
two: totals, the first divergence, both phase paths, identities, and the transcript by turn."""

from __future__ import annotations

import streamlit as st

from ui import compare
from ui.access import page_runtime

runtime = page_runtime()
st.title("↔️ Compare sessions")

a = st.query_params.get("a", "")
b = st.query_params.get("b", "")
if not a or not b:
    left, right = st.columns(2)
    a = left.text_input("Session A", value=a, key="compare_a").strip()
    b = right.text_input("Session B", value=b, key="compare_b").strip()
    if not (a and b and st.button("Compare", type="primary")):
        st.caption("Paste two session ids, or open Compare from a fork or replay in the inspector.")
        st.stop()
    st.query_params.update({"a": a, "b": b})
    st.rerun()

found = compare.comparison(runtime, a, b)
compare.totals(found)
compare.divergence(found)
st.markdown("#### Phase paths")
compare.phase_paths(found)
st.markdown("#### Identities found")
compare.identities(found)
st.markdown("#### Transcript by turn")
compare.transcript(runtime, found)
