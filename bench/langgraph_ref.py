"""Benchmark (b): the same conversation stored by our SQLite backend and by LangGraph.

The reference is LangGraph's ``AsyncSqliteSaver`` (langgraph-checkpoint-sqlite) used the way a
LangGraph chat app uses it: at each turn read the thread's latest checkpoint, append the user and
the assistant message (``HumanMessage`` / ``AIMessage``) to the ``messages`` channel, and store a
new checkpoint whose ``channel_values`` hold the whole message list. A compiled graph writes more
than that per turn (an input checkpoint, a checkpoint per superstep and the pending writes), so
one checkpoint per turn is the cheapest LangGraph can do: the comparison favours LangGraph.

Our side plays the full engine turn (``bench.workload.play_turn``): the reads, then one
``commit_turn`` with both messages, the state, an identity and the turn log (which stores the full
system prompt). Both stores get each turn's text in the same run, alternating which goes first,
with a garbage collection before each turn so neither pays for the other's garbage.
"""

from __future__ import annotations

import gc
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import Checkpoint, create_checkpoint, empty_checkpoint
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from bench.common import Stats, TextSource, print_table, ratio
from bench.workload import Conversation, play_turn
from coach.persistence import DatabaseType, create_database
from coach.persistence.records import new_id

TARGET_SPEEDUP = 5.0


@dataclass(frozen=True)
class LangGraphConfig:
    turns: int = 300
    size_points: tuple[int, ...] = (100, 200, 300)
    window: int = 10

    @classmethod
    def quick(cls) -> LangGraphConfig:
        return cls(turns=30, size_points=(10, 20, 30), window=5)


class LangGraphChat:
    """A LangGraph-style chat thread: one checkpoint with all messages per turn."""

    def __init__(self, saver: AsyncSqliteSaver, thread_id: str) -> None:
        self.saver = saver
        self.thread: RunnableConfig = {
            "configurable": {"thread_id": thread_id, "checkpoint_ns": ""}
        }
        self.step = 0

    async def turn(self, user_text: str, coach_text: str) -> tuple[float, float]:
        """Store one turn; return the seconds it took (wall clock, process CPU)."""
        c0 = time.process_time()
        t0 = time.perf_counter()
        latest = await self.saver.aget_tuple(self.thread)
        previous: Checkpoint = latest.checkpoint if latest else empty_checkpoint()
        config: RunnableConfig = latest.config if latest else self.thread
        messages: list[BaseMessage] = list(previous["channel_values"].get("messages", []))
        messages.append(HumanMessage(content=user_text, id=new_id()))
        messages.append(AIMessage(content=coach_text, id=new_id()))
        version = self.saver.get_next_version(
            previous["channel_versions"].get("messages"),  # type: ignore[arg-type]
            None,
        )
        checkpoint = create_checkpoint(
            {
                **previous,
                "channel_values": {"messages": messages},
                "channel_versions": {"messages": version},
            },
            None,
            self.step,
        )
        await self.saver.aput(
            config,
            checkpoint,
            {"source": "loop", "step": self.step, "parents": {}},
            {"messages": version},
        )
        self.step += 1
        return time.perf_counter() - t0, time.process_time() - c0


def logical_size(path: Path) -> int:
    """Bytes the database holds now (pages in use, WAL included), read from a new connection."""
    with sqlite3.connect(path) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int(page_size * (pages - free))


def files_size(path: Path) -> int:
    """Bytes on disk: the database file and its WAL and shared-memory files, if any."""
    return sum(
        p.stat().st_size
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
        if p.exists()
    )


async def run(*, config: LangGraphConfig) -> dict[str, Any]:
    """Store one conversation of ``config.turns`` turns in both stores; print and return."""
    text = TextSource(seed=300)
    ours_times: list[float] = []
    lg_times: list[float] = []
    ours_cpu: list[float] = []
    lg_cpu: list[float] = []
    sizes: dict[int, dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="coach-bench-lg-") as tmp:
        ours_path = Path(tmp) / "ours.db"
        lg_path = Path(tmp) / "langgraph.db"
        db = create_database(DatabaseType.SQL, connection_string=f"sqlite+aiosqlite:///{ours_path}")
        await db.initialize()
        conv = Conversation()
        try:
            async with AsyncSqliteSaver.from_conn_string(str(lg_path)) as saver:
                await saver.setup()
                chat = LangGraphChat(saver, thread_id=conv.session_id)
                for turn in range(1, config.turns + 1):
                    texts = (text.user_message(), text.coach_message())
                    for store in ("ours", "langgraph") if turn % 2 else ("langgraph", "ours"):
                        # Neither store pays for the other's garbage (LangGraph frees the
                        # whole deserialized message list every turn).
                        gc.collect()
                        if store == "ours":
                            timing = await play_turn(db, conv, texts=texts)
                            ours_times.append(timing.total)
                            ours_cpu.append(timing.cpu)
                        else:
                            wall, cpu = await chat.turn(*texts)
                            lg_times.append(wall)
                            lg_cpu.append(cpu)
                    if turn in config.size_points:
                        sizes[turn] = {
                            "ours": logical_size(ours_path),
                            "langgraph": logical_size(lg_path),
                        }
        finally:
            await db.close()
        on_disk = {"ours": files_size(ours_path), "langgraph": files_size(lg_path)}

    w = config.window
    early = slice(0, w)
    late = slice(config.turns - w, config.turns)
    stats = {
        "ours_early": Stats.of_seconds(ours_times[early]),
        "ours_late": Stats.of_seconds(ours_times[late]),
        "langgraph_early": Stats.of_seconds(lg_times[early]),
        "langgraph_late": Stats.of_seconds(lg_times[late]),
        "ours_cpu_early": Stats.of_seconds(ours_cpu[early]),
        "ours_cpu_late": Stats.of_seconds(ours_cpu[late]),
        "langgraph_cpu_early": Stats.of_seconds(lg_cpu[early]),
        "langgraph_cpu_late": Stats.of_seconds(lg_cpu[late]),
    }
    speedup_late = ratio(stats["langgraph_late"].median_ms, stats["ours_late"].median_ms)
    speedup_early = ratio(stats["langgraph_early"].median_ms, stats["ours_early"].median_ms)
    cpu_speedup_late = ratio(
        stats["langgraph_cpu_late"].median_ms, stats["ours_cpu_late"].median_ms
    )
    cpu_speedup_early = ratio(
        stats["langgraph_cpu_early"].median_ms, stats["ours_cpu_early"].median_ms
    )
    last = config.turns

    print_table(
        f"Ours (SQLite) vs LangGraph AsyncSqliteSaver, ms per turn (medians of {w} turns)",
        ["store", f"turns 1-{w} median", "p95", f"turns {last - w + 1}-{last} median", "p95"],
        [
            [
                "ours (SQLite)",
                stats["ours_early"].median_ms,
                stats["ours_early"].p95_ms,
                stats["ours_late"].median_ms,
                stats["ours_late"].p95_ms,
            ],
            [
                "LangGraph",
                stats["langgraph_early"].median_ms,
                stats["langgraph_early"].p95_ms,
                stats["langgraph_late"].median_ms,
                stats["langgraph_late"].p95_ms,
            ],
            ["speed-up (LangGraph / ours)", speedup_early, None, speedup_late, None],
            [
                "ours, CPU ms",
                stats["ours_cpu_early"].median_ms,
                None,
                stats["ours_cpu_late"].median_ms,
                None,
            ],
            [
                "LangGraph, CPU ms",
                stats["langgraph_cpu_early"].median_ms,
                None,
                stats["langgraph_cpu_late"].median_ms,
                None,
            ],
            ["CPU speed-up", cpu_speedup_early, None, cpu_speedup_late, None],
        ],
    )
    size_rows = []
    previous = {"ours": 0, "langgraph": 0}
    previous_turn = 0
    growth: dict[str, list[float]] = {"ours": [], "langgraph": []}
    for turn in sorted(sizes):
        row: list[object] = [turn]
        for store in ("ours", "langgraph"):
            size = sizes[turn][store]
            step = (size - previous[store]) / (turn - previous_turn)
            growth[store].append(step)
            row += [size / 1e6, size / turn, step]
            previous[store] = size
        previous_turn = turn
        size_rows.append(row)
    print_table(
        "Database size (pages in use) and bytes per turn",
        [
            "turn",
            "ours MB",
            "ours B/turn (avg)",
            "ours B/turn (since last)",
            "LangGraph MB",
            "LG B/turn (avg)",
            "LG B/turn (since last)",
        ],
        size_rows,
    )
    size_ratio = ratio(on_disk["langgraph"], on_disk["ours"])
    print(
        f"Files on disk after {last} turns: ours {on_disk['ours'] / 1e6:.2f} MB, "
        f"LangGraph {on_disk['langgraph'] / 1e6:.2f} MB ({size_ratio:.1f}x larger)"
    )
    met = speedup_late >= TARGET_SPEEDUP
    print(
        f"Target: ours at least {TARGET_SPEEDUP:.0f}x faster than LangGraph at turn {last}: "
        f"{'met' if met else 'MISSED'} ({speedup_late:.1f}x)"
    )
    # Linear growth: bytes per turn stay about the same from one size point to the next (the
    # first interval also holds the empty schema's pages, so it is left out).
    ours_growth = growth["ours"][1:]
    linear = len(ours_growth) < 2 or max(ours_growth) <= 1.25 * min(ours_growth)
    return {
        "config": {
            "turns": config.turns,
            "size_points": list(config.size_points),
            "window": config.window,
        },
        "per_turn_ms": {k: v.as_dict() for k, v in stats.items()},
        "speedup_early": speedup_early,
        "speedup_late": speedup_late,
        "cpu_speedup_early": cpu_speedup_early,
        "cpu_speedup_late": cpu_speedup_late,
        "sizes": {str(k): v for k, v in sizes.items()},
        "bytes_per_turn_since_last": growth,
        "on_disk_bytes": on_disk,
        "size_ratio": size_ratio,
        "targets": {
            "speedup_at_last_turn": speedup_late,
            "speedup_at_least_5x": met,
            "cpu_speedup_at_last_turn": cpu_speedup_late,
            "ours_grows_linearly": linear,
        },
    }
