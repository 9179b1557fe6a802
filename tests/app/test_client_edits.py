"""The inspector's edits of a client: the name and goals, an identity's label and state; each
saved, audited as the signed-in actor's edit, and the model's changes to the data highlighted."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.app.helpers import load_demo, no_exception, open_page, runtime, texts
from tests.app.test_inspector import demo_turn_opened, tab


def test_the_user_tab_edits_the_name_and_goals_and_audits_it(app: AppTest) -> None:
    info = load_demo()
    open_page(app, "pages/inspector.py", session_id=info.session_id)
    tab(app, "User")
    assert "given when the session started; the model cannot change it" in texts(app)

    [name] = [w for w in app.text_input if w.label == "Name"]
    [goals] = [w for w in app.text_area if w.label == "Goals (one per line)"]
    assert (name.value, goals.value) == ("Maya", "Get my creative spark back")
    name.set_value("Maya Example")
    goals.set_value("Get my creative spark back\nSleep before midnight")
    [save] = [b for b in app.button if b.label == "Save the client's data"]
    save.click().run()
    no_exception(app)

    rt = runtime()
    user = rt.run(rt.db.get_user(info.user_id))
    assert user is not None
    assert user.data["name"] == "Maya Example" and user.data["name_set_by"] == "coach"
    assert user.data["goals"] == ["Get my creative spark back", "Sleep before midnight"]
    row = rt.run(rt.db.list_audit_entries(limit=1)).items[0]
    assert (row.actor, row.action, row.outcome, row.detail) == (
        "local",
        "edit_client",
        "ok",
        "edited name, goals",
    )
    assert "The client's data was saved." in texts(app)
    assert "set by a coach; the model cannot change it" in texts(app)


def test_the_identities_tab_edits_a_label_and_a_state(app: AppTest) -> None:
    info = load_demo()
    open_page(app, "pages/inspector.py", session_id=info.session_id)
    tab(app, "Identities")
    labels = [w for w in app.text_input if w.label == "Label"]
    index = [w.value for w in labels].index("Devoted Parent")
    labels[index].set_value("Devoted Present Parent")
    [w for w in app.selectbox if w.label == "State"][index].set_value("dismissed")
    [b for b in app.button if b.label == "Save the identity"][index].click().run()
    no_exception(app)

    rt = runtime()
    edited = {i.label: i for i in rt.run(rt.db.get_identities(info.user_id))}
    assert edited["Devoted Present Parent"].state.value == "dismissed"
    assert "Devoted Parent" not in edited
    row = rt.run(rt.db.list_audit_entries(limit=1)).items[0]
    assert (row.action, row.detail) == ("edit_client", "edited label, state")
    assert "The identity “Devoted Present Parent” was saved." in texts(app)


def test_a_refused_identity_edit_says_why_and_changes_nothing(app: AppTest) -> None:
    info = load_demo()
    open_page(app, "pages/inspector.py", session_id=info.session_id)
    tab(app, "Identities")
    labels = [w for w in app.text_input if w.label == "Label"]
    index = [w.value for w in labels].index("Devoted Parent")
    [w for w in app.selectbox if w.label == "State"][index].set_value("refined")
    [b for b in app.button if b.label == "Save the identity"][index].click().run()
    no_exception(app)
    assert "has no affirmation, so it cannot be refined" in texts(app)
    rt = runtime()
    states = {i.label: i.state.value for i in rt.run(rt.db.get_identities(info.user_id))}
    assert states["Devoted Parent"] == "accepted"


def test_a_turn_that_saved_the_name_highlights_it(app: AppTest) -> None:
    demo_turn_opened(app, 1)
    shown = [str(e.value) for e in app.info]  # Markdown source: the full stop is escaped
    assert "The model saved the client's name as “Maya”\\." in shown
