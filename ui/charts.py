"""Charts of the inspector (Altair specs; Streamlit draws them)."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from coach.enums import CoachingState
from coach.inspection import phase_label
from coach.models import PHASE_ORDER

#: Each kind of point (``coach.inspection.timeline_points``): its name in the legend, colour
#: and shape. A refused request is a cross at the phase the model asked for; the turn itself
#: is an orange point at the phase it kept.
_POINTS = {
    "start": ("session start", "#6d5bd0", "circle"),
    "moved": ("phase changed", "#2e9d5b", "circle"),
    "stayed": ("stayed, as asked", "#8a8a8a", "circle"),
    "no request": ("no change asked", "#b9b9b9", "circle"),
    "refused": ("change refused: phase kept", "#e08a00", "circle"),
    "refused request": ("phase asked for, refused", "#d62d20", "cross"),
    "failed": ("turn failed", "#7a0000", "square"),
}
#: The plot's height; the legend takes more below it (a fixed total height would squeeze it).
_HEIGHT = 260
#: The chart fills the container's width; its height is the plot's plus the legend's.
_AUTOSIZE = alt.AutoSizeParams(type="fit-x", contains="padding")
#: Sessions A and B of a comparison, and the rule at their first divergence.
_PAIR = ["#6d5bd0", "#e08a00"]
_DIVERGENCE = "first divergence"
_DIVERGENCE_COLOR = "#d62d20"


def _legend(title: str, **options: Any) -> alt.Legend:
    # Under the chart, one entry a line: on a phone a legend at its side leaves the plot half
    # the width, and one of two columns is cut off.
    return alt.Legend(title=title, orient="bottom", columns=1, labelLimit=240, **options)


def phase_timeline_chart(points: list[dict[str, Any]]) -> alt.LayerChart:
    """The phase after each turn as a step line; refused requests as red crosses at the phase
    the model asked for. The legend names each colour and shape."""
    data = pd.DataFrame(points, columns=["turn", "phase", "phase_number", "kind", "detail"])
    data["outcome"] = data["kind"].map(lambda kind: _POINTS[kind][0])
    names, colors, shapes = (list(x) for x in zip(*_POINTS.values(), strict=True))
    phases = [phase_label(p) for p in reversed(PHASE_ORDER)]
    y = alt.Y("phase:N", title=None, scale=alt.Scale(domain=phases))
    x = alt.X("turn:Q", title="Turn", axis=alt.Axis(tickMinStep=1, format="d"))
    base = alt.Chart(data).encode(x=x, y=y)
    line = base.transform_filter(alt.datum.kind != "refused request").mark_line(
        interpolate="step-after", color="#6d5bd0", opacity=0.5
    )
    # Colour and shape share the field and the title, so Vega-Lite draws one legend of both;
    # it lists the kinds this chart shows.
    shown = set(data["outcome"])
    legend = _legend("Each turn", values=[name for name in names if name in shown])
    marks = base.mark_point(filled=True, size=110).encode(
        color=alt.Color("outcome:N", scale=alt.Scale(domain=names, range=colors), legend=legend),
        shape=alt.Shape("outcome:N", scale=alt.Scale(domain=names, range=shapes), legend=legend),
        tooltip=["turn:Q", "phase:N", "outcome:N", "detail:N"],
    )
    chart: alt.LayerChart = (line + marks).properties(height=_HEIGHT, autosize=_AUTOSIZE)
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
    # One colour scale for both layers, so the legend names A, B and the divergence rule.
    entries = ["A", "B", *([_DIVERGENCE] if diverges_at else [])]
    color = alt.Scale(domain=entries, range=[*_PAIR, _DIVERGENCE_COLOR][: len(entries)])
    # B dashed (where the two paths run together, both show); the rule solid, in the legend too.
    dash = alt.Scale(domain=entries, range=[[1, 0], [5, 3], [1, 0]][: len(entries)])
    lines = (
        alt.Chart(data)
        .mark_line(interpolate="step-after", point=True, opacity=0.7)
        .encode(
            x=alt.X("turn:Q", title="Turn", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("phase:N", title=None, scale=alt.Scale(domain=phases)),
            color=alt.Color(
                "session:N", scale=color, legend=_legend("Session", symbolType="stroke")
            ),
            strokeDash=alt.StrokeDash("session:N", scale=dash, legend=None),
            tooltip=["session:N", "turn:Q", "phase:N"],
        )
    )
    layers = [lines]
    if diverges_at:
        marks = pd.DataFrame(
            [{"turn": diverges_at, "session": _DIVERGENCE, "label": f"diverge at {diverges_at}"}]
        )
        rule = (
            alt.Chart(marks)
            .mark_rule(strokeWidth=2)
            .encode(x="turn:Q", color=alt.Color("session:N", scale=color), tooltip=["label:N"])
        )
        layers.append(rule)
    chart: alt.LayerChart = alt.layer(*layers).properties(height=_HEIGHT, autosize=_AUTOSIZE)
    return chart
