"""The Admin page (AppTest): storage per table, the model check, failed turns, retention from
the dry run to the deletion, and the audit log."""

from __future__ import annotations

from datetime import timedelta

from streamlit.testing.v1 import AppTest

from coach.persistence.records import RecordBatch, SessionRecords, utcnow
from tests.app.helpers import load_demo, no_exception, open_page, runtime, scripted_client, texts


def admin(app: AppTest) -> AppTest:
    return open_page(app, "pages/admin.py")


def test_storage_lists_every_table_with_its_rows(app: AppTest) -> None:
    load_demo()
    at = admin(app)
    at.button(key="admin_storage").click().run()
    no_exception(at)
    assert "schema revision" in texts(at)
    frame = at.dataframe[0].value
    rows = dict(zip(frame["table"], frame["rows"], strict=True))
    rt = runtime()
    counts = rt.run(rt.db.count_records())
    assert rows["sessions"] == counts["sessions"] == 1
    assert rows["messages"] == counts["messages"]


def test_the_model_check_says_whether_it_answers(app: AppTest) -> None:
    at = admin(app)
    scripted_client().enqueue("OK")
    at.button(key="admin_model_check").click().run()
    no_exception(at)
    assert "Reachable" in texts(at)
    at.button(key="admin_model_check").click().run()  # nothing queued: the scripted model fails
    assert "Not reachable" in texts(at)


def test_failed_turns_are_listed_with_their_error(app: AppTest) -> None:
    rt = runtime()
    started = rt.run(rt.service.start_session(user_name="Fay Example"))
    # Nothing queued: the scripted model has no reply and the turn fails.
    result = rt.run(rt.service.send_message_and_wait(started.user_id, started.session_id, "Hi"))
    assert not result.ok
    at = admin(app)
    failed_table = next(d.value for d in at.dataframe if "error" in d.value.columns)
    assert list(failed_table["error"]) == [result.error]
    assert started.session_id[:8] in failed_table["session"][0]


def test_retention_dry_run_then_delete_with_confirmation(app: AppTest) -> None:
    demo = load_demo()
    rt = runtime()
    old = utcnow() - timedelta(days=200)
    [records] = rt.run(rt.db.list_sessions(limit=1)).items
    rt.run(
        rt.db.import_records(
            RecordBatch(
                sessions=[
                    SessionRecords(
                        session_id="old-session",
                        user_id=demo.user_id,
                        created_at=old,
                        last_activity_at=old,
                    )
                ]
            )
        )
    )
    assert records.session_id == demo.session_id
    at = admin(app)
    at.number_input(key="admin_retention_days").set_value(90).run()
    at.button(key="admin_retention_plan").click().run()
    no_exception(at)
    assert "Dry run: 1 session(s) inactive for 90 day(s)" in texts(at)
    assert "0 client(s) have no other session" in texts(at)
    assert at.button(key="admin_retention_run").disabled
    assert rt.run(rt.db.get_session("old-session")) is not None

    at.checkbox(key="admin_retention_sure").check().run()
    at.button(key="admin_retention_run").click().run()
    no_exception(at)
    handle = rt.service.retention.handle("retention")
    if handle is not None:
        rt.run(handle.ended())
    assert rt.run(rt.db.get_session("old-session")) is None
    assert rt.run(rt.db.get_session(demo.session_id)) is not None

    at = admin(at)
    assert "Latest run in this app process: deleted 1 session(s) and 0 client(s)" in texts(at)
    log = next(d.value for d in at.dataframe if "who" in d.value.columns)
    assert (log["what"][0], log["who"][0], log["outcome"][0]) == ("run_retention", "local", "ok")
    assert "old-session" in log["ids"][0]
