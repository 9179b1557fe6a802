"""Charts of the inspector (Altair specs; Streamlit draws them)."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from coach.enums import CoachingState
from coach.inspection import phase_label
from coach.models import PHASE_ORDER

_KINDS = ["start", "moved", "stayed", "no request", "refused", "refused request", "failed"]
_COLORS = ["#6d5bd0", "#2e9d5b", "#8a8a8a", "#b9b9b9", "#e08a00", "#d62d20", "#7a0000"]
_SHAPES = ["circle", "circle", "circle", "circle", "circle", "cross", "square"]
#: Sessions A and B of a comparison.
_PAIR = ["#6d5bd0", "#e08a00"]


def phase_timeline_chart(points: list[dict[str, Any]]) -> alt.LayerChart:
    """The phase after each turn as a step line; refused requests as red crosses at the phase
    the model asked for."""
    data = pd.DataFrame(points, columns=["turn", "phase", "phase_number", "kind", "detail"])
    phases = [phase_label(p) for p in reversed(PHASE_ORDER)]
    y = alt.Y("phase:N", title=None, scale=alt.Scale(domain=phases))
    x = alt.X("turn:Q", title="Turn", axis=alt.Axis(tickMinStep=1, format="d"))
    base = alt.Chart(data).encode(x=x, y=y)
    line = base.transform_filter(alt.datum.kind != "refused request").mark_line(
        interpolate="step-after", color="#6d5bd0", opacity=0.5
    )
    marks = base.mark_point(filled=True, size=110).encode(
        color=alt.Color("kind:N", title="Turn", scale=alt.Scale(domain=_KINDS, range=_COLORS)),
        shape=alt.Shape("kind:N", scale=alt.Scale(domain=_KINDS, range=_SHAPES), legend=None),
        tooltip=["turn:Q", "phase:N", "kind:N", "detail:N"],
    )
    chart: alt.LayerChart = (line + marks).properties(height=260)
    return chart


def two_phase_paths_chart(a: list[str], b: list[str], *, diverges_at: int | None) -> alt.LayerChart:
    """The phase after each turn of two sessions as step lines on one chart, with the first
    turn where they diverge marked."""
    rows = [
        {"turn": turn, "phase": phase_label(CoachingState(phase)), "session": name}
        for name, path in (("A", a), ("B", b))
        for turn, phase in enumerate(path, start=1)
    ]
    data = pd.DataFrame(rows, columns=["turn", "phase", "session"])
    phases = [phase_label(p) for p in reversed(PHASE_ORDER)]
    lines = (
        alt.Chart(data)
        .mark_line(interpolate="step-after", point=True, opacity=0.7)
        .encode(
            x=alt.X("turn:Q", title="Turn", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("phase:N", title=None, scale=alt.Scale(domain=phases)),
            color=alt.Color("session:N", title="Session", scale=alt.Scale(range=_PAIR)),
            strokeDash=alt.StrokeDash("session:N", legend=None),
            tooltip=["session:N", "turn:Q", "phase:N"],
        )
    )
    marks = pd.DataFrame([{"turn": diverges_at, "label": f"diverge at {diverges_at}"}])
    rule = (
        alt.Chart(marks)
        .mark_rule(color="#d62d20", strokeWidth=2)
        .encode(x="turn:Q", tooltip=["label:N"])
    )
    layers = [lines, rule] if diverges_at else [lines]
    chart: alt.LayerChart = alt.layer(*layers).properties(height=260)
    return chart
