"""Forks, replays and Compare in the app: a fork started from an opened turn is made by the
engine and linked both ways; Compare shows where a fork diverges; bad ids are named."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from coach.demo import DEMO_STEPS
from coach.enums import JobStatus
from tests.app.helpers import load_demo, no_exception, open_page, runtime, texts
from tests.app.test_inspector import demo_turn_opened
from tests.records import stopped_replay

AT = 6


def test_a_fork_from_a_turn_is_made_linked_both_ways_and_compared(app: AppTest) -> None:
    info = demo_turn_opened(app, AT)
    next(b for b in app.button if b.label == f"Fork after turn {AT}").click()
    app.run()
    no_exception(app)
    shown = texts(app)
    assert f"fork after turn {AT}" in shown and "New session" in shown
    rt = runtime()
    [made] = rt.run(rt.db.list_session_origins(source_session_id=info.session_id))
    assert made.status.value == "done" and made.turns_done == AT
    # The source lists it; the fork names its source.
    app.run()
    assert "↪️ Sessions made from this one (1)" in [e.label for e in app.expander]
    open_page(app, "pages/inspector.py", session_id=made.session_id)
    assert f"This session is a **fork after turn {AT}** of `{info.session_id}`" in texts(app)
    # Compare: the fork stops where the source goes on.
    open_page(app, "pages/compare.py", a=info.session_id, b=made.session_id)
    shown = texts(app)
    assert f"First divergence: turn {AT + 1}" in shown
    assert "only A has it" in shown
    assert f"**Turn {AT + 1}** · ⚠️ first divergence" in shown  # marked in the transcript
    assert f"**Turn {AT}**\n" in shown or f"**Turn {AT}**" in shown.splitlines()


def test_an_exact_replay_from_the_inspector_has_no_difference(app: AppTest) -> None:
    info = load_demo()
    open_page(app, "pages/inspector.py", session_id=info.session_id)
    next(b for b in app.button if b.label == "Replay into a new session").click()
    app.run()
    no_exception(app)
    assert "exact replay, 0 differences from its source" in texts(app)


def test_compare_names_a_missing_session(app: AppTest) -> None:
    info = load_demo()
    open_page(app, "pages/compare.py", a=info.session_id, b="nope")
    assert any("session nope does not exist" in str(e.value) for e in app.warning)


def test_a_fork_for_the_same_client_is_a_new_session_of_that_client(app: AppTest) -> None:
    info = demo_turn_opened(app, AT)
    next(b for b in app.button if b.label == f"Fork after turn {AT} for the same client").click()
    app.run()
    no_exception(app)
    assert f"fork after turn {AT}" in texts(app)
    rt = runtime()
    [made] = rt.run(rt.db.list_session_origins(source_session_id=info.session_id))
    fork = rt.run(rt.db.get_session(made.session_id))
    assert fork is not None and fork.user_id == info.user_id and fork.turn_count == AT


def test_a_stopped_replay_is_resumed_from_the_inspector(app: AppTest) -> None:
    info = load_demo()
    rt = runtime()
    made = rt.run(stopped_replay(rt.db, info.session_id, 4))
    open_page(app, "pages/inspector.py", session_id=made)
    assert "4 of 10 turns: cancelled" in texts(app)
    next(b for b in app.button if b.label == "Resume the exact replay").click()
    app.run()
    no_exception(app)
    assert "exact replay, 0 differences from its source" in texts(app)
    done = rt.run(rt.db.get_session_origin(made))
    assert done is not None and (done.status, done.turns_done) == (JobStatus.DONE, 10)
    assert rt.run(rt.db.get_session(made)).turn_count == len(DEMO_STEPS)
