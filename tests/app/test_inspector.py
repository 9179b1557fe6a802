"""The session inspector: each tab shows the stored values; delete asks first."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

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


@pytest.fixture
def demo(app: AppTest) -> StartedSession:
    info = load_demo()
    open_page(app, "pages/inspector.py", session_id=info.session_id)
    return info


def tab(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    """Open the tab (only the open tab is drawn) and return it."""
    at.session_state["tab"] = label
    at.run()
    no_exception(at)
    return next(t for t in at.tabs if t.label == label)


def demo_turn_opened(at: AppTest, seq: int) -> StartedSession:
    """The demo session in the inspector, its Turns tab open with turn ``seq`` opened."""
    info = load_demo()
    open_page(at, "pages/inspector.py", session_id=info.session_id)
    tab(at, "Turns")
    at.session_state[f"turn_{seq}"] = True
    at.run()
    no_exception(at)
    return info


def frames(block) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(d.value.to_string() for d in block.get("dataframe"))


def block_text(block) -> str:  # type: ignore[no-untyped-def]
    parts = []
    for kind in ("markdown", "caption", "code", "error", "metric"):
        parts += [str(getattr(e, "value", "")) for e in block.get(kind)]
    return "\n".join(parts)


def test_state_tab_shows_the_phase_and_the_transitions(app: AppTest, demo: StartedSession) -> None:
    state = tab(app, "State")
    shown = block_text(state)
    assert '"state": "accountability"' in shown
    assert "Creative Visionary" in shown  # the focus
    table = frames(state)
    assert "refused" in table and "moved" in table
    assert "needs at least 3 accepted identities" in table
    assert state.get("vega_lite_chart")


def test_context_tab_shows_messages_summary_and_the_window(
    app: AppTest, demo: StartedSession
) -> None:
    context = tab(app, "Context")
    table = frames(context)
    assert "lost my spark" in table
    assert "sent" in table
    assert "System prompt" in table and "Summary" in table
    assert '"summarized_until"' in block_text(context)


def test_identities_tab_shows_labels_and_history(app: AppTest, demo: StartedSession) -> None:
    identities = tab(app, "Identities")
    table = frames(identities)
    for label in ("Creative Visionary", "Devoted Parent", "Energetic Athlete", "Wise Money Keeper"):
        assert label in table
    assert "duplicate label" in table  # the rejected duplicate, in Creative Visionary's history
    assert "mark_identity_refined" in table
    labels = [e.label for e in identities.expander]
    assert any(label.startswith("Creative Visionary · refined") for label in labels)


def test_turns_tab_shows_actions_reasons_prompt_and_diff(
    app: AppTest, demo: StartedSession
) -> None:
    turns = tab(app, "Turns")
    assert "rejected" in frames(turns)
    entries = [e for e in turns.expander if e.label.startswith("Turn ")]
    assert len(entries) == 10
    assert sum("phase change refused" in e.label for e in entries) == 2
    assert "You are an identity coach" not in block_text(turns)  # a turn is drawn when opened
    for seq in range(1, 11):
        app.session_state[f"turn_{seq}"] = True
    app.run()
    no_exception(app)
    turns = next(t for t in app.tabs if t.label == "Turns")
    assert "set_affirmation is not allowed in phase identity_brainstorming" in frames(turns)
    shown = block_text(turns)
    assert "You are an identity coach" in shown  # the system prompt sent
    assert '"message": "Welcome, Maya.' in shown  # raw model output

    frames_shown = tab(app, "Turns").get("dataframe")
    assert not [d for d in frames_shown if "scope" in d.value.columns], "drawn when opened"
    app.session_state["turns_diff_open"] = True
    app.run()
    app.number_input(key="diff_from").set_value(0).run()
    app.number_input(key="diff_to").set_value(10).run()
    no_exception(app)
    [diff] = [d.value for d in tab(app, "Turns").get("dataframe") if "scope" in d.value.columns]
    rows = {(r.subject, r.field): (r.before, r.after) for r in diff.itertuples()}
    assert rows[("session", "phase")] == ("introduction", "accountability")
    assert rows[("Wise Money Keeper", "state")] == ("—", "dismissed")
    assert rows[("user", "name")] == ("—", "Maya")


def test_prompt_tab_shows_the_exact_next_prompt(app: AppTest, demo: StartedSession) -> None:
    rt = runtime()
    preview = rt.run(rt.service.preview_prompt(demo.user_id, demo.session_id))
    codes = [c.value for c in tab(app, "Prompt").get("code")]
    assert preview.prompt.text in codes


def pin(app: AppTest, versions: str) -> str:
    """Submit the Prompt tab's pin form with these versions; return what the page shows."""
    prompt = tab(app, "Prompt")
    prompt.text_input(key="pin_versions").input(versions)
    prompt.button[0].click()  # the form's submit button
    app.run()
    no_exception(app)
    return texts(app)


def test_the_prompt_tab_pins_the_session_and_the_header_shows_it(
    app: AppTest, demo: StartedSession
) -> None:
    assert "prompts: the active versions" in texts(app)
    assert "prompts: pinned to introduction@1, persona@1" in pin(app, "introduction=1, persona=1")
    # A version that does not exist is refused, and the pin stays as it was.
    shown = pin(app, "introduction=9")
    assert "has no version 9" in shown
    assert "prompts: pinned to introduction@1, persona@1" in shown
    # Unpinned: the active versions again.
    assert "prompts: the active versions" in pin(app, "")


def test_user_tab_shows_the_user_record(app: AppTest, demo: StartedSession) -> None:
    user = tab(app, "User")
    shown = block_text(user)
    assert '"name": "Maya"' in shown
    assert "Get my creative spark back" in shown
    assert demo.session_id in frames(user)  # the user's sessions, paged


def test_user_tab_pages_through_many_sessions(app: AppTest) -> None:
    rt = runtime()
    first = rt.run(rt.service.start_session(user_name="Kim"))
    opened = [first.session_id] + [
        rt.run(rt.service.start_session(first.user_id)).session_id for _ in range(21)
    ]
    open_page(app, "pages/inspector.py", session_id=first.session_id, tab="User")
    shown = frames(next(t for t in app.tabs if t.label == "User"))
    assert opened[-1] in shown and first.session_id not in shown  # newest first, 20 a page
    app.button(key="user_sessions_pages_next").click().run()
    no_exception(app)
    shown = frames(next(t for t in app.tabs if t.label == "User"))
    assert first.session_id in shown and opened[-1] not in shown


def test_without_a_session_id_a_selector_opens_one(app: AppTest) -> None:
    info = load_demo()
    open_page(app, "pages/inspector.py")
    assert app.selectbox(key="pick").value == info.session_id
    app.button(key="open_session").click().run()
    no_exception(app)
    assert app.query_params["session_id"] == info.session_id
    assert len(app.tabs) == 6 and app.tabs[0].label == "State"
    assert app.tabs[0].get("vega_lite_chart")  # the State tab is open and drawn
    assert not app.tabs[3].get("expander")  # the others are not drawn until opened


def test_only_the_open_tab_is_drawn_and_a_deep_link_opens_one(
    app: AppTest, demo: StartedSession
) -> None:
    turns = next(t for t in app.tabs if t.label == "Turns")
    assert not turns.get("expander")
    open_page(app, "pages/inspector.py", session_id=demo.session_id, tab="Turns")
    turns = next(t for t in app.tabs if t.label == "Turns")
    assert len([e for e in turns.expander if e.label.startswith("Turn ")]) == 10
    assert not next(t for t in app.tabs if t.label == "State").get("vega_lite_chart")


def test_deleting_a_session_needs_confirmation(app: AppTest, demo: StartedSession) -> None:
    rt = runtime()
    assert app.button(key="delete_session").disabled
    app.checkbox(key="confirm_delete_session").check().run()
    app.button(key="delete_session").click().run()
    no_exception(app)
    assert rt.run(rt.db.get_session(demo.session_id)) is None
    assert rt.run(rt.db.get_user(demo.user_id)) is not None  # the user stays
    assert "was deleted" in texts(app)
    assert "session_id" not in app.query_params


def test_deleting_a_user_removes_everything_of_theirs(app: AppTest, demo: StartedSession) -> None:
    rt = runtime()
    app.checkbox(key="confirm_delete_user").check().run()
    app.button(key="delete_user").click().run()
    no_exception(app)
    counts = rt.run(rt.db.count_records())
    assert counts["users"] == 0 and counts["messages"] == 0 and counts["identities"] == 0


def test_messages_of_a_long_session_are_paged(app: AppTest) -> None:
    rt = runtime()
    info = rt.run(rt.service.start_session(user_name="Kim"))
    scripted_client().enqueue(*[reply(f"answer {i}") for i in range(30)])
    for i in range(30):
        rt.run(rt.service.send_message_and_wait(info.user_id, info.session_id, f"question {i}"))
    open_page(app, "pages/inspector.py", session_id=info.session_id)

    context = tab(app, "Context")
    page = app.number_input(key="context_messages_page")
    assert (page.value, page.max) == (2, 2)  # 61 messages: the newest page first
    assert "Messages #50–#60 of 61." in block_text(context)
    page.set_value(1).run()
    no_exception(app)
    shown = frames(next(t for t in app.tabs if t.label == "Context"))
    assert "question 0" in shown and "answer 29" not in shown


def folding_session(monkeypatch: pytest.MonkeyPatch, summaries: list[str]) -> AppTest:
    """The inspector open on a session of Kim's with three turns, each folding older messages
    into a summary (a context budget below the system prompt): the summarizer answers with
    ``summaries`` in order, then the last one again."""
    from coach.llm.base import LLMRequest
    from tests.app.helpers import APP, TIMEOUT_S

    monkeypatch.setenv("COACH_CONTEXT_TOKEN_BUDGET", "200")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S).run()
    rt = runtime()
    answers = iter(summaries)

    def answer(request: LLMRequest) -> dict[str, object] | str:
        if request.response_schema is None:
            return next(answers, summaries[-1])
        return reply("Tell me more.")

    scripted_client().function = answer
    info = rt.run(rt.service.start_session(user_name="Kim"))
    for text in ("I sleep badly.", "Mostly on weekdays.", "I read my phone in bed."):
        rt.run(rt.service.send_message_and_wait(info.user_id, info.session_id, text))
    open_page(at, "pages/inspector.py", session_id=info.session_id)
    return at


def test_context_tab_shows_which_messages_were_folded_into_the_summary(
    app_env: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The budget is less than the system prompt: every turn folds.
    at = folding_session(monkeypatch, ["Kim wants to sleep better."])

    context = tab(at, "Context")
    shown = block_text(context)
    assert "Kim wants to sleep better." in shown
    assert "are folded into the summary" in shown
    statuses = list(context.get("dataframe")[-1].value["context window"])
    assert statuses[0] == "folded into summary"
    assert "sent" in statuses


def test_a_tab_in_the_link_matches_in_any_case_and_an_unknown_one_is_said(
    app: AppTest,
) -> None:
    info = load_demo()
    open_page(app, "pages/inspector.py", session_id=info.session_id, tab="turns")
    assert app.session_state["tab"] == "Turns"
    assert not app.warning
    open_page(app, "pages/inspector.py", session_id=info.session_id, tab="Nope")
    [warning] = app.warning
    assert warning.value.startswith("There is no tab 'Nope'; the tabs are State, Context")
    assert app.session_state["tab"] == "State"


# --- what a turn sent to the model (issue 14) ---------------------------------------------------


def returning_client() -> tuple[StartedSession, StartedSession]:
    """A client's two sessions: the first about cooking, the second with one turn."""
    rt = runtime()
    first = rt.run(rt.service.start_session(user_name="Kim"))
    scripted_client().enqueue(reply("Cooking sounds lovely."), reply("Welcome back, Kim."))
    rt.run(rt.service.send_message_and_wait(first.user_id, first.session_id, "I love cooking."))
    second = rt.run(rt.service.start_session(first.user_id))
    rt.run(rt.service.send_message_and_wait(first.user_id, second.session_id, "Hello again."))
    return first, second


def test_an_opened_turn_shows_the_model_input_as_sent_with_the_earlier_session(
    app: AppTest,
) -> None:
    _, second = returning_client()
    sent = [m.content for m in scripted_client().requests[-1].messages]
    open_page(app, "pages/inspector.py", session_id=second.session_id, tab="Turns")
    app.session_state["turn_1"] = True
    app.run()
    no_exception(app)
    turns = next(t for t in app.tabs if t.label == "Turns")

    codes = [str(c.value) for c in turns.get("code")]
    # Every message the model was sent, in order: the system prompt (once), the summary
    # message carrying the earlier session, the client's and the coach's messages.
    assert codes[: len(sent)] == sent
    assert len(sent) == 4 and codes.count(sent[0]) == 1
    assert sent[1].startswith("Summary of the client's earlier sessions:")
    assert "cooking" in sent[1]
    shown = block_text(turns)
    assert "Carried from the client's earlier session** — sent as a second system message" in (
        shown
    )
    # The client's message and the reply by their text; no message ids (the record is folded).
    markdown = [str(m.value) for m in turns.get("markdown")]
    assert "Hello again." in markdown and "Welcome back, Kim." in markdown
    rt = runtime()
    turn = rt.run(rt.db.get_turn(second.session_id, 1))
    assert turn is not None and turn.user_message_id not in shown
    assert turn.coach_message_id is not None and turn.coach_message_id not in shown


def test_the_context_tab_shows_what_was_carried_and_links_its_session(app: AppTest) -> None:
    first, second = returning_client()
    open_page(app, "pages/inspector.py", session_id=second.session_id)
    context = tab(app, "Context")
    shown = block_text(context)
    assert "#### Carried from the client's earlier session" in shown
    assert any("Client: I love cooking." in str(c.value) for c in context.get("code"))
    link = f"[Open the session it came from](/inspector?session_id={first.session_id})"
    assert link in shown


def test_a_first_session_carries_nothing(app: AppTest) -> None:
    first, _ = returning_client()
    open_page(app, "pages/inspector.py", session_id=first.session_id)
    assert "Carried from the client's earlier session" not in block_text(tab(app, "Context"))


def test_the_summary_history_shows_each_step_and_a_refused_placeholder(
    app_env: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    summaries = [
        "(None yet)",
        "Kim wants to sleep better.",
        "Kim wants to sleep better and reads in bed.",
    ]
    at = folding_session(monkeypatch, summaries)

    context = tab(at, "Context")
    assert "(None yet)" not in block_text(context)  # the current summary is a real one
    assert not [f for f in context.get("dataframe") if "outcome" in f.value.columns]
    at.session_state["summary_history_open"] = True  # opened on demand
    at.run()
    no_exception(at)
    context = next(t for t in at.tabs if t.label == "Context")
    [history] = [f.value for f in context.get("dataframe") if "outcome" in f.value.columns]
    steps = {row.turn: row for row in history.itertuples()}
    assert list(steps) == [3, 2, 1]
    assert steps[1].outcome == "failed: the context was kept"
    assert "'(None yet)', a placeholder, not a summary" in steps[1][4]
    assert steps[2].outcome.startswith("folded ") and steps[2][4] == "Kim wants to sleep better."
    # Each step: what the summarizer was sent (its prompt, the transcript) and its raw output.
    codes = [str(c.value) for c in context.get("code")]
    assert sum(c.startswith("You keep the memory of a coaching conversation") for c in codes) == 3
    assert any(c.endswith("\nClient: I sleep badly.\nCoach: Tell me more.") for c in codes)
    assert "(None yet)" in codes and "Kim wants to sleep better." in codes
    shown = block_text(context)
    assert "**Summarizer prompt:** `summarizer`" in shown
    assert "**Sampling:** temperature `not sent (the provider's default)`" in shown


def store_old_turn(user_id: str, session_id: str, text: str) -> None:
    """Store a turn as turns were stored before they recorded their window and sampling."""
    from coach.enums import CoachingState, MessageRole, TurnStatus
    from coach.persistence.records import MessageRecord, TurnCommit, TurnRecord

    rt = runtime()
    context = rt.run(rt.db.get_context(user_id, session_id, message_limit=0))
    assert context is not None
    message = MessageRecord(role=MessageRole.USER, content=text)
    context.messages.append(message)
    turn = TurnRecord(
        session_id=session_id,
        user_id=user_id,
        user_message_id=message.id,
        state_before=CoachingState.INTRODUCTION,
        state_after=CoachingState.INTRODUCTION,
        status=TurnStatus.FAILED,
        error="an old failure",
        system_prompt="An old system prompt.",
    )
    rt.run(rt.db.commit_turn(TurnCommit(context=context, turn=turn)))


def test_a_turn_shows_its_sampling_settings_and_an_old_one_says_not_recorded(
    app: AppTest,
) -> None:
    rt = runtime()
    info = rt.run(rt.service.start_session(user_name="Kim"))
    scripted_client().enqueue(reply("Hi Kim."))
    rt.run(rt.service.send_message_and_wait(info.user_id, info.session_id, "Hello."))
    store_old_turn(info.user_id, info.session_id, "An old question.")
    open_page(app, "pages/inspector.py", session_id=info.session_id, tab="Turns")
    app.session_state["turn_1"] = True
    app.session_state["turn_2"] = True
    app.run()
    no_exception(app)
    entries = {e.label.split(" · ")[0]: e for e in tab(app, "Turns").expander}
    new, old = block_text(entries["Turn 1"]), block_text(entries["Turn 2"])

    assert (
        "**Sampling:** temperature `not sent (the provider's default)` · max output tokens "
        "`not sent (the provider's default)` · seed `not sent (the provider's default)` · "
        "sampled `no`"
    ) in new
    assert "**Sampling:** not recorded" in old
    assert "recorded no context window" in old and "An old system prompt." in old
    assert "An old question." in old and "No reply: the turn failed." in old


def test_the_prompt_tab_shows_the_prompt_once_and_folds_the_rest(
    app: AppTest, demo: StartedSession
) -> None:
    rt = runtime()
    preview = rt.run(rt.service.preview_prompt(demo.user_id, demo.session_id))
    prompt = tab(app, "Prompt")
    codes = [str(c.value) for c in prompt.get("code")]
    assert sum("You are an identity coach" in c for c in codes) == 1  # not again as JSON
    assert codes[: len(preview.request.messages)] == [m.content for m in preview.request.messages]
    assert not any('"properties"' in c for c in codes)  # the schema is folded ...
    labels = [e.label for e in prompt.expander]
    assert "Reply schema for this phase (JSON)" in labels
    app.session_state["prompt_schema"] = True
    app.session_state["prompt_input_json"] = True
    app.run()
    no_exception(app)
    codes = [str(c.value) for c in tab(app, "Prompt").get("code")]
    assert any('"properties"' in c for c in codes)  # ... and drawn when opened
    assert any('"role": "system"' in c for c in codes)
