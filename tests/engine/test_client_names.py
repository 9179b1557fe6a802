"""The client's name through whole turns and a coach's edits: a name a person gave is kept
against the model, the rejection is on the turn's actions, and a coach's edits are saved at the
version they saw and audited."""

from __future__ import annotations

import pytest

from coach.access.roles import Actor, Role
from coach.access.workbench import Workbench
from coach.enums import ActionStatus, IdentityCategory, IdentityState
from coach.errors import ConcurrencyError, InputError
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence.memory import InMemoryDatabase
from coach.persistence.records import IdentityRecord
from coach.service import CoachService
from tests.engine.turn_helpers import act, reply

ANA = Actor("ana@example.org", Role.COACH, via="oidc")


def coach_saying(*names: str) -> CoachService:
    replies = [reply(f"Hello {n}.", act("save_user_info", key="name", value=n)) for n in names]
    return CoachService(ScriptedLLMClient(replies), InMemoryDatabase())


async def test_a_name_given_at_start_is_kept_and_the_rejection_is_on_the_turn() -> None:
    service = coach_saying("Maya")
    started = await service.start_session("u-1", user_name="Edge Case")
    await service.send_message_and_wait("u-1", started.session_id, "Hi there")

    user = await service.db.get_user("u-1")
    assert user is not None
    assert (user.data["name"], user.data["name_set_by"]) == ("Edge Case", "start")
    [turn] = await service.db.list_turns(started.session_id)
    [action] = turn.actions
    assert (action.type, action.status, action.params) == (
        "save_user_info",
        ActionStatus.REJECTED,
        {"key": "name", "value": "Maya"},
    )
    assert action.reason is not None
    assert "'Edge Case' was given when the session started" in action.reason


async def test_the_model_sets_a_name_nobody_gave_and_the_turn_shows_it() -> None:
    service = coach_saying("Riley")
    started = await service.start_session("u-1")
    await service.send_message_and_wait("u-1", started.session_id, "I am Riley")

    user = await service.db.get_user("u-1")
    assert user is not None and user.data == {"name": "Riley", "name_set_by": "model"}
    [turn] = await service.db.list_turns(started.session_id)
    assert [(a.status, a.params["value"]) for a in turn.actions] == [
        (ActionStatus.APPLIED, "Riley")
    ]


async def test_a_coach_s_edit_is_kept_against_the_model_and_audited() -> None:
    service = coach_saying("Riley", "Maya")
    started = await service.start_session("u-1")
    await service.send_message_and_wait("u-1", started.session_id, "I am Riley")
    seen = await service.db.get_user("u-1")
    assert seen is not None

    edited = await Workbench(service, ANA).edit_client(
        seen, name="  Sam   Example ", goals=["Rest more", " "]
    )
    assert edited.data == {"name": "Sam Example", "name_set_by": "coach", "goals": ["Rest more"]}
    [row] = (await service.db.list_audit_entries(limit=5)).items[:1]
    assert (row.actor, row.action, row.outcome, row.target_ids, row.detail) == (
        "ana@example.org",
        "edit_client",
        "ok",
        ["u-1"],
        "edited name, goals",
    )

    await service.send_message_and_wait("u-1", started.session_id, "Call me Maya")
    user = await service.db.get_user("u-1")
    assert user is not None and user.data["name"] == "Sam Example"
    last = (await service.db.list_turns(started.session_id))[-1]
    assert "was set by a coach" in (last.actions[0].reason or "")


async def test_an_edit_from_a_stale_page_is_refused_and_writes_nothing() -> None:
    service = coach_saying()
    await service.start_session("u-1", user_name="Ana Example")
    seen = await service.db.get_user("u-1")
    assert seen is not None
    bench = Workbench(service, ANA)
    await bench.edit_client(seen, name="First Edit")
    with pytest.raises(ConcurrencyError):
        await bench.edit_client(seen, name="Second Edit")
    user = await service.db.get_user("u-1")
    assert user is not None and user.data["name"] == "First Edit"
    assert (await service.db.list_audit_entries(limit=1)).items[0].outcome == "failed"


async def test_a_coach_edits_an_identity_s_label_and_state() -> None:
    service = coach_saying()
    await service.start_session("u-1")
    identity = await service.db.save_identity(
        IdentityRecord(user_id="u-1", label="Calm Parent", category=IdentityCategory.SPIRITUAL)
    )
    bench = Workbench(service, ANA)

    edited = await bench.edit_identity(
        identity, label="Calm  Present Parent", state=IdentityState.ACCEPTED
    )
    assert (edited.label, edited.state) == ("Calm Present Parent", IdentityState.ACCEPTED)
    assert (await service.db.list_audit_entries(limit=1)).items[0].detail == "edited label, state"
    with pytest.raises(InputError, match="no affirmation"):
        await bench.edit_identity(edited, state=IdentityState.REFINED)
    with pytest.raises(InputError, match="empty"):
        await bench.edit_identity(edited, label="  ")
