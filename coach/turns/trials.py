"""Trying a stored turn again: the same input as the turn had (its window of messages, its
summary, its prompt variables), with another prompt version set or model, N times, without
writing anything to the session.

A run's reply is parsed as a turn's is; its actions and phase request are shown as the model
proposed them, not applied (the session's records have moved on since that turn).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from coach.actions import response_schema
from coach.actions.reply import parse_reply
from coach.enums import CoachingState
from coach.errors import InputError, LLMError
from coach.llm.base import LLMClient, LLMRequest
from coach.persistence.base import DatabaseInterface
from coach.persistence.records import MessageRecord, TurnRecord
from coach.prompts.library import PromptLibrary, PromptPin
from coach.prompts.loader import PromptError
from coach.prompts.variables import PROMPT_VARIABLES, SUMMARY_MESSAGE
from coach.window import model_messages

MAX_RUNS = 10
#: Runs waiting on the model at once, by default (as the evals of SPEC §6).
DEFAULT_CONCURRENCY = 8


@dataclass(frozen=True)
class TrialRun:
    """One new answer to the turn's input."""

    number: int
    reply: str | None = None
    #: The actions as the model proposed them (``type`` and ``params``), not applied.
    actions: list[dict[str, Any]] = field(default_factory=list)
    requested_phase: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class Trial:
    """A turn tried again: what was stored, what was sent now, and each run's answer."""

    session_id: str
    seq: int
    stored: TurnRecord
    #: The reply the client got in that turn (``None`` for a failed turn).
    stored_reply: str | None
    prompt_version: str
    model: str
    runs: list[TrialRun]

    @property
    def stored_actions(self) -> list[dict[str, Any]]:
        """The stored turn's actions as a run's are shown (``type`` and ``params``)."""
        return [{"type": a.type, "params": a.params} for a in self.stored.actions]

    def as_json(self) -> dict[str, Any]:
        stored = self.stored
        return {
            "session_id": self.session_id,
            "turn": self.seq,
            "stored": {
                "prompt_version": stored.prompt_version,
                "model": f"{stored.provider}/{stored.model}",
                "reply": self.stored_reply,
                "actions": self.stored_actions,
                "requested_phase": _phase(stored.requested_transition),
                "input_tokens": stored.input_tokens,
                "output_tokens": stored.output_tokens,
            },
            "prompt_version": self.prompt_version,
            "model": self.model,
            "runs": [asdict(run) for run in self.runs],
        }


async def try_turn(
    db: DatabaseInterface,
    prompts: PromptLibrary,
    client: LLMClient,
    session_id: str,
    seq: int,
    *,
    runs: int = 3,
    pin: PromptPin | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_run: Callable[[TrialRun], None] | None = None,
) -> Trial:
    """Answer turn ``seq`` of the session again ``runs`` times, at most ``concurrency`` at
    once, with the versions ``pin`` selects (the active ones when ``None``). Nothing is written.

    ``on_run`` is called with each run as it ends (in the order they end).

    Raises:
        InputError: ``runs`` is not 1–10, or the turn does not exist.
        PromptError: the turn is older than the prompt lab (it recorded no prompt variables),
            or the pin selects no valid version set.
    """
    if not 1 <= runs <= MAX_RUNS:
        raise InputError(f"runs must be between 1 and {MAX_RUNS}, got {runs}")
    stored = await db.get_turn(session_id, seq)
    if stored is None:
        raise InputError(f"session {session_id} has no turn {seq}")
    variables = stored.details.get(PROMPT_VARIABLES)
    if not isinstance(variables, dict):
        raise PromptError(
            f"turn {seq} recorded no prompt variables (it is older than the prompt lab), so its "
            "input cannot be built again; try a newer turn"
        )
    manager = await prompts.manager(pin)
    prompt = manager.system_prompt(stored.state_before, {k: str(v) for k, v in variables.items()})
    summary = stored.details.get(SUMMARY_MESSAGE)
    request = LLMRequest(
        messages=model_messages(
            prompt.text,
            summary if isinstance(summary, str) else "",
            await _window_messages(db, stored),
        ),
        response_schema=response_schema(stored.state_before),
        schema_name="coach_reply",
    )
    gate = asyncio.Semaphore(concurrency)

    async def one(number: int) -> TrialRun:
        async with gate:
            run = await _run(client, request, number)
        if on_run is not None:
            on_run(run)
        return run

    done = await asyncio.gather(*(one(n) for n in range(1, runs + 1)))
    answer = (
        await db.get_message(session_id, stored.coach_message_id)
        if stored.coach_message_id
        else None
    )
    return Trial(
        session_id=session_id,
        seq=seq,
        stored=stored,
        stored_reply=None if answer is None else answer.content,
        prompt_version=prompt.version,
        model=f"{client.provider}/{client.model}",
        runs=list(done),
    )


async def _window_messages(db: DatabaseInterface, turn: TurnRecord) -> list[MessageRecord]:
    window = turn.details.get("context_window")
    ids = window.get("included_message_ids") if isinstance(window, dict) else None
    if not isinstance(ids, list):
        raise PromptError(f"turn {turn.seq} recorded no context window; try a newer turn")
    messages = []
    for message_id in ids:
        message = await db.get_message(turn.session_id, str(message_id))
        if message is None:
            raise InputError(f"message {message_id} of turn {turn.seq} is no longer stored")
        messages.append(message)
    return messages


async def _run(client: LLMClient, request: LLMRequest, number: int) -> TrialRun:
    started = time.perf_counter()
    try:
        response = await client.complete(request)
        reply = parse_reply(response.data)
    except LLMError as e:
        return TrialRun(number, error=e.reason, latency_ms=_ms(started))
    actions: list[dict[str, Any]] = [{"type": a.type, "params": a.params} for a in reply.actions]
    requested = next(
        (a.params.get("to_state") for a in reply.actions if a.type == "transition_state"), None
    )
    return TrialRun(
        number,
        reply=reply.message,
        actions=actions,
        requested_phase=requested if isinstance(requested, str) else None,
        input_tokens=response.usage.input_tokens,
        output_tokens=response.usage.output_tokens,
        latency_ms=_ms(started),
    )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _phase(state: CoachingState | None) -> str | None:
    return None if state is None else state.value
