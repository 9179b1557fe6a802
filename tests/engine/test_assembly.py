"""Settings resolution and how the app opens its database and model client."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from coach.assembly import open_database, open_llm_client
from coach.config import Settings
from coach.errors import SchemaOutdatedError


async def test_a_new_database_gets_its_schema(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/new/coach.db")
    db = await open_database(settings)
    try:
        await db.check_schema()
        assert (await db.count_records())["users"] == 0
    finally:
        await db.close()


async def test_an_existing_database_with_another_schema_is_not_migrated(
    tmp_path: Path, migrated_sqlite_url: str
) -> None:
    path = migrated_sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'from_the_future'")
    with pytest.raises(SchemaOutdatedError, match="newer than this app"):
        await open_database(Settings(database_url=migrated_sqlite_url))
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("from_the_future",)
        ]


def test_environment_beats_secrets_which_beat_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COACH_OPENAI_MODEL", "from-env")
    settings = Settings.resolve({"openai_model": "from-secrets", "COACH_MAX_MESSAGE_CHARS": 99})
    assert settings.openai_model == "from-env"
    assert settings.max_message_chars == 99
    assert settings.context_token_budget == Settings().context_token_budget


def test_provider_defaults_to_local_without_a_key_and_openai_with_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COACH_OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("COACH_LLM_PROVIDER", raising=False)
    assert Settings.resolve().effective_provider == "local"
    assert Settings.resolve({"openai_api_key": "sk-x"}).effective_provider == "openai"
    assert Settings.resolve().effective_database_url == "sqlite:///data/coach.db"


def test_describe_masks_the_password_and_never_shows_the_key() -> None:
    settings = Settings(
        database_url="postgresql+asyncpg://coach:hunter2@db.example/coach",
        openai_api_key="sk-very-secret",
    )
    shown = str(settings.describe())
    assert "hunter2" not in shown and "sk-very-secret" not in shown
    assert "coach:***@db.example" in shown and "'api_key': 'set'" in shown
    assert "sk-very-secret" not in repr(settings)


async def test_openai_provider_without_a_key_says_which_setting_to_fill() -> None:
    from coach.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="COACH_OPENAI_API_KEY"):
        await open_llm_client(Settings(llm_provider="openai"))
