"""A fresh copy of the demo: the demo played again for a new client, with the demo's whole
conversation; the demo it was asked from keeps every record as it was. Only a demo session can
be copied, and a demo played before demos were marked is known by its first message."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from coach.access.roles import Actor
from coach.access.workbench import Workbench
from coach.demo import DEMO_KEY, DEMO_STEPS, is_demo, is_demo_session
from coach.errors import InputError
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseInterface
from coach.prompts.library import METADATA_KEY
from coach.service import CoachService
from tests.records import session_records, stored_turns


@pytest.fixture
async def workbench(db: DatabaseInterface) -> AsyncIterator[Workbench]:
    service = CoachService(ScriptedLLMClient([{"message": "Noted.", "actions": []}]), db)
    yield Workbench(service, Actor.local())
    await service.aclose()


async def test_a_copy_is_a_new_client_with_the_demo_and_the_original_is_untouched(
    workbench: Workbench, db: DatabaseInterface
) -> None:
    demo = await workbench.load_demo()
    # Someone chatted in the demo: the copy is the demo as written, not as it is now.
    await workbench.service.send_message_and_wait(demo.user_id, demo.session_id, "One more.")
    before = await session_records(db, demo.user_id, demo.session_id)

    copy = await workbench.copy_demo(demo.session_id)

    assert await session_records(db, demo.user_id, demo.session_id) == before
    assert (copy.user_id, copy.session_id) != (demo.user_id, demo.session_id)
    assert await is_demo_session(db, copy.session_id)
    context = await db.get_context(copy.user_id, copy.session_id)
    assert context is not None
    users = [m.content for m in context.messages if m.role.value == "user"]
    assert users == [step.user for step in DEMO_STEPS]
    assert len(await stored_turns(db, copy.session_id)) == len(DEMO_STEPS)
    [row, *_] = (await db.list_audit_entries(limit=10)).items
    assert (row.action, row.outcome, row.target_ids) == ("copy_demo", "ok", [demo.session_id])
    assert copy.session_id in row.detail


async def test_only_a_demo_session_is_copied(workbench: Workbench, db: DatabaseInterface) -> None:
    other = await workbench.start_session(user_name="Not A Demo")
    users = len((await db.list_users(limit=50)).items)
    with pytest.raises(InputError, match="not a demo session"):
        await workbench.copy_demo(other.session_id)
    assert len((await db.list_users(limit=50)).items) == users
    [row, *_] = (await db.list_audit_entries(limit=10)).items
    assert (row.action, row.outcome) == ("copy_demo", "failed")


async def test_a_demo_played_before_demos_were_marked_is_known_by_its_first_message(
    workbench: Workbench, db: DatabaseInterface
) -> None:
    demo = await workbench.load_demo()
    context = await db.get_context(demo.user_id, demo.session_id)
    assert context is not None and context.user_data[METADATA_KEY][DEMO_KEY]
    unmarked = context.model_copy(update={"user_data": {}})
    assert is_demo(unmarked)
    later = unmarked.model_copy(update={"messages": unmarked.messages[3:]})
    assert not is_demo(later.model_copy(update={"first_message_index": 3}))
    other = await workbench.start_session(user_name="Not A Demo")
    assert not await is_demo_session(db, other.session_id)
    assert not await is_demo_session(db, "no-such-session")
