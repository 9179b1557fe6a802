"""Benchmark (h): eval runs.

One scenario of scripted client lines (an opening and nine lines, ``max_turns: 10``) played 100
times, eight conversations at once, as the app plays it (``service.evals.start``, the run and
its conversations stored as they go), on a SQLite file and, when a server is named, on
PostgreSQL. The coach is the scripted model: it moves to brainstorming on the first turn and
then talks, so the time measured is the engine's and the database's, not a model's. Target: 100
conversations of 10 turns in under 60 s (SPEC §6).

The same 1,000 turns are also sent directly (``send_message_and_wait``, 100 sessions, eight at
once) without the eval machinery, alternating with the eval runs on the same database; the
ratio of the two is the machinery's overhead (the conversation and run records, the client, the
checks and the reads that judge them).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.common import environment, print_table
from bench.pg import temporary_database
from coach.enums import JobStatus, TurnStatus
from coach.evals.scenario import Scenario
from coach.llm.base import LLMRequest
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence.base import DatabaseInterface
from coach.persistence.factory import create_database_from_url
from coach.persistence.records import new_id
from coach.service import CoachService

#: "100 conversations of 10 turns in under 60 s on this machine".
TARGET_S = 60.0
OPENING = "Hello, I want to find out who I am again, at work and at home."
LINES = (
    "I used to paint every weekend and I miss it.",
    "I want to be a parent who is there, not just around.",
    "Money stresses me out, it disappears before the end of the month.",
    "Running used to be my thing before the knee injury.",
    "My partner says I never switch off from work.",
    "I like the idea of being someone who finishes what they start.",
    "Maybe the painting one first, it feels the most like me.",
    "I could paint for twenty minutes on Sunday mornings.",
    "Thanks, that is a good place to stop for today.",
)
BRAINSTORM = {"type": "transition_state", "params": {"to_state": "identity_brainstorming"}}


@dataclass(frozen=True)
class EvalsConfig:
    conversations: int = 100
    turns: int = 10
    concurrency: int = 8
    #: Each round times one eval run and the same turns sent directly.
    rounds: int = 3

    @classmethod
    def quick(cls) -> EvalsConfig:
        return cls(conversations=4, turns=3, concurrency=2, rounds=1)


def scenario(config: EvalsConfig) -> Scenario:
    """The scripted client: its opening and ``turns - 1`` lines; it must reach brainstorming."""
    return Scenario.model_validate(
        {
            "name": "bench-scripted",
            "client": {"lines": list(LINES[: config.turns - 1])},
            "opening": OPENING,
            "max_turns": config.turns,
            "assertions": [
                {"check": "phase_reached", "phase": "identity_brainstorming", "by_turn": 1},
                {"check": "no_failed_turn"},
            ],
        }
    )


def coach_reply(request: LLMRequest) -> dict[str, object]:
    """Moves to brainstorming on a conversation's first turn, then talks."""
    if sum(1 for m in request.messages if m.role == "user") == 1:
        return {"message": "Welcome. Let us explore who you want to be.", "actions": [BRAINSTORM]}
    return {"message": "That matters to you. Tell me more about it.", "actions": []}


async def eval_run(service: CoachService, config: EvalsConfig) -> float:
    """One eval run, timed from its start to its stored end; checks that every conversation
    played all its turns and passed."""
    started = time.perf_counter()
    run = await service.evals.start(
        [scenario(config)],
        repeats=config.conversations,
        concurrency=config.concurrency,
        name="bench",
    )
    handle = service.evals.handle(run.id)
    assert handle is not None
    await handle.ended()
    elapsed = time.perf_counter() - started
    stored = await service.db.get_eval_run(run.id)
    assert stored is not None and stored.status is JobStatus.DONE, stored and stored.error
    conversations = stored.conversations
    assert len(conversations) == config.conversations
    bad = [c.error or c.checks for c in conversations if not c.passed]
    assert not bad, f"a conversation failed: {bad[:1]}"
    assert all(c.turns == config.turns for c in conversations)
    return elapsed


async def direct(service: CoachService, config: EvalsConfig) -> float:
    """The same turns sent straight to the engine: ``conversations`` sessions, at most
    ``concurrency`` at once, each turn awaited before the next."""
    limit = asyncio.Semaphore(config.concurrency)
    said = [OPENING, *LINES[: config.turns - 1]]

    async def conversation() -> None:
        async with limit:
            started = await service.start_session(new_id(), user_name="Scripted client")
            for text in said:
                result = await service.send_message_and_wait(
                    started.user_id, started.session_id, text
                )
                assert result.status is TurnStatus.OK, result.error

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(config.conversations):
            group.create_task(conversation())
    return time.perf_counter() - started


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[DatabaseInterface]:
    db = create_database_from_url(url)
    await db.initialize()
    try:
        yield db
    finally:
        await db.close()


async def measure(db: DatabaseInterface, config: EvalsConfig, label: str) -> dict[str, Any]:
    service = CoachService(ScriptedLLMClient(function=coach_reply), db)
    kinds: dict[str, Callable[[CoachService, EvalsConfig], Awaitable[float]]] = {
        "evals": eval_run,
        "direct": direct,
    }
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    try:
        # Untimed: the first turn loads the tokenizer (about 2 s) and the prompts.
        await eval_run(service, replace(config, conversations=1, turns=2))
        for n in range(config.rounds):
            # Alternate which goes first, so neither always meets a fuller database.
            order = list(kinds) if n % 2 == 0 else list(reversed(kinds))
            for kind in order:
                samples[kind].append(await kinds[kind](service, config))
                print(f"  {label} round {n + 1}: {kind} {samples[kind][-1]:.1f} s", flush=True)
    finally:
        await service.aclose()
    return {kind: [round(s, 3) for s in values] for kind, values in samples.items()}


async def run(*, config: EvalsConfig, pg_server_url: str | None = None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="coach-bench-") as folder:
        async with opened(f"sqlite:///{Path(folder) / 'evals.db'}") as db:
            results["sqlite"] = await measure(db, config, "sqlite")
    if pg_server_url is not None:
        with temporary_database(pg_server_url, "coach_bench_evals") as url:
            async with opened(url) as db:
                results["postgresql"] = await measure(db, config, "postgresql")
    return report(results, config)


def report(results: dict[str, Any], config: EvalsConfig) -> dict[str, Any]:
    conversations, turns = config.conversations, config.conversations * config.turns
    rows, figures = [], {}
    for backend, samples in results.items():
        evals_s = statistics.median(samples["evals"])
        direct_s = statistics.median(samples["direct"])
        figures[backend] = {
            "evals_s": round(evals_s, 2),
            "direct_s": round(direct_s, 2),
            "conversations_per_s": round(conversations / evals_s, 2),
            "turns_per_s": round(turns / evals_s, 1),
            "direct_turns_per_s": round(turns / direct_s, 1),
            "overhead": round(evals_s / direct_s, 2),
        }
        for kind, seconds in (("eval run", evals_s), ("sent directly", direct_s)):
            rows.append(
                [
                    backend,
                    kind,
                    f"{seconds:,.1f}",
                    f"{conversations / seconds:,.2f}",
                    f"{turns / seconds:,.0f}",
                    f"{evals_s / direct_s:.2f}" if kind == "eval run" else "",
                ]
            )
    print_table(
        f"{conversations} conversations of {config.turns} turns, {config.concurrency} at once "
        f"(scripted coach and client; median of {config.rounds} round(s)); "
        f"target: under {TARGET_S:.0f} s",
        ["database", "how", "wall s", "conversations/s", "turns/s", "eval ÷ direct"],
        rows,
    )
    sqlite = figures["sqlite"]
    targets: dict[str, Any] = {
        "sqlite_evals_s": sqlite["evals_s"],
        f"sqlite_under_{TARGET_S:.0f}s": sqlite["evals_s"] < TARGET_S,
        "sqlite_overhead": sqlite["overhead"],
    }
    if "postgresql" in figures:
        pg = figures["postgresql"]
        targets |= {
            "postgresql_evals_s": pg["evals_s"],
            f"postgresql_under_{TARGET_S:.0f}s": pg["evals_s"] < TARGET_S,
            "postgresql_overhead": pg["overhead"],
        }
    return {
        "environment": environment(),
        "config": config.__dict__,
        "samples_s": results,
        "figures": figures,
        "targets": targets,
    }
