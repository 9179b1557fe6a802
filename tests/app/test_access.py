"""Access control in the app (AppTest): before sign-in no page shows anything of any client,
even run on its own; roles from OIDC (``AppTest.user``) are enforced by the engine, the refusal
naming the role needed. Signing in with the password is in the browser tests (AppTest does not
submit a form drawn before ``st.navigation``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from coach.persistence.records import AuditEntry
from coach.service import StartedSession
from tests.app.helpers import APP, TIMEOUT_S, load_demo, no_exception, open_page, runtime, texts

PASSWORD = "correct horse battery staple"
PAGES = [
    "pages/coach.py",
    "pages/sessions.py",
    "pages/inspector.py",
    "pages/prompts.py",
    "pages/compare.py",
    "pages/evals.py",
    "pages/admin.py",
]
AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "not-a-real-secret",
    "client_id": "coach",
    "client_secret": "coach-secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}


def everything_shown(at: AppTest) -> str:
    """The texts, and the values and labels of every widget: what the page put in the DOM."""
    parts = [texts(at)]
    for kind in ("text_input", "selectbox", "dataframe", "button", "json", "metric", "expander"):
        for element in getattr(at, kind):
            parts.append(repr(getattr(element, "value", "")))
            parts.append(str(getattr(element, "label", "")))
    return "\n".join(parts)


def audit() -> list[AuditEntry]:
    rt = runtime()
    return rt.run(rt.db.list_audit_entries(limit=100)).items


@pytest.fixture
def password_app(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("COACH_ACCESS_MODE", "password")
    monkeypatch.setenv("COACH_ACCESS_PASSWORD", PASSWORD)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.run()
    no_exception(at)
    return at


def oidc_app(
    monkeypatch: pytest.MonkeyPatch, email: str, **settings: str
) -> tuple[AppTest, StartedSession]:
    """The app signed in through OIDC as ``email`` (in the group "coaches"), with the demo."""
    monkeypatch.setenv("COACH_ACCESS_MODE", "oidc")
    for name, value in settings.items():
        monkeypatch.setenv(f"COACH_{name.upper()}", value)
    demo = load_demo()
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": email, "groups": ["coaches"]}
    at.run()
    no_exception(at)
    return at, demo


def test_oidc_signed_out_sees_only_the_sign_in_button(
    app_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COACH_ACCESS_MODE", "oidc")
    load_demo()
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": False}
    at.run()
    no_exception(at)
    assert [b.label for b in at.button] == ["Sign in"]
    assert "Maya" not in everything_shown(at)


def test_a_viewer_reads_but_deleting_is_refused_with_the_role_named(
    app_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at, demo = oidc_app(monkeypatch, "vic@example.org")
    at = open_page(at, "pages/inspector.py", session_id=demo.session_id)
    assert "Maya" in everything_shown(at)
    at.checkbox(key="confirm_delete_session").check().run()
    at.button(key="delete_session").click().run()
    no_exception(at)

    assert "Delete session needs the admin role" in texts(at)
    rt = runtime()
    assert rt.run(rt.db.get_session(demo.session_id)) is not None
    assert [(e.actor, e.role, e.action, e.outcome) for e in audit()[:2]] == [
        ("vic@example.org", "viewer", "delete_session", "refused"),
        ("vic@example.org", "viewer", "sign_in", "ok"),
    ]


def test_a_group_gives_its_role_and_an_admin_deletes(
    app_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roles = json.dumps({"coaches": "coach", "ana@example.org": "admin"})
    at, demo = oidc_app(monkeypatch, "ana@example.org", access_roles=roles)
    assert "Signed in as **ana@example\\.org** (admin, oidc)" in texts(at)
    at = open_page(at, "pages/inspector.py", session_id=demo.session_id)
    at.checkbox(key="confirm_delete_session").check().run()
    at.button(key="delete_session").click().run()
    no_exception(at)
    rt = runtime()
    assert rt.run(rt.db.get_session(demo.session_id)) is None
    assert audit()[0].action == "delete_session" and audit()[0].outcome == "ok"


def test_without_a_role_nobody_gets_in(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at, _ = oidc_app(monkeypatch, "eve@example.org", access_default_role="none")
    assert "no role is given to you" in texts(at)
    assert "Maya" not in everything_shown(at)
    assert (audit()[0].actor, audit()[0].outcome) == ("eve@example.org", "refused")


def test_password_mode_without_a_password_says_what_to_set(
    app_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COACH_ACCESS_MODE", "password")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.run()
    assert "COACH_ACCESS_PASSWORD" in texts(at)
