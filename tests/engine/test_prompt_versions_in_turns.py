"""Turns render from the prompt store: the active versions, or those a session is pinned to;
each turn records the versions it used, and a bad stored version fails the turn loudly."""

from __future__ import annotations

from typing import Any

import pytest

from coach.demo import play_demo
from coach.enums import TurnStatus
from coach.errors import InputError
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseInterface, PromptVersion
from coach.prompts import PromptError
from coach.prompts.lab import find_version, preview, version_text
from coach.prompts.library import PromptPin, describe_pin
from coach.prompts.store import ACTIVE
from coach.service import CoachService
from tests.records import new_introduction, stored_turns

SYSTEM_PARTS = "persona@{p}+response_format@{r}+introduction@{i}"


def reply(message: str = "Tell me more.") -> dict[str, Any]:
    return {"message": message, "actions": []}


async def sent_prompt(client: ScriptedLLMClient) -> str:
    return client.requests[-1].messages[0].content


async def test_a_turn_records_and_uses_the_active_versions(db: DatabaseInterface) -> None:
    client = ScriptedLLMClient([reply(), reply()])
    service = CoachService(client, db)
    info = await service.start_session("u1", user_name="Ana")
    await service.send_message_and_wait("u1", info.session_id, "Hello")
    number = await new_introduction(db, "MARKER-B", activate=True)
    await service.send_message_and_wait("u1", info.session_id, "Still me")
    first, second = await stored_turns(db, info.session_id)
    assert first.prompt_version == SYSTEM_PARTS.format(p=1, i=1, r=1)
    assert second.prompt_version == SYSTEM_PARTS.format(p=1, i=number, r=1)
    assert "MARKER-B" not in first.system_prompt
    assert "MARKER-B" in second.system_prompt and "MARKER-B" in await sent_prompt(client)


async def test_a_pinned_session_keeps_its_versions_after_another_is_activated(
    db: DatabaseInterface,
) -> None:
    client = ScriptedLLMClient([reply("pinned"), reply("active")])
    service = CoachService(client, db)
    pinned = await service.start_session("u1", user_name="Ana")
    other = await service.start_session("u2", user_name="Bo")
    await service.pin_prompts("u1", pinned.session_id, PromptPin(versions={"introduction": 1}))
    await new_introduction(db, "MARKER-B", activate=True)
    await service.send_message_and_wait("u1", pinned.session_id, "Hello")
    await service.send_message_and_wait("u2", other.session_id, "Hello")
    [kept] = await stored_turns(db, pinned.session_id)
    [moved] = await stored_turns(db, other.session_id)
    assert kept.prompt_version == SYSTEM_PARTS.format(p=1, i=1, r=1)
    assert "MARKER-B" not in kept.system_prompt
    assert moved.prompt_version == SYSTEM_PARTS.format(p=1, i=2, r=1)
    # Unpinned, the session follows the active versions again.
    await service.pin_prompts("u1", pinned.session_id, None)
    preview = await service.preview_prompt("u1", pinned.session_id)
    assert preview.prompt.version == SYSTEM_PARTS.format(p=1, i=2, r=1)


async def test_a_session_pinned_to_a_label_uses_it_where_a_part_has_it(
    db: DatabaseInterface,
) -> None:
    service = CoachService(ScriptedLLMClient([reply()]), db)
    info = await service.start_session("u1", user_name="Ana")
    number = await new_introduction(db, "MARKER-C", activate=False)
    await db.set_prompt_label("introduction", "candidate", number, expected_revision=None)
    await service.pin_prompts("u1", info.session_id, PromptPin(label="candidate"))
    preview = await service.preview_prompt("u1", info.session_id)
    assert preview.prompt.version == SYSTEM_PARTS.format(p=1, i=number, r=1)
    assert "MARKER-C" in preview.prompt.text


@pytest.mark.parametrize(
    ("pin", "problem"),
    [
        (PromptPin(label="nowhere"), "no prompt part has the label 'nowhere'"),
        (PromptPin(versions={"introduction": 9}), "'introduction' has no version 9"),
        (PromptPin(versions={"intro": 1}), "unknown prompt part(s): intro"),
    ],
)
async def test_a_pin_that_selects_nothing_is_refused_and_not_stored(
    db: DatabaseInterface, pin: PromptPin, problem: str
) -> None:
    service = CoachService(ScriptedLLMClient([]), db)
    info = await service.start_session("u1", user_name="Ana")
    with pytest.raises(PromptError) as error:
        await service.pin_prompts("u1", info.session_id, pin)
    assert problem in str(error.value)
    context = await db.get_context("u1", info.session_id)
    assert context is not None and "prompt_pin" not in context.user_data.get("metadata", {})
    with pytest.raises(InputError):
        await service.pin_prompts("u1", "no-such-session", None)


async def test_a_stored_version_with_a_bad_variable_fails_the_turn_loudly(
    db: DatabaseInterface,
) -> None:
    """The store keeps any text; a version the engine cannot render fails the turn with the
    version and the variable named, and the user's message stays for a retry."""
    client = ScriptedLLMClient([reply()])
    service = CoachService(client, db)
    info = await service.start_session("u1", user_name="Ana")
    [current] = await db.list_prompt_versions("introduction", limit=1)
    bad = await db.add_prompt_version(
        PromptVersion(
            part="introduction",
            body=current.body + "\n{{ client_nmae }}",
            front_matter=current.front_matter,
        )
    )
    await db.set_prompt_label("introduction", ACTIVE, bad.version or 0, expected_revision=1)
    result = await service.send_message_and_wait("u1", info.session_id, "Hello")
    assert not result.ok
    assert "introduction@2" in (result.error or "") and "client_nmae" in (result.error or "")
    [turn] = await stored_turns(db, info.session_id)
    assert turn.status is TurnStatus.FAILED and client.requests == []


def test_a_pin_is_parsed_from_a_label_and_part_number_pairs() -> None:
    assert PromptPin.parse(None, "") is None
    assert PromptPin.parse(None, " introduction=2 , persona=3,") == PromptPin(
        versions={"introduction": 2, "persona": 3}
    )
    assert PromptPin.parse("candidate", "") == PromptPin(label="candidate")
    for bad in ("introduction", "introduction=two", "=2"):
        with pytest.raises(PromptError, match="is not part=number"):
            PromptPin.parse(None, bad)


def test_a_pin_is_described_from_the_stored_context() -> None:
    pinned = {"metadata": {"prompt_pin": {"label": "candidate", "versions": {"persona": 2}}}}
    assert describe_pin(pinned) == "pinned to label 'candidate', persona@2"
    assert describe_pin({}) == "the active versions"
    broken = describe_pin({"metadata": {"prompt_pin": {"versions": {"persona": "two"}}}})
    assert broken.startswith("unusable pin: the session's prompt pin is malformed")


async def test_a_preview_at_turn_n_fills_the_prompt_as_that_turn_had_it(
    memory_db: DatabaseInterface,
) -> None:
    """Each turn records the variables of its system prompt; the lab renders an edit with
    them, so a preview at turn 1 shows the client as they were then."""
    demo = await play_demo(memory_db)
    service = CoachService(ScriptedLLMClient([]), memory_db)
    first = await memory_db.get_turn(demo.session_id, 1)
    assert first is not None
    recorded = first.details["prompt_variables"]
    assert isinstance(recorded, dict) and recorded["identities"] == "none yet"
    context = await service.context_manager.load_turn_context(demo.user_id, demo.session_id)
    assert context is not None
    current = await find_version(memory_db, "introduction")
    text = version_text(current) + "\nKnown identities: {{ identities }}"
    then = preview("introduction", text, current, context, first)
    now = preview("introduction", text, current, context)
    assert "Known identities: none yet" in then
    assert "Creative Visionary" in now.split("Known identities:")[-1]
    # A turn stored before turns recorded their variables cannot be previewed at.
    old = first.model_copy(update={"details": {}})
    with pytest.raises(PromptError, match="recorded no prompt variables"):
        preview("introduction", text, current, context, old)
