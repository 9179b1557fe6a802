"""Two sessions of one user, in two app processes on one database, change the same identity at
the same time. Either both edits land, or the later one is logged ``rejected`` with its reason;
an edit is never silently overwritten.

Session 1's model is asked first and answers only after session 2's whole turn is stored, so
session 1's reply always meets records changed since it read them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from coach.enums import ActionStatus, IdentityState, TurnStatus
from coach.llm.base import LLMRequest
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseInterface
from coach.service import CoachService
from tests.engine.turn_helpers import USER, act, brainstorming, follow, reply, split
from tests.records import stored_turns

EXPLORER = "Brave Explorer"


P, A, D = IdentityState.PROPOSED, IdentityState.ACCEPTED, IdentityState.DISMISSED


@dataclass(frozen=True)
class Race:
    """What session 2 does first, what session 1's late reply does, and what must be stored."""

    second: dict[str, Any]
    first: dict[str, Any]
    #: Session 1's action: applied, or rejected with a reason containing ``reason``.
    first_status: ActionStatus
    reason: str | None
    #: Every identity of the user afterwards: label -> (state, notes).
    stored: dict[str, tuple[IdentityState, list[str]]]


def explorer(action: str, **params: Any) -> dict[str, Any]:
    """An action on Brave Explorer (its id is filled in once it exists)."""
    return act(action, identity_id="<explorer>", **params)


def create(label: str) -> dict[str, Any]:
    return act("create_identity", label=label, category="doer_of_things")


RACES = {
    "note-then-accept": Race(
        second=explorer("add_identity_note", note="Maps since childhood"),
        first=explorer("accept_identity"),
        first_status=ActionStatus.APPLIED,
        reason=None,
        stored={EXPLORER: (A, ["Maps since childhood"])},
    ),
    "dismiss-then-accept": Race(
        second=explorer("dismiss_identity"),
        first=explorer("accept_identity"),
        first_status=ActionStatus.REJECTED,
        reason="dismissed",
        stored={EXPLORER: (D, [])},
    ),
    "rename-then-note": Race(
        second=explorer("update_identity", label="Bold Wanderer"),
        first=explorer("add_identity_note", note="Walks at dawn"),
        first_status=ActionStatus.APPLIED,
        reason=None,
        stored={"Bold Wanderer": (P, ["Walks at dawn"])},
    ),
    "same-new-label": Race(
        second=create("Bold Leader"),
        first=create("Bold Leader"),
        first_status=ActionStatus.REJECTED,
        reason="duplicate label",
        stored={EXPLORER: (P, []), "Bold Leader": (P, [])},
    ),
    "create-then-rename-to-it": Race(
        second=create("Bold Wanderer"),
        first=explorer("update_identity", label="Bold Wanderer"),
        first_status=ActionStatus.REJECTED,
        reason="duplicate label",
        stored={EXPLORER: (P, []), "Bold Wanderer": (P, [])},
    ),
}


def with_id(action: dict[str, Any], identity_id: str) -> dict[str, Any]:
    params = dict(action["params"])
    if params.get("identity_id") == "<explorer>":
        params["identity_id"] = identity_id
    return {**action, "params": params}


@pytest.mark.parametrize("name", list(RACES))
async def test_two_sessions_of_one_user_change_one_identity(
    db: DatabaseInterface, name: str
) -> None:
    race = RACES[name]
    one = await brainstorming(db, EXPLORER)
    explorer_id = one.identity_ids[EXPLORER]
    # Another app process opens a second session of the user (it continues in brainstorming).
    two_client = ScriptedLLMClient([reply("Noted.", with_id(race.second, explorer_id))])
    two = CoachService(two_client, db)
    second_session = (await two.start_session(USER)).session_id

    asked = asyncio.Event()
    second_done = asyncio.Event()

    async def late_reply(request: LLMRequest) -> dict[str, Any]:
        asked.set()
        await second_done.wait()
        return reply("Got it.", with_id(race.first, explorer_id))

    one.client.enqueue(late_reply)
    async with asyncio.timeout(30):
        handle = await one.service.submit(USER, one.session_id, "About the explorer...")
        await asyncio.wait_for(asked.wait(), 10)
        second = await two.send_message_and_wait(USER, second_session, "Explorer...")
        second_done.set()
        text, first = split(await follow(handle))

    assert second.ok and [a.status for a in second.actions] == [ActionStatus.APPLIED]
    assert first.ok, first.error
    assert text == "Got it."
    [action] = first.actions
    assert action.status is race.first_status, action
    if race.reason is not None:
        assert action.reason is not None and race.reason in action.reason
    identities = await db.get_identities(USER)
    assert len(identities) == len(race.stored)
    assert {i.label: (i.state, i.notes) for i in identities} == race.stored
    # The turn log holds what the result says, and every turn of both sessions ended ok.
    turns = await stored_turns(db, one.session_id)
    assert turns[-1].actions == first.actions
    for session_id in (one.session_id, second_session):
        assert {t.status for t in await stored_turns(db, session_id)} == {TurnStatus.OK}
