"""Benchmark (f): "try a turn" runs in parallel.

A demo session on a SQLite file; its second turn is tried again as the app tries it (an
experiment of the engine, each run stored as it ends) through the real OpenAI SDK
against an OpenAI-compatible server on loopback (``devtools.fake_openai``) that takes
``model_latency_s`` to answer each request, as a remote model would. One run and five runs are
timed in alternating rounds; five sequential runs would take five times one. The target: well
under 5× (the runs wait on the model together, up to eight at a time by default).
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import Stats, environment, print_table
from coach.demo import play_demo
from coach.llm.openai_client import OpenAIClient
from coach.persistence.factory import create_database_from_url
from coach.persistence.records import Experiment
from coach.service import CoachService
from devtools.fake_openai import FakeOpenAIServer, FakeReply

TURN = 2
RUNS = 5
#: "Well under 5x": the five runs take at most this many times one run.
TARGET_RATIO = 2.5


@dataclass(frozen=True)
class TrialsConfig:
    rounds: int = 5
    model_latency_s: float = 0.3

    @classmethod
    def quick(cls) -> TrialsConfig:
        return cls(rounds=1, model_latency_s=0.05)


async def run(*, config: TrialsConfig) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder, FakeOpenAIServer() as server:
        db = create_database_from_url(f"sqlite:///{Path(folder) / 'trials.db'}")
        await db.initialize()
        client = OpenAIClient(api_key="bench", base_url=server.base_url, max_retries=0)
        try:
            demo = await play_demo(db)
            service = CoachService(client, db)
            server.default = FakeReply(
                content=json.dumps({"message": "Tell me more.", "actions": []}),
                delay=config.model_latency_s,
            )
            samples: dict[int, list[float]] = {1: [], RUNS: []}
            for _ in range(config.rounds):
                for runs in samples:
                    started = time.perf_counter()
                    kept = await kept_experiment(service, demo.session_id, runs)
                    samples[runs].append(time.perf_counter() - started)
                    failed = [r.error for r in kept.runs if r.error]
                    assert len(kept.runs) == runs and not failed, f"a run failed: {failed}"
        finally:
            await client.aclose()
            await db.close()
    return report(samples, config)


async def kept_experiment(service: CoachService, session_id: str, runs: int) -> Experiment:
    """Try the turn as the app does (an experiment of the engine), until its runs are stored."""
    started = await service.experiments.start(session_id, TURN, runs=runs)
    handle = service.experiments.handle(started.id)
    if handle is not None:
        await handle.ended()
    kept = await service.db.get_experiment(started.id)
    assert kept is not None
    return kept


def report(samples: dict[int, list[float]], config: TrialsConfig) -> dict[str, Any]:
    one, five = Stats.of_seconds(samples[1]), Stats.of_seconds(samples[RUNS])
    ratio = five.median_ms / one.median_ms
    print_table(
        f"Try a turn: {RUNS} runs against 1, model answering in {config.model_latency_s:.2f} s "
        f"(OpenAI SDK, loopback server), ms ({config.rounds} rounds)",
        ["runs", "median", "p95", f"{RUNS} runs ÷ 1 run"],
        [
            ["1", f"{one.median_ms:,.0f}", f"{one.p95_ms:,.0f}", ""],
            [str(RUNS), f"{five.median_ms:,.0f}", f"{five.p95_ms:,.0f}", f"{ratio:.2f}"],
        ],
    )
    return {
        "environment": environment(),
        "config": config.__dict__,
        "one_run": one.as_dict(),
        "five_runs": five.as_dict(),
        "targets": {
            "five_runs_over_one": round(ratio, 2),
            f"five_runs_under_{TARGET_RATIO}x_one": ratio < TARGET_RATIO,
        },
    }
