"""Builders shared by the turn tests: scripted replies, a session brought to brainstorming with
some proposed identities, and a follower that reads a turn the way a page does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coach.llm.base import TextDelta
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseInterface
from coach.service import CoachService, TurnEvent, TurnHandle, TurnResult

USER = "u1"


def reply(message: str, *actions: dict[str, Any]) -> dict[str, Any]:
    return {"message": message, "actions": list(actions)}


def act(kind: str, **params: Any) -> dict[str, Any]:
    return {"type": kind, "params": params}


@dataclass
class Brainstorming:
    """A session of ``USER`` in identity brainstorming, with proposed identities by label."""

    service: CoachService
    client: ScriptedLLMClient
    session_id: str
    identity_ids: dict[str, str]


async def brainstorming(db: DatabaseInterface, *labels: str) -> Brainstorming:
    """Two turns: into brainstorming, then propose ``labels``. The client has no reply left."""
    client = ScriptedLLMClient(
        [
            reply("Let's brainstorm.", act("transition_state", to_state="identity_brainstorming")),
            reply(
                "Some ideas.",
                *(
                    act("create_identity", label=label, category="doer_of_things")
                    for label in labels
                ),
            ),
        ]
    )
    service = CoachService(client, db)
    session_id = (await service.start_session(USER, user_name="Ana")).session_id
    for text in ("Hi", "Who could I be?"):
        result = await service.send_message_and_wait(USER, session_id, text)
        assert result.ok, result.error
    ids = {i.label: i.id for i in await db.get_identities(USER)}
    assert set(ids) == set(labels)
    return Brainstorming(service, client, session_id, ids)


async def follow(handle: TurnHandle | TurnResult) -> list[TurnEvent]:
    """Every event of a turn, read as a page reads it: short waits on the handle."""
    if isinstance(handle, TurnResult):
        return [handle]
    events: list[TurnEvent] = []
    seen = 0
    while True:
        progress = await handle.wait(seen, within_s=0.5)
        events += progress.events
        seen = progress.seen
        assert progress.error is None, progress.error
        if progress.done:
            return events


def split(events: list[TurnEvent]) -> tuple[str, TurnResult]:
    """The streamed text, joined, and the result (which must come last, once)."""
    *deltas, result = events
    assert isinstance(result, TurnResult), result
    assert all(isinstance(e, TextDelta) for e in deltas), deltas
    return "".join(e.text for e in deltas if isinstance(e, TextDelta)), result
