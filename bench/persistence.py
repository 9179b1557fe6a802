"""Benchmark (a): the persistence cost of one turn at turn 10, 100 and 1,000, per backend,
on two paths:

- the engine's: read the window, the state and the identities, then one ``commit_turn``;
- the design note's, as ``ContextManager`` takes it: ``get_context`` of the newest messages,
  append the exchange, ``save_context``; ``save_context`` alone is reported too. Both paths read
  the same window (``message_limit``, 20: full from turn 10 on), so what grows between the
  checkpoints is the stored history only. (``ContextManager`` reads 60; a window of 60 is full
  only from turn 30, and a read of 20 messages at turn 10 against 60 later would measure the
  window filling, not the history.)

Several conversations are timed at each checkpoint, over the turns around it, and all
checkpoints are timed side by side (``bench.common.interleaved_checkpoints``), so turn 10 and
turn 1,000 are measured under the same load of this shared machine. The spec's
targets (SQLite, stock SQLAlchemy): median under 5 ms, and turn 1,000 within 1.5x of turn 10,
on both paths.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import Stats, interleaved_checkpoints, print_table, ratio
from bench.pg import temporary_database
from bench.workload import (
    DEFAULT_MESSAGE_LIMIT,
    Conversation,
    DesignNoteTiming,
    TurnTiming,
    play_design_note_turn,
    play_turn,
)
from coach.persistence import DatabaseType, create_database
from coach.persistence.base import DatabaseInterface

BACKENDS = ("memory", "sqlite", "postgresql")
FULL_CHECKPOINTS = (10, 100, 1000)
QUICK_CHECKPOINTS = (3, 6, 12)
#: Targets of SPEC section 6 (SQLite, stock SQLAlchemy).
TARGET_MEDIAN_MS = 5.0
TARGET_FLATNESS = 1.5


@dataclass(frozen=True)
class PersistenceConfig:
    checkpoints: tuple[int, ...] = FULL_CHECKPOINTS
    conversations: int = 6
    window: int = 10
    message_limit: int = DEFAULT_MESSAGE_LIMIT

    @classmethod
    def quick(cls) -> PersistenceConfig:
        return cls(checkpoints=QUICK_CHECKPOINTS, conversations=2, window=3)


async def measure_backend(
    db: DatabaseInterface, config: PersistenceConfig, *, label: str = ""
) -> dict[str, Any]:
    """Play ``config.conversations`` conversations per checkpoint and time the turns around
    each checkpoint, all checkpoints side by side."""

    async def start() -> Conversation:
        return Conversation()

    async def play(conv: Conversation, turn: int) -> TurnTiming:
        assert conv.turns == turn - 1
        return await play_turn(db, conv, message_limit=config.message_limit)

    started = time.perf_counter()
    samples = await interleaved_checkpoints(
        config.checkpoints,
        config.window,
        start,
        play,
        per_checkpoint=config.conversations,
        label=label,
    )
    print(f"  {label}: timed ({time.perf_counter() - started:,.0f} s)", flush=True)
    per_checkpoint: dict[str, Any] = {}
    for cp in config.checkpoints:
        timings = samples[cp]
        per_checkpoint[str(cp)] = {
            "turn": Stats.of_seconds([t.total for t in timings]).as_dict(),
            "read": Stats.of_seconds([t.read for t in timings]).as_dict(),
            "commit": Stats.of_seconds([t.commit for t in timings]).as_dict(),
            "cpu": Stats.of_seconds([t.cpu for t in timings]).as_dict(),
        }
    counts = await db.count_records()
    played = sum(max(1, cp - config.window // 2) - 1 + config.window for cp in config.checkpoints)
    expected_messages = 2 * played * config.conversations
    if counts.get("messages") != expected_messages:
        raise AssertionError(f"expected {expected_messages} messages stored, found {counts}")
    return {"checkpoints": per_checkpoint, "counts": counts}


async def measure_design_note(
    db: DatabaseInterface, config: PersistenceConfig, *, label: str = ""
) -> dict[str, Any]:
    """The design note's path (``get_context`` + ``save_context``), timed like the engine's."""

    async def start() -> Conversation:
        return Conversation()

    async def play(conv: Conversation, turn: int) -> DesignNoteTiming:
        assert conv.turns == turn - 1
        return await play_design_note_turn(db, conv, message_limit=config.message_limit)

    samples = await interleaved_checkpoints(
        config.checkpoints,
        config.window,
        start,
        play,
        per_checkpoint=config.conversations,
        label=f"{label} (design note path)",
    )
    return {
        str(cp): {
            "turn": Stats.of_seconds([t.total for t in samples[cp]]).as_dict(),
            "get": Stats.of_seconds([t.get for t in samples[cp]]).as_dict(),
            "save": Stats.of_seconds([t.save for t in samples[cp]]).as_dict(),
        }
        for cp in config.checkpoints
    }


async def run_one(name: str, url: str | None, config: PersistenceConfig) -> dict[str, Any]:
    db = (
        create_database(DatabaseType.MEMORY)
        if url is None
        else create_database(DatabaseType.SQL, connection_string=url)
    )
    await db.initialize()
    try:
        result = await measure_backend(db, config, label=name)
        result["design_note"] = await measure_design_note(db, config, label=name)
    finally:
        await db.close()
    result["backend"] = name
    return result


def sqlite_journal_mode(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])


async def run(
    *,
    pg_server_url: str | None,
    config: PersistenceConfig,
    backends: tuple[str, ...] = BACKENDS,
) -> dict[str, Any]:
    """Run the benchmark on each backend and print one table; return the figures."""
    results: dict[str, Any] = {}
    notes: list[str] = []
    if "memory" in backends:
        results["memory"] = await run_one("memory", None, config)
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory(prefix="coach-bench-") as tmp:
            path = Path(tmp) / "turns.db"
            results["sqlite"] = await run_one("sqlite", f"sqlite:///{path}", config)
            results["sqlite"]["journal_mode"] = sqlite_journal_mode(path)
    if "postgresql" in backends:
        if pg_server_url is None:
            notes.append("postgresql skipped: pass --pg-url (or set COACH_BENCH_POSTGRES_URL)")
        else:
            with temporary_database(pg_server_url, "coach_bench_turns") as url:
                results["postgresql"] = await run_one("postgresql", url, config)

    first, last = config.checkpoints[0], config.checkpoints[-1]
    rows = []
    for name, res in results.items():
        cps = res["checkpoints"]
        for cp in config.checkpoints:
            turn = cps[str(cp)]["turn"]
            rows.append(
                [
                    name,
                    cp,
                    turn["n"],
                    turn["median_ms"],
                    turn["p95_ms"],
                    cps[str(cp)]["read"]["median_ms"],
                    cps[str(cp)]["commit"]["median_ms"],
                    cps[str(cp)]["cpu"]["median_ms"],
                ]
            )
        res["flatness"] = ratio(
            cps[str(last)]["turn"]["median_ms"], cps[str(first)]["turn"]["median_ms"]
        )
        res["flatness_p95"] = ratio(
            cps[str(last)]["turn"]["p95_ms"], cps[str(first)]["turn"]["p95_ms"]
        )
    print_table(
        "Per-turn persistence cost (read + commit_turn), ms",
        ["backend", "turn", "n", "median", "p95", "read median", "commit median", "CPU median"],
        rows,
    )
    design_rows = []
    for name, res in results.items():
        dn = res["design_note"]
        for cp in config.checkpoints:
            design_rows.append(
                [
                    name,
                    cp,
                    dn[str(cp)]["turn"]["median_ms"],
                    dn[str(cp)]["turn"]["p95_ms"],
                    dn[str(cp)]["get"]["median_ms"],
                    dn[str(cp)]["save"]["median_ms"],
                ]
            )
        res["design_note_flatness"] = ratio(
            dn[str(last)]["turn"]["median_ms"], dn[str(first)]["turn"]["median_ms"]
        )
        res["save_context_flatness"] = ratio(
            dn[str(last)]["save"]["median_ms"], dn[str(first)]["save"]["median_ms"]
        )
    print_table(
        f"Design note path (get_context of the newest {config.message_limit} + save_context), ms",
        ["backend", "turn", "median", "p95", "get_context median", "save_context median"],
        design_rows,
    )
    print_table(
        f"Flatness: turn {last} / turn {first} (medians)",
        ["backend", "commit_turn path", "p95 ratio", "design note path", "save_context"],
        [
            [
                n,
                r["flatness"],
                r["flatness_p95"],
                r["design_note_flatness"],
                r["save_context_flatness"],
            ]
            for n, r in results.items()
        ],
    )
    targets: dict[str, Any] = {}
    if "sqlite" in results:
        sq = results["sqlite"]
        worst = max(
            max(c["turn"]["median_ms"] for c in sq["checkpoints"].values()),
            max(c["turn"]["median_ms"] for c in sq["design_note"].values()),
        )
        flat = max(sq["flatness"], sq["design_note_flatness"], sq["save_context_flatness"])
        targets = {
            "sqlite_median_ms_max": worst,
            "sqlite_median_under_5ms": worst < TARGET_MEDIAN_MS,
            "sqlite_flatness_max": flat,
            "sqlite_flat_within_1_5x": flat <= TARGET_FLATNESS,
        }
        print(
            f"SQLite targets, both paths: median < {TARGET_MEDIAN_MS} ms at every checkpoint: "
            f"{'met' if targets['sqlite_median_under_5ms'] else 'MISSED'} "
            f"(worst {worst:.2f} ms); turn {last} within {TARGET_FLATNESS}x of turn "
            f"{first}: {'met' if targets['sqlite_flat_within_1_5x'] else 'MISSED'} "
            f"(worst {flat:.2f}x)"
        )
    for note in notes:
        print(note)
    return {
        "config": {
            "checkpoints": list(config.checkpoints),
            "conversations": config.conversations,
            "window": config.window,
            "message_limit": config.message_limit,
        },
        "results": results,
        "targets": targets,
        "notes": notes,
    }
