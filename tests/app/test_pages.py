"""Every page renders, on an empty database and with the demo data; first-run and banners."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from coach.models import PHASE_ORDER
from tests.app.helpers import load_demo, no_exception, open_page, runtime, texts

PAGES = ["pages/coach.py", "pages/sessions.py", "pages/inspector.py"]


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_on_an_empty_database(app: AppTest, page: str) -> None:
    open_page(app, page)
    assert app.title[0].value  # the page drew its title


def test_every_page_renders_with_demo_data(app: AppTest) -> None:
    info = load_demo()
    open_page(app, "pages/coach.py", user_id=info.user_id, session_id=info.session_id)
    open_page(app, "pages/sessions.py")
    open_page(app, "pages/inspector.py", session_id=info.session_id)
    assert [t.label for t in app.tabs] == [
        "State",
        "Context",
        "Identities",
        "Turns",
        "Prompt",
        "User",
    ]


def test_empty_database_offers_the_demo_and_loads_it(app: AppTest) -> None:
    app.button(key="coach_demo").click().run()
    no_exception(app)
    counts = runtime().run(runtime().db.count_records())
    assert counts["users"] == 1 and counts["turns"] > 0
    assert app.query_params["session_id"]  # the demo session is open in the coach
    assert "Creative Visionary" in texts(app)


def test_coach_sidebar_shows_all_phases_the_current_one_and_the_focus(app: AppTest) -> None:
    info = load_demo()
    open_page(app, "pages/coach.py", user_id=info.user_id, session_id=info.session_id)
    sidebar = "\n".join(str(m.value) for m in app.sidebar.markdown)
    assert sidebar.count("\n") >= len(PHASE_ORDER) - 1
    assert "**▶ :violet[Accountability]**" in sidebar
    for name in ("Introduction", "Brainstorming", "Refinement", "Visualization"):
        assert f"✓ {name}" in sidebar
    assert "I am a Creative Visionary" in sidebar  # the focus identity's affirmation
    assert "Sketch for 20 minutes" in sidebar  # its action items
    assert "~~Wise Money Keeper~~" in sidebar  # dismissed identities are grouped apart


def test_reload_shows_the_stored_conversation(app: AppTest, app_env: object) -> None:
    """The conversation comes from the database: a new browser session sees it too."""
    info = load_demo()
    fresh = AppTest.from_file(str(app._script_path), default_timeout=app.default_timeout)
    fresh.query_params.update({"user_id": info.user_id, "session_id": info.session_id})
    fresh.run()
    no_exception(fresh)
    assert len(fresh.chat_message) == 21
    assert "lost my spark" in texts(fresh)


def test_settings_are_shown_masked_and_the_key_never(
    app_env: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.app.helpers import APP, TIMEOUT_S

    monkeypatch.setenv("COACH_OPENAI_API_KEY", "sk-very-secret-key")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S).run()
    no_exception(at)
    shown = texts(at)
    assert "sk-very-secret-key" not in shown
    assert "API key: set" in shown


def test_offline_model_banner_says_it_is_tiny_and_how_to_plug_in_a_real_one(
    app_env: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.app.helpers import APP, TIMEOUT_S

    monkeypatch.setenv("COACH_LLM_PROVIDER", "local")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S).run()
    no_exception(at)
    banner = "\n".join(str(i.value) for i in at.info)
    assert "tiny" in banner
    assert "COACH_OPENAI_API_KEY" in banner and "COACH_OPENAI_BASE_URL" in banner
    assert "secrets.toml" in banner


def test_an_unreachable_database_is_shown_with_its_fix(
    app_env: object, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from tests.app.helpers import APP, TIMEOUT_S

    monkeypatch.setenv(
        "COACH_DATABASE_URL", "postgresql+asyncpg://coach:hunter2@127.0.0.1:1/nowhere"
    )
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S).run()
    no_exception(at)
    shown = texts(at)
    assert "The coach could not start" in shown
    assert "hunter2" not in shown
