"""The coach page: a chat round trip, failed turns and retry, safe rendering, refused input, and
a fresh copy of the demo."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from coach.demo import DEMO_STEPS
from coach.enums import MessageRole, TurnStatus
from coach.errors import LLMConnectionError
from coach.persistence.records import ContextRecord
from coach.service import StartedSession
from tests.app.helpers import (
    load_demo,
    no_exception,
    open_page,
    reply,
    runtime,
    scripted_client,
    texts,
)
from tests.records import session_records
from ui.chat import export_json
from ui.render import APP_STYLE


def start_client(at: AppTest, name: str = "Robin") -> StartedSession:
    """Start coaching a new client through the page; returns the open session."""
    at.text_input(key="coach_new_name").set_value(name)
    at.button(key="coach_start").click().run()
    no_exception(at)
    user_id, session_id = at.query_params["user_id"], at.query_params["session_id"]
    state = runtime().run(runtime().db.get_state(user_id, session_id))
    assert state is not None
    return StartedSession(user_id, session_id, state.state, None)


def send(at: AppTest, text: str) -> AppTest:
    at.chat_input(key="coach_input").set_value(text).run()
    no_exception(at)
    return at


def stored_messages(info: StartedSession) -> list[tuple[MessageRole, str]]:
    context = runtime().run(runtime().db.get_context(info.user_id, info.session_id))
    assert context is not None
    return [(m.role, m.content) for m in context.messages]


def test_new_client_gets_a_session_with_the_welcome(app: AppTest) -> None:
    info = start_client(app, "Robin")
    user = runtime().run(runtime().db.get_user(info.user_id))
    assert user is not None and user.data["name"] == "Robin"
    assert [role for role, _ in stored_messages(info)] == [MessageRole.COACH]
    assert len(app.chat_message) == 1
    assert "Coaching **Robin**" in texts(app)


def test_chat_round_trip_stores_the_turn(app: AppTest) -> None:
    info = start_client(app)
    scripted_client().enqueue(
        reply(
            "Glad you're here. What brings you?",
            {"type": "save_user_info", "params": {"key": "goal", "value": "Run a marathon"}},
        )
    )
    send(app, "Hi! I want to get fit.")

    turns = runtime().run(runtime().db.list_turns(info.session_id))
    assert [(t.seq, t.status) for t in turns] == [(1, TurnStatus.OK)]
    assert stored_messages(info)[1:] == [
        (MessageRole.USER, "Hi! I want to get fit."),
        (MessageRole.COACH, "Glad you're here. What brings you?"),
    ]
    # the page shows the stored conversation, reloaded after the turn
    assert [m.name for m in app.chat_message] == ["assistant", "user", "assistant"]
    assert "Glad you're here. What brings you?" in texts(app)
    assert app.chat_input(key="coach_input").value is None


def test_a_resubmitted_message_never_makes_a_second_turn(app: AppTest) -> None:
    info = start_client(app)
    scripted_client().enqueue(reply("First answer."), reply("Second answer."))
    send(app, "Hello")
    [turn] = runtime().run(runtime().db.list_turns(info.session_id))
    # an interrupted run leaves the submission pending: it is sent again with the same id
    app.session_state["coach_pending"] = {
        "kind": "send",
        "id": turn.user_message_id,
        "text": "Hello",
        "session_id": info.session_id,
    }
    app.run()
    no_exception(app)
    assert len(runtime().run(runtime().db.list_turns(info.session_id))) == 1
    assert [c for _, c in stored_messages(info)].count("Hello") == 1
    assert scripted_client().pending == 1  # the model was not asked again


def test_a_failed_turn_shows_its_reason_and_retry_answers_it(app: AppTest) -> None:
    info = start_client(app)
    scripted_client().enqueue(LLMConnectionError("the model server could not be reached"))
    send(app, "Are you there?")

    errors = "\n".join(e.value for e in app.error)
    assert "the model server could not be reached" in errors
    assert stored_messages(info)[-1] == (MessageRole.USER, "Are you there?")  # kept
    [failed] = runtime().run(runtime().db.list_turns(info.session_id))
    assert failed.status is TurnStatus.FAILED

    scripted_client().enqueue(reply("Yes, I'm here now."))
    app.button(key=f"retry_{failed.user_message_id}").click().run()
    no_exception(app)

    turns = runtime().run(runtime().db.list_turns(info.session_id))
    assert [t.status for t in turns] == [TurnStatus.FAILED, TurnStatus.OK]
    assert turns[1].user_message_id == failed.user_message_id
    assert stored_messages(info)[-2:] == [
        (MessageRole.USER, "Are you there?"),
        (MessageRole.COACH, "Yes, I'm here now."),
    ]
    assert not app.error
    assert not [b for b in app.button if b.label == "Retry"]


def test_html_in_messages_is_rendered_as_text(app: AppTest) -> None:
    info = start_client(app)
    scripted_client().enqueue(
        reply("Sure <script>alert('coach')</script> <img src=x onerror=alert(1)>")
    )
    send(app, "<script>alert('client')</script> hello")
    contents = [c for _, c in stored_messages(info)]
    assert "<script>alert('client')</script> hello" in contents

    # The only HTML is the app's own style sheet, which holds no message text.
    assert [h.proto.body for h in app.get("html")] == [APP_STYLE], "no message may be HTML"
    assert all(not m.allow_html for m in app.markdown)
    chat_text = [m.value for m in app.markdown if "<script>" in m.value]
    assert len(chat_text) == 2  # both messages, shown as Markdown text with HTML off


def test_refused_input_is_explained_and_changes_nothing(app: AppTest) -> None:
    info = start_client(app)
    before = stored_messages(info)
    send(app, "   \n  ")
    assert "empty" in "\n".join(w.value for w in app.warning)
    send(app, "bad \x07 bell")
    assert "control character" in "\n".join(w.value for w in app.warning)
    assert stored_messages(info) == before
    assert runtime().run(runtime().db.list_turns(info.session_id)) == []


def test_returning_client_continues_or_starts_a_new_session(app: AppTest) -> None:
    first = start_client(app, "Sam")
    app.sidebar.button(key="coach_new_session").click().run()
    no_exception(app)
    second = app.query_params["session_id"]
    assert second != first.session_id and app.query_params["user_id"] == first.user_id
    sessions = runtime().run(runtime().db.get_sessions_for_user(first.user_id))
    assert set(sessions) == {first.session_id, second}

    # reopen the first session through the chooser
    app.selectbox(key="coach_user_pick").set_value(first.user_id).run()
    app.selectbox(key="coach_session_pick").set_value(first.session_id).run()
    app.button(key="coach_continue").click().run()
    no_exception(app)
    assert app.query_params["session_id"] == first.session_id


def test_export_offers_the_session_as_json(app: AppTest) -> None:
    info = start_client(app)
    [download] = app.sidebar.get("download_button")
    assert "Export" in download.proto.label
    bundle = json.loads(export_json(runtime(), info.session_id))
    assert (bundle["format"], bundle["format_version"]) == ("identity-coach-bundle", 2)
    [session] = bundle["records"]["sessions"]
    assert session["session_id"] == info.session_id
    assert bundle["records"]["users"][0]["data"]["name"] == "Robin"


def stored_records(user_id: str, session_id: str) -> tuple[object, ...]:
    """Everything stored of the session and its client."""
    return runtime().run(session_records(runtime().db, user_id, session_id))


def test_a_fresh_copy_of_the_demo_opens_and_the_demo_stays_as_it_was(app: AppTest) -> None:
    start_client(app, "Not A Demo")
    assert "demo session" not in texts(app)
    assert not [b for b in app.button if b.key == "coach_demo_copy"]

    demo = load_demo()
    open_page(app, "pages/coach.py", user_id=demo.user_id, session_id=demo.session_id)
    assert "This is the demo session" in texts(app)
    before = stored_records(demo.user_id, demo.session_id)
    app.sidebar.button(key="coach_demo_copy").click().run()
    no_exception(app)

    user_id, session_id = app.query_params["user_id"], app.query_params["session_id"]
    assert user_id != demo.user_id and session_id != demo.session_id
    assert stored_records(demo.user_id, demo.session_id) == before
    # The copy is open: the demo's whole conversation, itself a demo that can be copied again.
    shown = [m.name for m in app.chat_message]
    assert shown.count("user") == len(DEMO_STEPS) and len(shown) == 2 * len(DEMO_STEPS) + 1
    assert DEMO_STEPS[0].user in texts(app)
    assert "This is the demo session" in texts(app)
    copy = stored_records(user_id, session_id)[2]
    assert isinstance(copy, ContextRecord)
    assert [m.content for m in copy.messages if m.role is MessageRole.USER] == [
        step.user for step in DEMO_STEPS
    ]
    [row, *_] = runtime().run(runtime().db.list_audit_entries(limit=5)).items
    assert (row.action, row.outcome, row.target_ids) == ("copy_demo", "ok", [demo.session_id])
