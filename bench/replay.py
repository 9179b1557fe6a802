"""Benchmark (g): exact replay speed.

The demo session played 30 times over in one session (300 turns, summaries included) on a
SQLite file, then replayed exactly (the recorded outputs through the real engine, no model)
``rounds`` times. Reported: turns per second of each replay; target at least 200 (SPEC §6).
The session is played first by the engine with the scripted model, which is the same engine
work without the comparisons, as a reference.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import environment, print_table
from coach.demo import DEMO_STEPS, play_demo
from coach.persistence.factory import create_database_from_url
from coach.sessions.replay import replay_session

TARGET_TURNS_PER_S = 200


@dataclass(frozen=True)
class ReplayConfig:
    repeats: int = 30
    rounds: int = 3

    @classmethod
    def quick(cls) -> ReplayConfig:
        return cls(repeats=2, rounds=1)


async def run(*, config: ReplayConfig) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        db = create_database_from_url(f"sqlite:///{Path(folder) / 'replay.db'}")
        await db.initialize()
        try:
            started = time.perf_counter()
            demo = await play_demo(db, steps=DEMO_STEPS * config.repeats)
            played = time.perf_counter() - started
            turns = len(DEMO_STEPS) * config.repeats
            rates = []
            for _ in range(config.rounds):
                started = time.perf_counter()
                report = await replay_session(db, demo.session_id)
                rates.append(report.turns / (time.perf_counter() - started))
                assert report.identical, [d.describe() for d in report.differences[:3]]
        finally:
            await db.close()
    median = statistics.median(rates)
    print_table(
        f"Exact replay of a {turns}-turn session on SQLite ({config.rounds} rounds)",
        ["what", "turns per second"],
        [
            ["played by the engine (scripted model)", f"{turns / played:,.0f}"],
            ["exact replay, median", f"{median:,.0f}"],
            ["exact replay, slowest", f"{min(rates):,.0f}"],
        ],
    )
    return {
        "environment": environment(),
        "config": config.__dict__,
        "turns": turns,
        "played_turns_per_s": round(turns / played, 1),
        "replay_turns_per_s": [round(r, 1) for r in rates],
        "targets": {
            "replay_turns_per_s": round(median, 1),
            f"replay_at_least_{TARGET_TURNS_PER_S}_per_s": median >= TARGET_TURNS_PER_S,
        },
    }
