"""Trying a stored turn again from the app: the inspector's Turns tab starts an experiment,
shows its runs beside the stored reply, keeps it, and refuses a bad version set; the Prompts
page lists the kept ones."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from coach.enums import JobStatus
from coach.errors import LLMRateLimitError
from tests.app.helpers import no_exception, open_page, reply, runtime, scripted_client
from tests.app.test_inspector import block_text, demo_turn_opened, tab

TURN = 2


def turn_opened(app: AppTest) -> str:
    return demo_turn_opened(app, TURN).session_id


def try_again(app: AppTest, runs: int, versions: str = "") -> None:
    app.number_input(key=f"try_runs_turn_{TURN}").set_value(runs)
    app.text_input(key=f"try_versions_turn_{TURN}").input(versions)
    app.text_input(key=f"try_name_turn_{TURN}").input("shorter intro")
    next(b for b in app.button if b.label == f"Try turn {TURN} again").click()
    app.run()
    no_exception(app)


def test_a_turn_tried_three_times_shows_the_runs_beside_the_stored_reply(app: AppTest) -> None:
    session_id = turn_opened(app)
    scripted_client().enqueue(
        reply("First new answer."), reply("Second new answer."), LLMRateLimitError("429 slow down")
    )
    try_again(app, 3)
    turns = tab(app, "Turns")
    shown = block_text(turns)
    assert "Stored reply" in shown
    for expected in ("Run 1", "Run 2", "Run 3", "First new answer.", "Second new answer."):
        assert expected in shown, expected
    assert "429 slow down" in shown  # a failed run says why
    rt = runtime()
    [kept] = rt.run(rt.db.list_experiments(session_id=session_id))
    assert (kept.name, kept.status, kept.runs_requested) == (
        "shorter intro",
        JobStatus.DONE,
        3,
    )
    # It stays: opened again, the Prompts page lists it.
    open_page(app, "pages/prompts.py", part="introduction")
    app.session_state["prompt_tab"] = "Try a turn"
    app.run()
    frame = "\n".join(d.value.to_string() for d in app.dataframe)
    assert "shorter intro" in frame


def test_a_bad_version_set_is_refused_and_nothing_is_kept(app: AppTest) -> None:
    session_id = turn_opened(app)
    try_again(app, 2, versions="introduction=9")
    assert any("has no version 9" in str(e.value) for e in app.error)
    rt = runtime()
    assert rt.run(rt.db.list_experiments(session_id=session_id)) == []
