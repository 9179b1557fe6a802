"""An eval run over the real OpenAI SDK client, against the loopback OpenAI-compatible server
playing both sides: the coach (a structured request, model ``coach-model``) and the simulated
client (a plain-text request, model ``client-model``), every answer taking ``DELAY_S``.

Twenty conversations run eight at once, and none waits on another beyond that bound: each
conversation sends its next request as soon as its previous one is answered, and a conversation
starts as soon as one of the eight ends. The server's own arrival and answer times show it
(``pytest -s`` prints them).
"""

from __future__ import annotations

import itertools
import json
import math
import re
import statistics
import time
from collections import defaultdict
from itertools import pairwise
from typing import Any

import pytest

from coach.enums import JobStatus
from coach.evals.scenario import Scenario
from coach.llm.openai_client import OpenAIClient
from coach.persistence.factory import create_database_from_url
from coach.service import CoachService
from devtools.fake_openai import FakeOpenAIServer, FakeReply, RecordedRequest

pytestmark = pytest.mark.slow

CONVERSATIONS = 20
CONCURRENCY = 8
TURNS = 3
DELAY_S = 0.5
#: A coach reply for each turn and a client line between two turns.
REQUESTS = 2 * TURNS - 1
BRAINSTORM = {"type": "transition_state", "params": {"to_state": "identity_brainstorming"}}
#: The coach's first reply names its conversation; every later request of it has that reply.
TAG = re.compile(r"conversation #(\d+)\b")


class BothSides:
    """The server's answers: a coach reply to a structured request, a client line to a plain
    one. The coach's first reply in a conversation numbers it, in the order they are asked."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)

    def __call__(self, body: dict[str, Any]) -> FakeReply:
        if body.get("response_format") is None:
            content = "I paint on Sunday mornings, and I would like to do it more."
        else:
            messages = body["messages"]
            assert isinstance(messages, list)
            if sum(1 for m in messages if m["role"] == "user") == 1:
                number = next(self._numbers)
                reply = {"message": f"Welcome, conversation #{number}.", "actions": [BRAINSTORM]}
            else:
                reply = {"message": "Tell me more about that.", "actions": []}
            content = json.dumps(reply)
        return FakeReply(content=content, delay=DELAY_S, chunk_chars=len(content))


def scenario() -> Scenario:
    return Scenario.model_validate(
        {
            "name": "both-sides-on-loopback",
            "client": {
                "persona": {
                    "name": "Wren Halloway-Imre",
                    "background": "a nurse who paints",
                    "goals": ["make time to paint"],
                }
            },
            "client_model": "client-model",
            "opening": "Hello, I want to find out who I am.",
            "max_turns": TURNS,
            "assertions": [
                {"check": "phase_reached", "phase": "identity_brainstorming", "by_turn": 1},
                {"check": "no_failed_turn"},
            ],
        }
    )


def conversation_of(request: RecordedRequest) -> int:
    assert request.reply is not None
    said = [str(m["content"]) for m in request.body["messages"]] + [request.reply.content]
    [number] = {int(n) for text in said for n in TAG.findall(text)}
    return number


def peak(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one moment (one ending as another starts: not both)."""
    events = sorted([(end, -1) for _, end in intervals] + [(start, 1) for start, _ in intervals])
    return max(itertools.accumulate(change for _, change in events))


async def test_twenty_conversations_run_eight_at_once_none_waiting_on_another(
    fake_openai: FakeOpenAIServer, migrated_sqlite_url: str
) -> None:
    fake_openai.respond = BothSides()
    db = create_database_from_url(migrated_sqlite_url)
    await db.initialize()
    client = OpenAIClient(
        api_key="sk-test", base_url=fake_openai.base_url, model="coach-model", max_retries=0
    )
    service = CoachService(client, db)
    try:
        # Untimed: one conversation loads what is loaded once (the tokenizer, the SDK client,
        # the database statements), so the timings show the conversations, not the warm-up.
        warm_up = await service.evals.start([scenario()], repeats=1)
        handle = service.evals.handle(warm_up.id)
        assert handle is not None
        await handle.ended()
        fake_openai.requests.clear()
        fake_openai.respond = BothSides()

        started_at = time.monotonic()
        started = await service.evals.start(
            [scenario()], repeats=CONVERSATIONS, concurrency=CONCURRENCY
        )
        handle = service.evals.handle(started.id)
        assert handle is not None
        await handle.ended()
        wall = time.monotonic() - started_at
        run = await db.get_eval_run(started.id)
    finally:
        await service.aclose()
        await client.aclose()
        await db.close()

    assert run is not None and run.status is JobStatus.DONE, run and run.error
    assert len(run.conversations) == CONVERSATIONS
    assert all(c.passed and c.turns == TURNS for c in run.conversations), [
        c.error or c.checks for c in run.conversations if not c.passed
    ]

    requests = fake_openai.requests
    assert len(requests) == CONVERSATIONS * REQUESTS
    assert all(r.answered_at is not None for r in requests)
    by_conversation: dict[int, list[RecordedRequest]] = defaultdict(list)
    for request in sorted(requests, key=lambda r: r.received_at):
        by_conversation[conversation_of(request)].append(request)
    assert sorted(by_conversation) == list(range(1, CONVERSATIONS + 1))

    t0 = min(r.received_at for r in requests)
    spans: list[tuple[float, float]] = []
    gaps: list[float] = []
    lines = []
    for number, asked in sorted(by_conversation.items()):
        # The server played both sides, each under its model: coach, client, coach, ...
        models = [r.body["model"] for r in asked]
        assert models == ["coach-model", "client-model"] * (TURNS - 1) + ["coach-model"]
        own = [b.received_at - a.answered_at for a, b in pairwise(asked) if a.answered_at]
        assert min(own) >= 0, f"conversation #{number} asked twice at once"
        end = asked[-1].answered_at
        assert end is not None
        spans.append((asked[0].received_at, end))
        gaps.extend(own)
        lines.append(
            f"  #{number:02d}  {asked[0].received_at - t0:5.2f} → {end - t0:5.2f} s"
            "  between its requests: " + ", ".join(f"{g * 1000:3.0f}" for g in own) + " ms"
        )

    # A freed place is taken at once: the k-th conversation to start (k > 8) starts soon after
    # the (k - 8)-th to end.
    starts = sorted(start for start, _ in spans)
    ends = sorted(end for _, end in spans)
    takeovers = [starts[k] - ends[k - CONCURRENCY] for k in range(CONCURRENCY, CONVERSATIONS)]
    requests_in_flight = peak([(r.received_at, r.answered_at or 0.0) for r in requests])
    waves = math.ceil(CONVERSATIONS / CONCURRENCY)
    ideal = waves * REQUESTS * DELAY_S
    serial = CONVERSATIONS * REQUESTS * DELAY_S
    print(
        f"\n{CONVERSATIONS} conversations × {TURNS} turns ({REQUESTS} requests of {DELAY_S} s "
        f"each, coach and client on one loopback server), {CONCURRENCY} at once:\n"
        f"  wall {wall:.2f} s (first request to last answer {ends[-1] - t0:.2f} s); "
        f"{waves} waves would take {ideal:.1f} s, one at a time {serial:.1f} s\n"
        f"  in flight at most: {peak(spans)} conversations, {requests_in_flight} requests\n"
        f"  between a conversation's requests: median {statistics.median(gaps) * 1000:.0f} ms, "
        f"max {max(gaps) * 1000:.0f} ms\n"
        f"  a freed place taken after: median {statistics.median(takeovers) * 1000:.0f} ms, "
        f"max {max(takeovers) * 1000:.0f} ms\n" + "\n".join(lines)
    )
    assert peak(spans) == CONCURRENCY
    assert requests_in_flight <= CONCURRENCY
    # Waiting on another conversation's model answer would take at least DELAY_S.
    assert max(gaps) < DELAY_S
    assert max(takeovers) < DELAY_S
    assert ends[-1] - t0 < 1.5 * ideal
    assert wall < serial / 3
