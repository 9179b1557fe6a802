"""AppTest fixtures: the real app on a fresh SQLite file with the scripted model client.

The app builds one runtime per process (``ui.app_runtime.get_runtime``, cached with
``st.cache_resource``). Tests reach the same cached runtime to feed the scripted client
(``runtime.client.enqueue``) and to check the database; the cache is cleared around every test
so each test gets its own database and client.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP, TIMEOUT_S


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Environment of the app: a new SQLite database and the scripted model client."""
    db_file = tmp_path / "coach.db"
    for name in ("COACH_OPENAI_API_KEY", "COACH_OPENAI_BASE_URL", "COACH_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COACH_DATABASE_URL", f"sqlite:///{db_file}")
    monkeypatch.setenv("COACH_LLM_PROVIDER", "scripted")
    st.cache_resource.clear()
    yield db_file
    st.cache_resource.clear()


@pytest.fixture
def app(app_env: Path) -> AppTest:
    """The app after its first run (the Coach page)."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at
