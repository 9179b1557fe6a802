"""The sessions page: tables, filters, search by client name, paging. (A click on a session's
"Open" button cannot be simulated here: tests/browser/test_sessions.py clicks it.)"""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from coach.enums import CoachingState
from tests.app.helpers import load_demo, no_exception, open_page, runtime


def sessions_table(at: AppTest) -> list[str]:
    frame = at.dataframe[1].value
    return list(frame["session"])


def clients(at: AppTest) -> list[tuple[str, str, str]]:
    """(client, user, session) of each row of the sessions table."""
    frame = at.dataframe[1].value
    return list(zip(frame["client"], frame["user"], frame["session"], strict=True))


def test_counts_names_and_the_open_buttons_are_shown(app: AppTest) -> None:
    info = load_demo()
    open_page(app, "pages/sessions.py")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Users"] == "1" and metrics["Turns"] == "10" and metrics["Messages"] == "21"
    assert list(app.dataframe[0].value["name"]) == ["Maya"]
    frame = app.dataframe[1].value
    assert list(frame["open"]) == ["Open"]
    assert clients(app) == [("Maya", f"{info.user_id[:8]}…", info.session_id)]
    assert frame["last activity"].notna().all()


def test_sessions_are_found_by_their_clients_name_and_namesakes_told_apart(app: AppTest) -> None:
    """The search matches the client's name from its start in any case; two clients of one
    name show the start of their user ids, as much as tells them apart."""
    rt = runtime()
    maya = load_demo()
    first = rt.run(rt.service.start_session("client-0001", user_name="Lee Park"))
    second = rt.run(rt.service.start_session("client-0002", user_name="Lee Park"))
    leah = rt.run(rt.service.start_session(user_name="Leah"))
    open_page(app, "pages/sessions.py")
    search = app.text_input(key="session_search")
    assert "Client name" in (search.placeholder or "")

    search.set_value("lee").run()
    no_exception(app)
    assert clients(app) == [
        ("Lee Park", "client-0002", second.session_id),
        ("Lee Park", "client-0001", first.session_id),
    ]
    search.set_value("LE").run()
    assert sessions_table(app) == [leah.session_id, second.session_id, first.session_id]
    search.set_value("park").run()  # from the start of the name, not inside it
    assert sessions_table(app) == []
    search.set_value("mAyA").run()
    assert clients(app) == [("Maya", f"{maya.user_id[:8]}…", maya.session_id)]
    search.set_value("client-0001").run()
    assert sessions_table(app) == [first.session_id]


def test_sessions_are_paged_on_the_server(app: AppTest) -> None:
    rt = runtime()
    user = "pager"
    created = [rt.run(rt.service.start_session(user)).session_id for _ in range(27)]
    open_page(app, "pages/sessions.py")
    app.sidebar.selectbox(key="page_size").set_value(25).run()
    first = sessions_table(app)
    assert len(first) == 25

    app.button(key="sessions_pages_next").click().run()
    no_exception(app)
    second = sessions_table(app)
    assert len(second) == 2
    assert set(first) | set(second) == set(created)
    assert app.button(key="sessions_pages_next").disabled

    app.button(key="sessions_pages_previous").click().run()
    assert sessions_table(app) == first


def test_filters_by_phase_search_and_user(app: AppTest) -> None:
    info = load_demo()
    rt = runtime()
    other = rt.run(rt.service.start_session(user_name="Lee"))
    open_page(app, "pages/sessions.py")
    assert set(sessions_table(app)) == {info.session_id, other.session_id}

    app.selectbox(key="session_phase").set_value(CoachingState.ACCOUNTABILITY).run()
    assert sessions_table(app) == [info.session_id]
    app.selectbox(key="session_phase").set_value(None).run()

    app.text_input(key="session_search").set_value(other.session_id[:8]).run()
    assert sessions_table(app) == [other.session_id]
    app.text_input(key="session_search").set_value("lee").run()
    assert sessions_table(app) == [other.session_id]
    app.text_input(key="session_search").set_value("").run()

    app.text_input(key="user_search").set_value("Lee").run()
    assert list(app.dataframe[0].value["name"]) == ["Lee"]
    app.session_state["users_table"] = {"selection": {"rows": [0], "columns": []}}
    app.run()
    no_exception(app)
    assert sessions_table(app) == [other.session_id]


def test_each_session_shows_its_cost_and_an_unpriced_model_says_so(app: AppTest) -> None:
    info = load_demo()  # the scripted model: free
    open_page(app, "pages/sessions.py")
    assert list(app.dataframe[1].value["cost"]) == ["$0.0000"]

    rt = runtime()
    [last] = rt.run(rt.db.list_turns(info.session_id, after_seq=9, limit=1))
    stored = rt.run(rt.db.get_turn(info.session_id, last.seq or 0))
    assert stored is not None
    priced = stored.model_copy(
        update={"seq": None, "provider": "openai", "model": "mystery-model", "user_message_id": "m"}
    )
    rt.run(rt.db.save_turn(priced))
    open_page(app, "pages/sessions.py")
    assert list(app.dataframe[1].value["cost"]) == ["no price"]
    at = open_page(app, "pages/inspector.py", session_id=info.session_id, tab="Turns")
    cost = next(m for m in at.metric if m.label == "Cost")
    assert cost.value == "no price"
    assert "openai/mystery-model: no price" in (cost.proto.help or "")
    turns = next(d.value for d in at.dataframe if "cost" in d.value.columns)
    assert list(turns["cost"])[-2:] == ["$0.0000", "no price"]
