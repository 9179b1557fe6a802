"""Fixtures of the engine tests: the project's prompts, loaded once, and an editable copy; a
fresh in-memory database."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from coach.persistence import DatabaseInterface, create_database
from coach.prompts import DEFAULT_PROMPT_DIR, PromptManager, create_prompt_manager


@pytest.fixture(scope="module")
def manager() -> PromptManager:
    return create_prompt_manager()


@pytest.fixture
def prompt_dir(tmp_path: Path) -> Path:
    """An editable copy of the project's prompt folder."""
    target = tmp_path / "prompts"
    shutil.copytree(DEFAULT_PROMPT_DIR, target)
    return target


@pytest.fixture
async def memory_db() -> DatabaseInterface:
    """A new, empty in-memory database (for tests that need no other backend)."""
    db = create_database("memory")
    await db.initialize()
    return db
