"""Trying a stored turn again: the turn's own input with other prompt versions, N runs in
parallel, nothing written; clear refusals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from coach.demo import play_demo
from coach.enums import CoachingState, MessageRole
from coach.errors import InputError, LLMRateLimitError
from coach.llm.base import LLMRequest, StreamEvent
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseInterface, PromptVersion, TurnRecord
from coach.persistence.records import ExperimentRun
from coach.prompts import PromptError
from coach.prompts.library import PromptPin
from coach.service import CoachService
from coach.turns.trials import DEFAULT_CONCURRENCY

TURN = 2  # the demo's second turn: introduction, answered with a phase change
BRAINSTORMING = "identity_brainstorming"


def reply(message: str, *actions: dict[str, Any]) -> dict[str, Any]:
    return {"message": message, "actions": list(actions)}


async def snapshot(db: DatabaseInterface, session_id: str) -> tuple[Any, ...]:
    turns = await db.list_turns(session_id)
    return (await db.count_records(), turns, await db.list_messages(session_id, limit=1000))


async def test_runs_answer_the_turns_own_input_with_other_versions_and_write_nothing(
    db: DatabaseInterface,
) -> None:
    demo = await play_demo(db)
    stored = await db.get_turn(demo.session_id, TURN)
    assert stored is not None
    [intro] = await db.list_prompt_versions("introduction", limit=1)
    await db.add_prompt_version(
        PromptVersion(
            part="introduction",
            body=intro.body + "\nTRIAL-MARKER",
            front_matter=intro.front_matter,
        )
    )
    before = await snapshot(db, demo.session_id)
    client = ScriptedLLMClient(
        [
            reply("One.", {"type": "transition_state", "params": {"to_state": BRAINSTORMING}}),
            reply("Two."),
            LLMRateLimitError("rate limited (HTTP 429)"),
        ]
    )
    service = CoachService(client, db)
    seen: list[ExperimentRun] = []

    async def on_run(run: ExperimentRun) -> None:
        seen.append(run)

    pin = PromptPin(versions={"introduction": 2})
    trial = await service.try_turn(demo.session_id, TURN, runs=3, pin=pin, on_run=on_run)
    assert await snapshot(db, demo.session_id) == before  # nothing written
    assert trial.prompt_version == "persona@1+response_format@1+introduction@2"
    assert trial.stored.prompt_version == "persona@1+response_format@1+introduction@1"
    assert len(client.requests) == 3 and len(seen) == 3
    request = client.requests[0]
    assert "TRIAL-MARKER" in request.messages[0].content
    # The same conversation as the stored turn: its window, in order, ending with its message.
    window = stored.details["context_window"]
    assert isinstance(window, dict)
    sent = [m.content for m in request.messages[1:]]
    ids = window["included_message_ids"]
    assert isinstance(ids, list)
    window_messages = [await db.get_message(demo.session_id, str(i)) for i in ids]
    assert sent == [m.content for m in window_messages if m is not None]
    last = await db.get_message(demo.session_id, stored.user_message_id)
    assert last is not None and sent[-1] == last.content and last.role is MessageRole.USER
    # The stored system prompt is the same version set's rendering of the same variables.
    unchanged = await service.try_turn(demo.session_id, TURN, runs=1)
    assert client.requests[-1].messages[0].content == stored.system_prompt
    assert unchanged.prompt_version == stored.prompt_version
    assert [r.number for r in trial.runs] == [1, 2, 3]
    outcomes = [(r.reply, r.requested_phase, r.error) for r in trial.runs]
    assert ("One.", BRAINSTORMING, None) in outcomes and ("Two.", None, None) in outcomes
    assert any(r.error and "429" in r.error for r in trial.runs)
    assert trial.stored_reply is not None
    assert trial.as_json()["stored"]["reply"] == trial.stored_reply


class SlowClient(ScriptedLLMClient):
    """Counts the runs waiting on the model at once."""

    def __init__(self) -> None:
        super().__init__([])
        self.now = self.most = 0

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamEvent]:
        self.now += 1
        self.most = max(self.most, self.now)
        await asyncio.sleep(0.05)
        self.now -= 1
        self.enqueue(reply("ok"))
        async for event in super().stream(request):
            yield event


async def test_runs_go_in_parallel_within_the_bound(memory_db: DatabaseInterface) -> None:
    demo = await play_demo(memory_db)
    client = SlowClient()
    service = CoachService(client, memory_db)
    trial = await service.try_turn(demo.session_id, TURN, runs=10)
    assert [r.reply for r in trial.runs] == ["ok"] * 10
    assert client.most == DEFAULT_CONCURRENCY  # more than one at once, never more than the bound


@pytest.mark.parametrize("runs", [0, 11])
async def test_a_run_count_out_of_range_is_refused(memory_db: DatabaseInterface, runs: int) -> None:
    demo = await play_demo(memory_db)
    with pytest.raises(InputError, match="between 1 and 10"):
        await CoachService(ScriptedLLMClient([]), memory_db).try_turn(demo.session_id, 1, runs=runs)


async def test_a_missing_or_unrecorded_turn_is_refused(memory_db: DatabaseInterface) -> None:
    demo = await play_demo(memory_db)
    service = CoachService(ScriptedLLMClient([]), memory_db)
    with pytest.raises(InputError, match="has no turn 99"):
        await service.try_turn(demo.session_id, 99)
    # A turn stored before turns recorded their input.
    old = await memory_db.save_turn(
        TurnRecord(
            session_id=demo.session_id,
            user_id=demo.user_id,
            user_message_id="m-old",
            state_before=CoachingState.ACCOUNTABILITY,
            state_after=CoachingState.ACCOUNTABILITY,
        )
    )
    with pytest.raises(PromptError, match="recorded no prompt variables"):
        await service.try_turn(demo.session_id, old.seq or 0)
