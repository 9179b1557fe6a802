"""The welcome back of a returning client's new session recalls only what there is to recall:
their identities when they have some, their open action items when some are open, and a plain
greeting when there is neither (never "none yet"). A database whose prompt store still holds
the first version of the file keeps working, and loading the files picks up the new one."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from coach.enums import IdentityCategory, IdentityState
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseInterface, DatabaseType, create_database
from coach.persistence.records import ActionItemRecord, IdentityRecord
from coach.prompts import DEFAULT_PROMPT_DIR
from coach.prompts.store import ACTIVE, load_prompt_files
from coach.service import CoachService

GREETING = "Hi Maya, welcome back! It's good to see you again."
QUESTION = "How have things been since we last talked?"

#: ``welcome_back.md`` as version 1 shipped it.
WELCOME_BACK_V1 = """---
name: welcome_back
version: "1"
kind: message
description: >-
  The first coach message of a returning client's new session, stored as is. It recalls their
  identities and open action items by name; the engine fills every variable.
variables:
  client_name: The client's name, used in the greeting ("Hi Maya").
  identity_labels: >-
    The labels of the client's identities that are not dismissed, joined with commas
    ("Steady Money Keeper, Playful Present Dad"); or "none yet".
  open_action_items: >-
    The action items not yet done, each with its identity's label in brackets, joined with
    semicolons ("Check my budget on Sundays (Steady Money Keeper)"); or "none yet".
---
Hi {{ client_name }}, welcome back! It's good to see you again.

Last time we talked about who you want to be: {{ identity_labels }}.

The actions you had planned: {{ open_action_items }}.

How have things been since we last talked?
"""


@pytest.fixture
async def db() -> AsyncIterator[DatabaseInterface]:
    database = create_database(DatabaseType.MEMORY)
    await database.initialize()
    yield database
    await database.close()


async def returning(db: DatabaseInterface, *identities: IdentityRecord) -> str:
    """The welcome back of Maya's second session, after a first one and these identities."""
    service = CoachService(ScriptedLLMClient(), db)
    await service.start_session("maya", user_name="Maya")
    for identity in identities:
        await db.save_identity(identity)
    info = await service.start_session("maya")
    assert info.continues_session_id is not None and info.welcome is not None
    return info.welcome.content


def identity(
    label: str, state: IdentityState = IdentityState.ACCEPTED, *items: ActionItemRecord
) -> IdentityRecord:
    return IdentityRecord(
        user_id="maya",
        label=label,
        category=IdentityCategory.DOER_OF_THINGS,
        state=state,
        action_items=list(items),
    )


async def test_with_nothing_to_recall_the_client_is_simply_greeted(db: DatabaseInterface) -> None:
    assert await returning(db) == f"{GREETING}\n\n{QUESTION}"


async def test_identities_are_recalled_without_a_word_about_actions(db: DatabaseInterface) -> None:
    text = await returning(
        db,
        identity("Steady Money Keeper"),
        identity(
            "Playful Present Dad", IdentityState.REFINED, ActionItemRecord(text="Call", done=True)
        ),
        identity("Night Owl Coder", IdentityState.DISMISSED),
    )
    recall = (
        "Last time we talked about who you want to be: Steady Money Keeper and Playful Present Dad."
    )
    assert text == f"{GREETING}\n\n{recall}\n\n{QUESTION}"


async def test_identities_and_open_actions_are_recalled(db: DatabaseInterface) -> None:
    text = await returning(
        db,
        identity(
            "Steady Money Keeper",
            IdentityState.ACCEPTED,
            ActionItemRecord(text="Check my budget on Sundays"),
        ),
        identity(
            "Playful Present Dad",
            IdentityState.REFINED,
            ActionItemRecord(text="Read a story every night"),
            ActionItemRecord(text="Call grandma", done=True),
        ),
        identity("Bold Leader", IdentityState.PROPOSED),
    )
    assert text == (
        f"{GREETING}\n\n"
        "Last time we talked about who you want to be: Steady Money Keeper, Playful Present Dad "
        "and Bold Leader.\n"
        "The actions you had planned: Check my budget on Sundays (Steady Money Keeper); "
        f"Read a story every night (Playful Present Dad).\n\n{QUESTION}"
    )
    assert "none yet" not in text


async def test_one_open_action_is_said_in_the_singular(db: DatabaseInterface) -> None:
    text = await returning(
        db, identity("Steady Money Keeper", IdentityState.ACCEPTED, ActionItemRecord(text="Budget"))
    )
    assert "The action you had planned: Budget (Steady Money Keeper)." in text


async def test_a_store_holding_version_1_renders_it_until_the_files_are_loaded(
    db: DatabaseInterface, tmp_path: Path
) -> None:
    old_files = tmp_path / "prompts"
    shutil.copytree(DEFAULT_PROMPT_DIR, old_files)
    (old_files / "welcome_back.md").write_text(WELCOME_BACK_V1, encoding="utf-8")
    await load_prompt_files(db, old_files)
    # The engine still fills the variables version 1 needs.
    assert "who you want to be: none yet." in await returning(db)

    loaded = {x.part: x for x in await load_prompt_files(db)}  # what `init-db` does
    assert loaded["welcome_back"].changed and loaded["welcome_back"].version == 2
    assert not loaded["welcome"].changed
    labels = {x.label: x.version for x in await db.list_prompt_labels("welcome_back")}
    assert labels[ACTIVE] == 2
    service = CoachService(ScriptedLLMClient(), db)
    info = await service.start_session("maya")
    assert info.welcome is not None and info.welcome.content == f"{GREETING}\n\n{QUESTION}"
