"""Scripted coaches and scenarios for the eval tests: everything the model says is written here,
so each test knows which conversations must pass."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from coach.evals.scenario import Scenario
from coach.llm.base import LLMClient, LLMRequest
from coach.llm.scripted import Reply, ScriptedLLMClient

BRAINSTORM = {"type": "transition_state", "params": {"to_state": "identity_brainstorming"}}


def scenario(**changes: Any) -> Scenario:
    """A scripted client of three lines; it must reach brainstorming by turn 1 (and whatever
    ``assertions`` says instead)."""
    document: dict[str, Any] = {
        "name": "reaches-brainstorming",
        "client": {"lines": ["I like drawing.", "And cooking.", "That is all."]},
        "opening": "Hello, I want to find out who I am.",
        "max_turns": 4,
        "assertions": [
            {"check": "phase_reached", "phase": "identity_brainstorming", "by_turn": 1},
            {"check": "no_failed_turn"},
        ],
    }
    return Scenario.model_validate({**document, **changes})


def first_turn(request: LLMRequest) -> bool:
    return sum(1 for m in request.messages if m.role == "user") == 1


def coach(
    passes: Callable[[int], bool] = lambda n: True, *, delay_s: float = 0.0
) -> Callable[[LLMRequest], Any]:
    """A coach that moves to brainstorming on the first turn of the conversations ``passes``
    picks (numbered from 1 in the order their first turn is asked), and never otherwise."""
    numbers = itertools.count(1)

    async def reply(request: LLMRequest) -> Reply:
        if delay_s:
            await asyncio.sleep(delay_s)
        if first_turn(request) and passes(next(numbers)):
            return {"message": "Welcome. Let us explore who you are.", "actions": [BRAINSTORM]}
        return {"message": "Tell me more about that.", "actions": []}

    return reply


class ScriptedModels(ScriptedLLMClient):
    """A scripted engine client that can ask other (scripted) models by name, as an
    OpenAI-compatible client asks other models of its server."""

    def __init__(self, others: dict[str, LLMClient], **options: Any) -> None:
        super().__init__(**options)
        self.others = others

    def with_model(self, model: str) -> LLMClient:
        if model == self.model:
            return self
        if model not in self.others:
            return super().with_model(model)
        return self.others[model]
