"""Engine overhead per turn, and the bundled local model's speed.

Overhead: whole ``CoachService`` turns with a zero-latency scripted model, so what is timed is
everything except the model: loading the context, building the prompt and the token budget,
summaries when due, applying actions, the phase decision and the single write. Measured around
turn 10 and turn 1,000 of conversations on one SQLite file (the embedded default), the two
lengths side by side (``interleaved_checkpoints``).

Local model: time to first token and tokens per second of SmolLM2-135M through ``LocalLLMClient``.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.common import Stats, environment, fmt, interleaved_checkpoints, print_table, ratio
from coach.enums import CoachingState
from coach.llm.base import ChatMessage, LLMRequest, TextDelta
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseType, create_database
from coach.persistence.records import new_id
from coach.service import CoachService, StartedSession

TARGET_MEDIAN_MS = 5.0
TARGET_FLATNESS = 1.5


@dataclass(frozen=True)
class EngineConfig:
    checkpoints: tuple[int, ...] = (10, 1000)
    window: int = 21  # turns timed around each checkpoint
    sessions: int = 3  # sessions timed at each checkpoint, side by side
    local_runs: int = 3

    @classmethod
    def quick(cls) -> EngineConfig:
        return cls(checkpoints=(5, 30), window=5, sessions=1, local_runs=1)


def scripted_reply(request: LLMRequest) -> dict[str, Any] | str:
    """A coach reply with one action and a 60-word message; a summary for summary requests."""
    if request.response_schema is None:
        return "The client is exploring who they are at work and at home. " * 3
    return {
        "message": "That sounds meaningful. " * 15,
        "actions": [{"type": "save_user_info", "params": {"key": "name", "value": "Dana"}}],
    }


async def engine_overhead(config: EngineConfig, directory: Path) -> dict[str, Any]:
    db = create_database(DatabaseType.SQL, connection_string=f"sqlite:///{directory}/e.db")
    await db.initialize()
    try:
        service = CoachService(ScriptedLLMClient(function=scripted_reply), db)

        async def start() -> StartedSession:
            return await service.start_session(new_id())

        async def play(info: StartedSession, turn: int) -> float:
            started = time.perf_counter()
            result = await service.send_message_and_wait(
                info.user_id, info.session_id, f"Turn {turn}: here is what I think about it. " * 3
            )
            elapsed = time.perf_counter() - started
            assert result.ok, result.error
            return elapsed

        timed = await interleaved_checkpoints(
            config.checkpoints,
            config.window,
            start,
            play,
            per_checkpoint=config.sessions,
            label="engine",
        )
        stats = {c: Stats.of_seconds(samples) for c, samples in timed.items()}
    finally:
        await db.close()
    first, final = config.checkpoints[0], config.checkpoints[-1]
    flatness = ratio(stats[final].median_ms, stats[first].median_ms)
    print_table(
        "Engine overhead per turn (zero-latency scripted model, SQLite file)",
        ["turn", "median ms", "p95 ms", "n"],
        [[c, fmt(s.median_ms), fmt(s.p95_ms), s.n] for c, s in stats.items()],
    )
    return {
        "stats": {str(c): asdict(s) for c, s in stats.items()},
        "targets": {
            f"median_ms_turn_{final}_under_{TARGET_MEDIAN_MS}": stats[final].median_ms
            < TARGET_MEDIAN_MS,
            f"turn_{final}_within_{TARGET_FLATNESS}x_of_turn_{first}": flatness < TARGET_FLATNESS,
            "flatness_ratio": round(flatness, 3),
        },
    }


async def local_model_speed(config: EngineConfig) -> dict[str, Any]:
    from coach.actions import response_schema
    from coach.llm.local import LocalLLMClient

    client = LocalLLMClient()
    request = LLMRequest(
        messages=[
            ChatMessage(role="system", content="You are a warm identity coach. Reply in JSON."),
            ChatMessage(role="user", content="Hi! I want to feel more creative in my work."),
        ],
        response_schema=response_schema(CoachingState.INTRODUCTION),
        max_output_tokens=400,
    )
    runs = []
    try:
        for _ in range(config.local_runs):
            started = time.perf_counter()
            first: float | None = None
            async for event in client.stream(request):
                if isinstance(event, TextDelta) and first is None:
                    first = time.perf_counter() - started
                elif not isinstance(event, TextDelta):
                    total = time.perf_counter() - started
                    tokens = event.usage.output_tokens or client.count_tokens(event.raw)
                    runs.append(
                        {
                            "ttft_ms": (first or total) * 1000,
                            "total_ms": total * 1000,
                            "output_tokens": tokens,
                            "tokens_per_s": tokens / total if total else 0.0,
                        }
                    )
    finally:
        await client.aclose()
    print_table(
        "Local model (SmolLM2-135M-Instruct, llama.cpp, CPU)",
        ["run", "ttft ms", "total ms", "tokens", "tokens/s"],
        [
            [
                i + 1,
                fmt(r["ttft_ms"]),
                fmt(r["total_ms"]),
                r["output_tokens"],
                fmt(r["tokens_per_s"]),
            ]
            for i, r in enumerate(runs)
        ],
    )
    return {"runs": runs}


async def run(*, config: EngineConfig) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        overhead = await engine_overhead(config, Path(tmp))
    local = await local_model_speed(config)
    return {
        "environment": environment(),
        "config": asdict(config),
        "overhead": overhead,
        "local_model": local,
        "targets": overhead["targets"],
    }
