"""Benchmark (h): the first visible text of a turn with the bundled offline model.

The client is built and opened as the app opens it (``coach.assembly``: the model loads, then
reads the prompts' shared beginning in the background) and the warm-up is let finish, as it does
while a user picks a client. Then, for each phase in the order a client meets them, the first
turn of the phase and the next one: the phase's system prompt (filled as a few turns in), the
conversation so far and the phase's reply schema, as the engine sends them. Timed: from the call
to the first piece of the reply's ``message`` (what the page shows first). The stream is stopped
there, as a page that goes away stops it.

The 135M model reads the prompt on the CPU: a first turn in a phase reads the phase's own part
(the shared beginning is reused), a next turn only what changed. Target: first visible text within
2 s for any turn after start-up.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from bench.common import Stats, environment, fmt, print_table
from coach.actions import response_schema
from coach.enums import CoachingState
from coach.llm.base import ChatMessage, LLMRequest, TextDelta
from coach.prompts.manager import PromptManager

TARGET_S = 2.0
VARIABLES = {
    "client_name": "Dana",
    "client_goals": "- Feel steady with money\n- Finish what I start",
    "identities": (
        "- 5f0c2a9e · Steady Money Keeper · keeper_of_money · accepted\n"
        "  - open action item 9d1e: check my account every Sunday\n"
        "- 7b3e4c1d · Playful Present Parent · familial_relations · accepted"
    ),
    "focus_identity": "5f0c2a9e · Steady Money Keeper · accepted · affirmation: none yet",
}
CONVERSATION = [
    ChatMessage("assistant", "Welcome! I'm your identity coach. What should I call you?"),
    ChatMessage("user", "I'm Dana. I want to feel steady with money and finish what I start."),
]
NEXT = [
    ChatMessage("assistant", "Steady and finishing things: what would that look like this week?"),
    ChatMessage("user", "Checking my account on Sundays, I think, and a calmer evening."),
]


@dataclass(frozen=True)
class FirstTextConfig:
    phases: tuple[CoachingState, ...] = tuple(CoachingState)
    rounds: int = 2

    @classmethod
    def quick(cls) -> FirstTextConfig:
        return cls(phases=(CoachingState.INTRODUCTION,), rounds=1)


async def first_text_s(client: Any, request: LLMRequest) -> float:
    """Seconds from the call to the first piece of message text; the stream stops there."""
    started = time.perf_counter()
    stream = client.stream(request)
    try:
        async for event in stream:
            if isinstance(event, TextDelta) and event.text:
                return time.perf_counter() - started
    finally:
        await stream.aclose()
    raise AssertionError("the reply had no message text")


def request(prompts: PromptManager, phase: CoachingState, turns: list[ChatMessage]) -> LLMRequest:
    system = prompts.system_prompt(phase, VARIABLES).text
    return LLMRequest(
        messages=[ChatMessage("system", system), *turns],
        response_schema=response_schema(phase),
        temperature=0.0,
    )


async def run(*, config: FirstTextConfig) -> dict[str, Any]:
    from coach.llm.local import LocalLLMClient

    prompts = PromptManager.from_folder()
    samples: dict[str, dict[str, list[float]]] = {
        p.value: {"first": [], "next": []} for p in config.phases
    }
    startup: list[dict[str, float]] = []
    for _ in range(config.rounds):
        client = LocalLLMClient(warm_system_prefix=prompts.shared_system_prefix())
        try:
            started = time.perf_counter()
            await client.load()
            loaded = time.perf_counter() - started
            await client.warmed_up()
            startup.append({"load_s": loaded, "warm_up_s": time.perf_counter() - started})
            for phase in config.phases:
                first = request(prompts, phase, CONVERSATION)
                samples[phase.value]["first"].append(await first_text_s(client, first))
                following = request(prompts, phase, CONVERSATION + NEXT)
                samples[phase.value]["next"].append(await first_text_s(client, following))
        finally:
            await client.aclose()
    return report(samples, startup, config)


def report(
    samples: dict[str, dict[str, list[float]]],
    startup: list[dict[str, float]],
    config: FirstTextConfig,
) -> dict[str, Any]:
    stats = {
        phase: {kind: Stats.of_seconds(values) for kind, values in kinds.items()}
        for phase, kinds in samples.items()
    }
    print_table(
        f"First visible text, bundled SmolLM2-135M (llama.cpp, CPU), ms ({config.rounds} rounds; "
        f"start-up: load {fmt(max(s['load_s'] for s in startup))} s, warm-up done after "
        f"{fmt(max(s['warm_up_s'] for s in startup))} s)",
        ["phase", "first turn median", "first turn max", "next turn median", "next turn max"],
        [
            [
                phase,
                fmt(s["first"].median_ms, 0),
                fmt(s["first"].max_ms, 0),
                fmt(s["next"].median_ms, 0),
                fmt(s["next"].max_ms, 0),
            ]
            for phase, s in stats.items()
        ],
    )
    worst_s = max(s[kind].max_ms for s in stats.values() for kind in s) / 1000
    return {
        "environment": environment(),
        "config": {"phases": [p.value for p in config.phases], "rounds": config.rounds},
        "startup": startup,
        "phases": {p: {k: asdict(v) for k, v in s.items()} for p, s in stats.items()},
        "targets": {
            "worst_first_text_s": round(worst_s, 2),
            f"every_turn_first_text_under_{TARGET_S:g}s": worst_s < TARGET_S,
        },
    }
