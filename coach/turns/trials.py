"""Trying a stored turn again: the same input as the turn had (its window of messages, its
summary, its prompt variables), with another prompt version set or model, N times, without
writing anything to the session.

A run's reply is parsed as a turn's is; its actions and phase request are shown as the model
proposed them, not applied (the session's records have moved on since that turn). The runs
stream in parallel, at most ``concurrency`` at once. ``coach.turns.experiments`` runs a trial
as a task of the engine and stores it as an experiment; ``try_turn`` runs one and returns it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from coach.actions import response_schema
from coach.actions.reply import parse_reply
from coach.enums import CoachingState
from coach.errors import InputError, LLMError, LLMResponseError
from coach.llm.base import LLMClient, LLMRequest, LLMResponse, TextDelta
from coach.persistence.base import DatabaseInterface
from coach.persistence.records import (
    MAX_EXPERIMENT_RUNS,
    ExperimentRun,
    TurnRecord,
)
from coach.prompts.library import PromptLibrary, PromptPin
from coach.prompts.loader import PromptError
from coach.prompts.variables import PROMPT_VARIABLES
from coach.window import stored_input

MAX_RUNS = MAX_EXPERIMENT_RUNS
#: Runs waiting on the model at once, by default (as the evals of SPEC §6).
DEFAULT_CONCURRENCY = 8

#: Called with a run's number and the reply's next piece of text, as it streams.
OnDelta = Callable[[int, str], None]
#: Awaited with each run as it ends (in the order they end).
OnRun = Callable[[ExperimentRun], Awaitable[None]]


@dataclass(frozen=True)
class TrialInput:
    """What a stored turn sent to the model, built again with the chosen prompt versions."""

    stored: TurnRecord
    request: LLMRequest
    #: The versions used now (``part@n+...``).
    prompt_version: str


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
    runs: list[ExperimentRun]

    @property
    def stored_actions(self) -> list[dict[str, Any]]:
        return stored_actions(self.stored)

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
            "runs": [run.model_dump(mode="json", exclude={"experiment_id"}) for run in self.runs],
        }


def check_runs(runs: int) -> None:
    if not 1 <= runs <= MAX_RUNS:
        raise InputError(f"runs must be between 1 and {MAX_RUNS}, got {runs}")


def stored_actions(turn: TurnRecord) -> list[dict[str, Any]]:
    """A stored turn's actions as a run's are shown (``type`` and ``params``)."""
    return [{"type": a.type, "params": a.params} for a in turn.actions]


async def prepare(
    db: DatabaseInterface,
    prompts: PromptLibrary,
    session_id: str,
    seq: int,
    pin: PromptPin | None,
) -> TrialInput:
    """The input of turn ``seq`` of the session, with the versions ``pin`` selects (the active
    ones when ``None``).

    Raises:
        InputError: the turn, or a message of its window, does not exist.
        PromptError: the turn is older than the prompt lab (it recorded no prompt variables),
            or the pin selects no valid version set.
    """
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
    sent = await stored_input(db, stored)
    if sent is None:
        raise PromptError(f"turn {seq} recorded no context window; try a newer turn")
    request = LLMRequest(
        messages=sent.chat(prompt.text),
        response_schema=response_schema(stored.state_before),
        schema_name="coach_reply",
    )
    return TrialInput(stored=stored, request=request, prompt_version=prompt.version)


async def run_all(
    client: LLMClient,
    request: LLMRequest,
    runs: int,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    experiment_id: str = "",
    on_delta: OnDelta | None = None,
    on_run: OnRun | None = None,
) -> list[ExperimentRun]:
    """Answer ``request`` ``runs`` times, at most ``concurrency`` at once; runs numbered from 1.

    A run the model fails holds the reason (``error``); the others go on.
    """
    check_runs(runs)
    gate = asyncio.Semaphore(concurrency)

    async def one(number: int) -> ExperimentRun:
        async with gate:
            run = await answer(client, request, number, experiment_id, on_delta)
        if on_run is not None:
            await on_run(run)
        return run

    return list(await asyncio.gather(*(one(n) for n in range(1, runs + 1))))


async def answer(
    client: LLMClient,
    request: LLMRequest,
    number: int,
    experiment_id: str = "",
    on_delta: OnDelta | None = None,
) -> ExperimentRun:
    """One run: the model's streamed reply, parsed as a turn's is."""
    started = time.perf_counter()
    response: LLMResponse | None = None
    try:
        async for event in client.stream(request):
            if isinstance(event, TextDelta):
                if on_delta is not None:
                    on_delta(number, event.text)
            else:
                response = event
        if response is None:
            raise LLMResponseError(f"the {client.provider} client ended its stream without a reply")
        reply = parse_reply(response.data)
    except LLMError as e:
        return ExperimentRun(
            experiment_id=experiment_id, number=number, error=e.reason, latency_ms=_ms(started)
        )
    requested = next(
        (a.params.get("to_state") for a in reply.actions if a.type == "transition_state"), None
    )
    return ExperimentRun(
        experiment_id=experiment_id,
        number=number,
        reply=reply.message,
        actions=[{"type": a.type, "params": a.params} for a in reply.actions],
        requested_phase=requested if isinstance(requested, str) else None,
        input_tokens=response.usage.input_tokens,
        output_tokens=response.usage.output_tokens,
        latency_ms=_ms(started),
    )


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
    on_run: OnRun | None = None,
) -> Trial:
    """Answer turn ``seq`` of the session again ``runs`` times (``run_all``) with the versions
    ``pin`` selects, and return the result. Nothing is written.

    Raises:
        InputError: ``runs`` is not 1–10, or the turn does not exist.
        PromptError: as ``prepare``.
    """
    check_runs(runs)
    trial = await prepare(db, prompts, session_id, seq, pin)
    done = await run_all(client, trial.request, runs, concurrency=concurrency, on_run=on_run)
    return Trial(
        session_id=session_id,
        seq=seq,
        stored=trial.stored,
        stored_reply=await stored_reply(db, trial.stored),
        prompt_version=trial.prompt_version,
        model=f"{client.provider}/{client.model}",
        runs=done,
    )


async def stored_reply(db: DatabaseInterface, turn: TurnRecord) -> str | None:
    """The reply the client got in ``turn`` (``None`` for a failed turn)."""
    if not turn.coach_message_id:
        return None
    answer = await db.get_message(turn.session_id, turn.coach_message_id)
    return None if answer is None else answer.content


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _phase(state: CoachingState | None) -> str | None:
    return None if state is None else state.value
