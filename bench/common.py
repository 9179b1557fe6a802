"""Shared pieces of the benchmarks: sample text, statistics, tables, result files, URLs.

Timings on a small, shared machine are noisy, so every benchmark compares figures taken in the
same run (ratios) rather than against absolute numbers from another day.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import socket
import statistics
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

RESULTS_DIR = Path(__file__).resolve().parent / "results"

S = TypeVar("S")
T = TypeVar("T")

# -- statistics ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values`` with linear interpolation."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True)
class Stats:
    """Summary of a list of durations, in milliseconds."""

    n: int
    median_ms: float
    p95_ms: float
    min_ms: float
    max_ms: float

    @classmethod
    def of_seconds(cls, samples: Sequence[float]) -> Stats:
        ms = [s * 1000 for s in samples]
        if not ms:
            return cls(0, math.nan, math.nan, math.nan, math.nan)
        return cls(
            n=len(ms),
            median_ms=statistics.median(ms),
            p95_ms=percentile(ms, 95),
            min_ms=min(ms),
            max_ms=max(ms),
        )

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def ratio(a: float, b: float) -> float:
    """``a / b``, or NaN when ``b`` is zero or missing."""
    return a / b if b else math.nan


# -- checkpoints measured side by side -----------------------------------------------------------


async def interleaved_checkpoints(
    checkpoints: Sequence[int],
    window: int,
    start: Callable[[], Awaitable[S]],
    play: Callable[[S, int], Awaitable[T]],
    *,
    per_checkpoint: int = 1,
    label: str = "",
) -> dict[int, list[T]]:
    """Time conversations at several lengths over the same stretch of time.

    For every checkpoint, ``per_checkpoint`` conversations are started and played (untimed) up
    to just before it; then the ``window`` turns around each checkpoint are played in rounds,
    one turn of every conversation per round. Measuring turn 10 at the start of a run and turn
    1,000 minutes later compared two different states of this shared machine (the same code
    gave ratios from 0.7 to 2.0); side by side, both see the same load.

    Args:
        start: a new conversation.
        play: plays turn ``n`` (1-based) of a conversation and returns its timing.

    Returns:
        The timings of each checkpoint's turns ``checkpoint - window // 2`` onwards (from turn 1
        when the checkpoint is closer to the start than that).
    """
    groups: list[tuple[int, int, list[S]]] = []
    for checkpoint in checkpoints:
        first = max(1, checkpoint - window // 2)
        conversations = [await start() for _ in range(per_checkpoint)]
        for turn in range(1, first):
            for conversation in conversations:
                await play(conversation, turn)
        groups.append((checkpoint, first, conversations))
        if label:
            print(
                f"  {label}: {per_checkpoint} conversation(s) played to turn {first - 1:,}",
                flush=True,
            )
    samples: dict[int, list[T]] = {checkpoint: [] for checkpoint in checkpoints}
    for offset in range(window):
        for checkpoint, first, conversations in groups:
            for conversation in conversations:
                samples[checkpoint].append(await play(conversation, first + offset))
    return samples


# -- output --------------------------------------------------------------------------------------


def fmt(value: object, digits: int = 2) -> str:
    """A table cell: floats rounded, ``None`` as a dash."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.{digits}f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def render_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table (readable as plain text too)."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for row in cells:
        lines.append("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def print_table(title: str, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    print(f"\n### {title}\n")
    print(render_table(headers, rows))
    print(flush=True)


def environment() -> dict[str, Any]:
    """Where a result was measured."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "cpus": _cpu_count(),
        "load_average": list(os.getloadavg()),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _cpu_count() -> int:
    return os.cpu_count() or 0


def save_results(name: str, data: dict[str, Any], results_dir: Path | None = None) -> Path:
    """Write ``data`` (plus the environment) to ``<results_dir>/<name>-<timestamp>.json``."""
    folder = results_dir or RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{name}-{stamp}.json"
    payload = {"benchmark": name, "environment": environment(), **data}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def mask(url: str) -> str:
    """A URL with its password hidden."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


# -- sample conversation text --------------------------------------------------------------------

_USER_LINES = (
    "I keep thinking about how I used to paint every weekend and I miss it.",
    "Honestly I am not sure what kind of parent I want to be yet, I just know I want to be there.",
    "Money stresses me out. I earn enough but it disappears before the end of the month.",
    "I like the idea of being someone who finishes what they start.",
    "Running used to be my thing. I stopped after the knee injury two years ago.",
    "My partner says I never switch off from work, and she is probably right.",
    "Can we go back to the list? I want to add something about my health.",
    "That label feels a bit too grand. Maybe something simpler, like Steady Runner?",
    "Yes, I accept that one. It sounds like me on a good day.",
    "I tried the morning pages twice this week, not every day but it is a start.",
    "What does a visualization actually look like, do I just imagine it?",
    "I would rather start with the money one, it is what keeps me up at night.",
)

_COACH_LINES = (
    "That is a strong starting point.",
    "Let us stay with that for a moment and see what is underneath it.",
    "When you picture yourself painting again, where are you and what time of day is it?",
    "Many people find that an identity becomes real through small, repeated actions.",
    "I have noted 'Creative Visionary' as a proposed identity; tell me if it fits.",
    "How would the person who already lives this identity start their Monday morning?",
    "Let us shape it into an 'I am' statement you can say out loud without wincing.",
    "You mentioned money stress: what would a calm keeper of money do on payday?",
    "Good progress. We have three identities you have accepted, so we can refine one now.",
    "Pick one small action you could do this week, something that takes ten minutes or less.",
    "Notice that you already did it twice. That counts, and it is evidence for the identity.",
    "We can come back to the brainstorming list any time you want to add to it.",
    "What would make this feel more like you, and less like a slogan?",
    "Close your eyes for a moment and describe what you see, hear and feel.",
)

#: Labels for the identities a benchmark conversation creates (unique per user).
IDENTITY_LABELS = (
    ("Creative Visionary", "passions_and_talents"),
    ("Devoted Parent", "familial_relations"),
    ("Calm Money Keeper", "keeper_of_money"),
    ("Steady Runner", "physical_expression"),
    ("Finisher Of Things", "doer_of_things"),
    ("Generous Partner", "romantic_relation"),
    ("Quiet Believer", "spiritual"),
    ("Confident Earner", "maker_of_money"),
)


class TextSource:
    """Deterministic, coaching-flavoured message text (seeded, so runs are comparable)."""

    def __init__(self, seed: int = 7) -> None:
        self._rng = random.Random(seed)

    def user_message(self) -> str:
        n = self._rng.randint(1, 3)
        return " ".join(self._rng.choice(_USER_LINES) for _ in range(n))

    def coach_message(self) -> str:
        n = self._rng.randint(3, 7)
        return " ".join(self._rng.choice(_COACH_LINES) for _ in range(n))

    def choice(self, options: Sequence[str]) -> str:
        return self._rng.choice(options)


#: A system prompt of realistic size (the turn log stores the full prompt of every turn).
SYSTEM_PROMPT = (
    "You are an identity coach. You help the client discover the identities they want to live "
    "by, sharpen each into an 'I am' statement, picture living it, plan small actions and follow "
    "up. Answer as JSON with a 'message' and a list of 'actions'.\n\n"
    + "\n".join(f"- Rule {i}: " + _COACH_LINES[i % len(_COACH_LINES)] for i in range(30))
    + "\n\nCurrent phase: identity_brainstorming. Known identities: Creative Visionary "
    "(accepted), Devoted Parent (proposed), Calm Money Keeper (accepted).\n"
)
