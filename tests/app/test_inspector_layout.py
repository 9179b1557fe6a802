"""The inspector's and Compare's layout: chart legends, long texts shown whole under tables,
the open tab in the URL (a tab change writes it, a changed URL opens its tab), the header's
metrics in one wrapping row."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from streamlit.testing.v1 import AppTest

from coach.enums import CoachingState
from coach.inspection import phase_timeline, timeline_points
from coach.persistence.records import TurnOutline
from tests.app.helpers import load_demo, no_exception, open_page, reply, runtime, scripted_client
from tests.app.test_inspector import tab
from ui.charts import phase_timeline_chart, two_phase_paths_chart

#: An action type no coach knows: it is rejected with a reason that lists every action type.
UNKNOWN_ACTION = "celebrate_the_breakthrough_with_the_client"


def shown_text(at: AppTest) -> str:
    """The Markdown and captions of the page as a reader sees them (Markdown escapes undone)."""
    parts = [str(getattr(e, "value", "")) for kind in ("markdown", "caption") for e in at.get(kind)]
    return re.sub(r"\\(.)", r"\1", "\n".join(parts))


def legend_of(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Each (channel, encoding) of the spec's layers that draws a legend of a field."""
    return [
        (channel, encoding)
        for layer in spec.get("layer", [])
        for channel, encoding in layer.get("encoding", {}).items()
        if channel in ("color", "shape", "strokeDash")
        and "field" in encoding
        and encoding.get("legend", {}) is not None
    ]


def test_the_phase_chart_legend_names_the_colours_and_the_crosses(app: AppTest) -> None:
    info = load_demo()
    rt = runtime()
    turns = rt.run(rt.db.list_turns(info.session_id))
    points = timeline_points(phase_timeline(turns))
    spec = phase_timeline_chart(points).to_dict()
    legends = dict(legend_of(spec))
    # One legend of both colour and shape (same field and title), so a cross is explained.
    assert set(legends) == {"color", "shape"}
    assert legends["color"]["field"] == legends["shape"]["field"]
    assert legends["color"]["legend"]["title"] == legends["shape"]["legend"]["title"]
    shapes = legends["shape"]["scale"]
    cross = shapes["domain"][shapes["range"].index("cross")]
    assert cross == "phase asked for, refused"
    assert cross in legends["shape"]["legend"]["values"]  # the demo has refused requests

    # The chart the State tab draws carries that legend.
    open_page(app, "pages/inspector.py", session_id=info.session_id)
    [chart] = tab(app, "State").get("vega_lite_chart")
    drawn = json.loads(chart.proto.spec)
    assert "phase asked for, refused" in json.dumps(drawn)
    assert {channel for channel, _ in legend_of(drawn)} == {"color", "shape"}


def test_a_legend_lists_only_the_kinds_of_points_shown() -> None:
    outline = TurnOutline(
        seq=1, state_before=CoachingState.INTRODUCTION, state_after=CoachingState.INTRODUCTION
    )
    points = timeline_points(phase_timeline([outline]))
    spec = phase_timeline_chart(points).to_dict()
    values = dict(legend_of(spec))["color"]["legend"]["values"]
    assert values == ["session start", "no change asked"]


def test_the_compare_chart_legend_names_both_sessions_and_the_divergence() -> None:
    a = ["introduction", "identity_brainstorming", "identity_brainstorming"]
    b = ["introduction", "identity_brainstorming", "identity_refinement"]
    spec = two_phase_paths_chart(a, b, diverges_at=3).to_dict()
    color = spec["layer"][0]["encoding"]["color"]
    assert color["scale"]["domain"] == ["A", "B", "first divergence"]
    assert color["legend"] is not None
    rule = spec["layer"][1]
    assert rule["mark"]["type"] == "rule"
    assert rule["encoding"]["color"]["field"] == "session"  # drawn in the legend's colour
    alone = two_phase_paths_chart(a, a, diverges_at=None).to_dict()
    assert alone["layer"][0]["encoding"]["color"]["scale"]["domain"] == ["A", "B"]


def test_a_long_rejected_action_reason_is_shown_whole(app: AppTest) -> None:
    rt = runtime()
    info = rt.run(rt.service.start_session(user_name="Kim"))
    scripted_client().enqueue(reply("Tell me more.", {"type": UNKNOWN_ACTION, "params": {}}))
    rt.run(rt.service.send_message_and_wait(info.user_id, info.session_id, "Hello."))
    [turn] = rt.run(rt.db.list_turns(info.session_id))
    [action] = turn.actions
    reason = action.reason or ""
    assert len(reason) >= 300 and UNKNOWN_ACTION in reason

    open_page(app, "pages/inspector.py", session_id=info.session_id)
    tab(app, "Turns")
    app.session_state["turn_1"] = True
    app.run()
    no_exception(app)
    shown = shown_text(app)
    assert f"*reason:* {reason}" in shown  # whole, under the actions table
    assert f"{UNKNOWN_ACTION} · rejected" in shown  # the row it belongs to


def test_long_refusal_reasons_and_diff_values_are_shown_whole(app: AppTest) -> None:
    info = load_demo()
    open_page(app, "pages/inspector.py", session_id=info.session_id)
    state = tab(app, "State")
    [timeline] = [d.value for d in state.get("dataframe") if "outcome" in d.value.columns]
    refused = [r for r in timeline["reason"] if len(r) > 40]
    assert refused
    for reason in refused:
        assert f"*reason:* {reason}" in shown_text(app)

    tab(app, "Turns")
    app.session_state["turns_diff_open"] = True
    app.run()
    app.number_input(key="diff_from").set_value(0).run()
    app.number_input(key="diff_to").set_value(10).run()
    no_exception(app)
    [diff] = [d.value for d in app.dataframe if "scope" in d.value.columns]
    long = [v for v in [*diff["before"], *diff["after"]] if len(v) > 40]
    assert long
    shown = shown_text(app)
    for value in long:
        assert value in shown


def test_long_texts_beyond_a_page_are_paged_or_counted() -> None:
    def script() -> None:
        from ui.tables import whole_texts

        rows = [{"turn": i, "reason": f"reason {i:02d} " + "x" * 60} for i in range(25)]
        whole_texts(rows, ["reason"], key="many")
        whole_texts(rows, ["reason"])

    at = AppTest.from_function(script).run()
    no_exception(at)
    page = at.number_input(key="many_whole_page")
    assert (page.value, page.max) == (1, 3)
    shown = shown_text(at)
    assert "reason 09" in shown and "reason 10" not in shown
    assert "15 more rows have texts longer than their cells." in shown
    page.set_value(3).run()
    shown = shown_text(at)
    assert "**turn 24**" in "\n".join(str(m.value) for m in at.markdown)
    assert "reason 24" in shown


def test_compare_shows_long_identity_texts_whole(app: AppTest) -> None:
    info = load_demo()
    rt = runtime()
    other = rt.run(rt.service.start_session(user_name="Kim"))
    open_page(app, "pages/compare.py", a=info.session_id, b=other.session_id)
    [identities] = [d.value for d in app.dataframe if "in A" in d.value.columns]
    long = [v for v in identities["in A"] if len(v) > 40]
    assert long
    shown = shown_text(app)
    for value in long[:10]:
        assert f"*in A:* {value}" in shown


def test_a_tab_change_is_written_to_the_url_and_a_changed_url_opens_its_tab(
    app: AppTest,
) -> None:
    info = load_demo()
    open_page(app, "pages/inspector.py", session_id=info.session_id)
    assert "tab" not in app.query_params
    tab(app, "Turns")
    assert app.query_params["tab"] == "Turns"
    tab(app, "Identities")
    assert app.session_state["tab"] == "Identities"
    # Back in the browser: the URL is the previous one again, and the widget still says
    # Identities. The URL wins.
    app.query_params["tab"] = "Turns"
    app.run()
    no_exception(app)
    assert app.session_state["tab"] == "Turns"
    assert next(t for t in app.tabs if t.label == "Turns").get("expander")
    del app.query_params["tab"]
    app.run()
    assert app.session_state["tab"] == "State"


def test_the_header_metrics_are_one_wrapping_row(app: AppTest) -> None:
    info = load_demo()
    open_page(app, "pages/inspector.py", session_id=info.session_id)
    [header] = [b for b in blocks(app.main) if b.proto.id.endswith("-inspector_header")]
    flex = header.proto.flex_container
    assert flex.direction == flex.Direction.HORIZONTAL and flex.wrap  # not stacked columns
    labels = [m.label for m in header.children.values()]
    assert labels == ["Phase 6 of 6", "Messages", "Turns", "Identities", "Cost"]
    assert "last active" in shown_text(app)  # a time is text in the caption, not a metric


def blocks(node: Any) -> Iterator[Any]:
    """Every block under ``node``, depth first."""
    for child in getattr(node, "children", {}).values():
        if child.type == "flex_container":
            yield child
        yield from blocks(child)
