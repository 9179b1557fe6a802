"""Fill a PostgreSQL database with realistic coaching data, fast.

    python -m bench.generate --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/coach_bench \\
        --users 10000 --sessions 100000 --messages 5000000

The database is created if missing and brought to the latest schema by the SQL backend's own
``initialize()``; rows then go straight into its tables with ``COPY`` (the column lists come from
``coach.persistence.sql.tables``, so the schema is not repeated here). Foreign-key triggers are
skipped while loading (``session_replication_role = replica``): the generator writes consistent
rows by construction. ``VACUUM ANALYZE`` runs at the end.

The data: users with names and goals, created over a year; sessions spread over users (a few
users have many) and over time, in every phase; messages per session from a long-tailed
distribution (a few sessions run to thousands of messages); identities for most users; turn logs
for the newest sessions and the largest ones. A database already filled to the requested size
is reused; a database of another size is refilled only with ``--reset``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import random
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import psycopg
from sqlalchemy import Table

from bench.common import IDENTITY_LABELS, SYSTEM_PROMPT, TextSource, mask
from bench.pg import (
    async_url,
    create_database,
    database_exists,
    database_name,
    drop_database,
    psycopg_dsn,
)
from coach.enums import CoachingState, IdentityState
from coach.persistence.rules import label_key
from coach.persistence.sql import SQLDatabase
from coach.persistence.sql.convert import search_key
from coach.persistence.sql.tables import TABLES

PHASES = tuple(CoachingState)
#: Share of the sessions (the newest) that have turn logs; the largest sessions have them too.
TURN_LOG_SHARE = 0.05
BIG_SESSIONS = 5
BIG_SESSION_MESSAGES = 5000
COPY_CHUNK_BYTES = 1 << 20

FIRST_NAMES = (
    "Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Keiko",
    "Liam", "Maya", "Nikolai", "Olivia", "Priya", "Quentin", "Rosa", "Sam", "Tariq", "Uma",
    "Victor", "Wen", "Ximena", "Yusuf", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Andersen", "Brooks", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito",
    "Jansen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Petrov", "Rossi", "Silva",
    "Tanaka", "Usman", "Varga", "Weber", "Yilmaz", "Zhang",
)  # fmt: skip
GOALS = (
    "paint again every week",
    "be present with my kids",
    "stop worrying about money",
    "run a half marathon",
    "finish what I start",
    "switch off after work",
    "save for a house",
    "feel at home in my body",
)
ADJECTIVES = (
    "Creative", "Devoted", "Calm", "Steady", "Generous", "Quiet", "Confident", "Curious",
    "Patient", "Bold", "Playful", "Grounded",
)  # fmt: skip
NOUNS = (
    "Visionary", "Parent", "Keeper", "Runner", "Partner", "Believer", "Earner", "Maker",
    "Learner", "Friend", "Leader", "Builder",
)  # fmt: skip
CATEGORIES = tuple(category for _, category in IDENTITY_LABELS)


@dataclass(frozen=True)
class Sizes:
    users: int
    sessions: int
    messages: int

    def with_overrides(
        self, *, users: int | None, sessions: int | None, messages: int | None
    ) -> Sizes:
        return replace(
            self,
            users=users or self.users,
            sessions=sessions or self.sessions,
            messages=messages or self.messages,
        )

    def check(self) -> None:
        if not 1 <= self.users <= self.sessions <= self.messages:
            raise ValueError(
                f"need 1 <= users <= sessions <= messages, got {self.users:,} users, "
                f"{self.sessions:,} sessions, {self.messages:,} messages"
            )


FULL_SIZES = Sizes(users=10_000, sessions=100_000, messages=5_000_000)
QUICK_SIZES = Sizes(users=40, sessions=300, messages=6_000)


# -- progress ------------------------------------------------------------------------------------


class Progress:
    """Prints how far a long step is, at most every ``every`` seconds."""

    def __init__(self, label: str, total: int, *, every: float = 2.0, quiet: bool = False) -> None:
        self.label = label
        self.total = total
        self.every = every
        self.quiet = quiet
        self.done = 0
        self.started = time.perf_counter()
        self._last = self.started

    def add(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self._last >= self.every:
            self._last = now
            self._print(now)

    def finish(self) -> float:
        """Seconds since the start (the caller prints the summary)."""
        return time.perf_counter() - self.started

    def _print(self, now: float) -> None:
        if self.quiet:
            return
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else math.nan
        pct = 100 * self.done / self.total if self.total else 100.0
        eta = f", about {left:,.0f} s left" if self.done < self.total else ""
        print(
            f"  {self.label}: {self.done:,} / {self.total:,} ({pct:.1f}%), {rate:,.0f} rows/s{eta}",
            flush=True,
        )


# -- COPY ----------------------------------------------------------------------------------------


def copy_text(value: object) -> str:
    """One field in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict | list):
        value = json.dumps(value, separators=(",", ":"))
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return text


class TableCopy:
    """Rows for one table, written with ``COPY`` in the table's own column order."""

    def __init__(self, conn: psycopg.Connection[Any], table: Table, progress: Progress) -> None:
        self.table = table
        self.columns = [c.name for c in table.columns]
        # COPY writes every column, so a column's server default never applies.
        self._required = {c.name for c in table.columns if not c.nullable}
        self._conn = conn
        self._progress = progress
        self._buffer: list[str] = []
        self._size = 0
        self._pending = 0
        self._stack = ExitStack()
        self._copy: psycopg.Copy | None = None
        self._checked = False

    def __enter__(self) -> TableCopy:
        cols = ", ".join(f'"{c}"' for c in self.columns)
        cursor = self._stack.enter_context(self._conn.cursor())
        self._copy = self._stack.enter_context(
            cursor.copy(f'COPY "{self.table.name}" ({cols}) FROM STDIN')
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self._flush()
        self._stack.__exit__(exc_type, exc, tb)

    def write(self, row: dict[str, Any]) -> None:
        if not self._checked:
            self._check(row)
        line = "\t".join(copy_text(row.get(c)) for c in self.columns) + "\n"
        self._buffer.append(line)
        self._size += len(line)
        self._pending += 1
        if self._size >= COPY_CHUNK_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            assert self._copy is not None
            self._copy.write("".join(self._buffer))
            self._progress.add(self._pending)
        self._buffer.clear()
        self._size = 0
        self._pending = 0

    def _check(self, row: dict[str, Any]) -> None:
        unknown = set(row) - set(self.columns)
        missing = {c for c in self._required if row.get(c) is None}
        if unknown or missing:
            raise RuntimeError(
                f"the generator is out of date with table {self.table.name!r}: "
                f"unknown columns {sorted(unknown)}, missing required {sorted(missing)}; "
                "update bench/generate.py to the schema in coach/persistence/sql/tables.py"
            )
        self._checked = True


# -- the plan ------------------------------------------------------------------------------------


@dataclass
class PlannedUser:
    id: str
    name: str
    created_at: datetime
    sessions: list[int] = field(default_factory=list)


@dataclass
class PlannedSession:
    index: int
    id: str
    user: int
    messages: int
    created_at: datetime
    step: timedelta
    phase: CoachingState
    turn_log: bool = False

    @property
    def turns(self) -> int:
        """Complete exchanges after the welcome message (an odd message awaits its reply)."""
        return (self.messages - 1) // 2

    @property
    def last_activity_at(self) -> datetime:
        return self.created_at + self.step * (self.messages - 1)

    def phase_index_at(self, seq: int) -> int:
        """The phase the session was in at turn ``seq``: spread evenly up to its final phase."""
        final = PHASES.index(self.phase)
        return min(final, final * seq // max(self.turns, 1))


def rng_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def split_total(rng: random.Random, total: int, parts: int, minimum: int) -> list[int]:
    """``parts`` long-tailed counts of at least ``minimum`` that add up to ``total``."""
    weights = [rng.lognormvariate(0.0, 0.9) for _ in range(parts)]
    spare = total - minimum * parts
    scale = spare / sum(weights)
    counts = [minimum + int(w * scale) for w in weights]
    short = total - sum(counts)
    for i in rng.sample(range(parts), k=min(parts, short)):
        counts[i] += 1
    short = total - sum(counts)
    counts[0] += short  # only when short > parts, which the sample above rules out
    return counts


def plan(
    sizes: Sizes, *, seed: int, now: datetime
) -> tuple[list[PlannedUser], list[PlannedSession]]:
    """Decide every user and session (not yet the messages) from the seed."""
    sizes.check()
    rng = random.Random(seed)
    year = timedelta(days=365)
    users = [
        PlannedUser(
            id=rng_uuid(rng),
            name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            created_at=now - year * rng.random() ** 1.5,
        )
        for _ in range(sizes.users)
    ]
    # Every user has a session; the rest go to users by a long-tailed weight.
    owners = list(range(sizes.users))
    weights = [rng.paretovariate(1.5) for _ in range(sizes.users)]
    owners += rng.choices(range(sizes.users), weights=weights, k=sizes.sessions - sizes.users)
    rng.shuffle(owners)

    big = min(BIG_SESSIONS, sizes.sessions)
    big_size = max(1, min(BIG_SESSION_MESSAGES, sizes.messages // (10 * big)))
    rest = sizes.messages - big * big_size
    counts = [big_size] * big + split_total(rng, rest, sizes.sessions - big, 1)

    sessions: list[PlannedSession] = []
    for i, (owner, count) in enumerate(zip(owners, counts, strict=True)):
        user = users[owner]
        step = timedelta(seconds=rng.uniform(20, 90))
        duration = step * (count - 1)
        latest_start = now - duration - timedelta(minutes=1)
        span = max((latest_start - user.created_at).total_seconds(), 0.0)
        created = user.created_at + timedelta(seconds=span * rng.random())
        turns = (count - 1) // 2
        phase = PHASES[min(len(PHASES) - 1, int(turns / 10 + rng.random() * 2))]
        sessions.append(
            PlannedSession(
                index=i,
                id=rng_uuid(rng),
                user=owner,
                messages=count,
                created_at=created,
                step=step,
                phase=phase,
            )
        )
        user.sessions.append(i)
    newest = sorted(sessions, key=lambda s: s.created_at, reverse=True)
    for s in newest[: max(1, int(len(sessions) * TURN_LOG_SHARE))]:
        s.turn_log = True
    for s in sessions[:big]:
        s.turn_log = True
    return users, sessions


# -- rows ----------------------------------------------------------------------------------------


def user_row(user: PlannedUser, rng: random.Random) -> dict[str, Any]:
    goals = rng.sample(GOALS, k=rng.randint(0, 3))
    return {
        "id": user.id,
        "id_key": search_key(user.id),
        "name": user.name,
        "name_key": search_key(user.name),
        "data": {"name": user.name, "goals": goals},
        "version": 1,
        "created_at": user.created_at,
        "updated_at": user.created_at,
    }


def session_row(s: PlannedSession, users: Sequence[PlannedUser]) -> dict[str, Any]:
    return {
        "id": s.id,
        "user_id": users[s.user].id,
        "id_key": search_key(s.id),
        "user_key": search_key(users[s.user].id),
        "state": s.phase.value,
        "message_count": s.messages,
        "turn_count": s.turns if s.turn_log else 0,
        "created_at": s.created_at,
        "last_activity_at": s.last_activity_at,
    }


def state_row(s: PlannedSession, users: Sequence[PlannedUser]) -> dict[str, Any]:
    return {
        "session_id": s.id,
        "user_id": users[s.user].id,
        "state": s.phase.value,
        "focus_identity_id": None,
        "created_at": s.created_at,
        "updated_at": s.last_activity_at,
    }


def context_row(s: PlannedSession, users: Sequence[PlannedUser]) -> dict[str, Any]:
    summary = (
        {"summary": f"The client has talked through {s.turns} exchanges so far."}
        if s.messages > 40
        else {}
    )
    return {
        "session_id": s.id,
        "user_id": users[s.user].id,
        "user_data": summary,
        "version": 1 + s.turns,  # the welcome message, then one save per turn
        "message_count": s.messages,
        "created_at": s.created_at,
        "updated_at": s.last_activity_at,
    }


def identity_rows(
    user: PlannedUser, sessions: Sequence[PlannedSession], rng: random.Random
) -> Iterator[dict[str, Any]]:
    count = rng.choice((0, 1, 2, 3, 3, 4, 5, 6, 8))
    labels: set[str] = set()
    for _ in range(count):
        label = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
        if label_key(label) in labels:
            continue
        labels.add(label_key(label))
        session = sessions[rng.choice(user.sessions)]
        state = rng.choice(
            (IdentityState.PROPOSED, IdentityState.ACCEPTED, IdentityState.ACCEPTED,
             IdentityState.REFINED, IdentityState.DISMISSED)
        )  # fmt: skip
        refined = state is IdentityState.REFINED
        created = session.created_at + session.step * rng.randint(0, session.messages - 1)
        yield {
            "id": rng_uuid(rng),
            "user_id": user.id,
            "session_id": session.id,
            "label": label,
            "label_key": label_key(label),
            "category": rng.choice(CATEGORIES),
            "description": f"{label}: someone who {rng.choice(GOALS)}.",
            "state": state.value,
            "affirmation": f"I am a {label.lower()}." if refined else None,
            "visualization": "Saturday morning, the light through the window." if refined else None,
            "notes": [f"Came up while talking about how to {rng.choice(GOALS)}."],
            "version": 1,
            "action_items": (
                [
                    {
                        "id": rng_uuid(rng),
                        "text": "Ten minutes every morning",
                        "done": False,
                        "created_at": created.isoformat(),
                        "done_at": None,
                    }
                ]
                if refined
                else []
            ),
            "created_at": created,
            "updated_at": created,
        }


PROMPT_HASH = hashlib.sha256(SYSTEM_PROMPT.encode()).hexdigest()[:16]


def turn_row(
    s: PlannedSession,
    users: Sequence[PlannedUser],
    seq: int,
    user_message_id: str,
    coach_message_id: str,
    coach_text: str,
    at: datetime,
) -> dict[str, Any]:
    before = PHASES[min(s.phase_index_at(seq), len(PHASES) - 1)]
    after = PHASES[min(s.phase_index_at(seq + 1), len(PHASES) - 1)]
    return {
        "session_id": s.id,
        "seq": seq,
        "user_id": users[s.user].id,
        "user_message_id": user_message_id,
        "coach_message_id": coach_message_id,
        "status": "ok",
        "state_before": before.value,
        "state_after": after.value,
        "requested_transition": after.value if after is not before else None,
        "transition_refused_reason": None,
        "prompt_name": f"phase/{before.value}",
        "prompt_version": "1",
        "prompt_hash": PROMPT_HASH,
        "system_prompt": SYSTEM_PROMPT,
        "model": "gpt-5.4-mini",
        "provider": "openai",
        "raw_output": json.dumps({"message": coach_text, "actions": []}),
        "actions": [],
        "input_tokens": 900 + 12 * min(seq, 40),
        "output_tokens": len(coach_text) // 4,
        "latency_ms": 850.0,
        "ttft_ms": 210.0,
        "error": None,
        "details": {},
        "created_at": at,
    }


# -- loading -------------------------------------------------------------------------------------


def table_counts(dsn: str) -> dict[str, int]:
    """Rows per table (exact counts)."""
    with psycopg.connect(dsn) as conn:
        return {
            name: int(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])  # type: ignore[index]
            for name in TABLES
        }


def filled_to(counts: dict[str, int], sizes: Sizes) -> bool:
    return (
        counts.get("users") == sizes.users
        and counts.get("sessions") == sizes.sessions
        and counts.get("messages") == sizes.messages
    )


async def _initialize(url: str) -> None:
    db = SQLDatabase(url)
    try:
        await db.initialize()
    finally:
        await db.close()


def _loader(dsn: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(dsn)
    conn.execute("SET session_replication_role = replica")  # skip FK triggers while loading
    conn.execute("SET synchronous_commit = off")
    return conn


def fill(dsn: str, sizes: Sizes, *, seed: int, quiet: bool = False) -> dict[str, int]:
    """Write every row; return the rows written per table."""
    now = datetime.now(UTC)
    users, sessions = plan(sizes, seed=seed, now=now)
    rng = random.Random(seed + 1)
    text = TextSource(seed=seed + 2)
    written: dict[str, int] = {}

    def say(message: str) -> None:
        if not quiet:
            print(message, flush=True)

    with _loader(dsn) as conn:
        for name, rows in (
            ("users", (user_row(u, rng) for u in users)),
            ("sessions", (session_row(s, users) for s in sessions)),
            ("states", (state_row(s, users) for s in sessions)),
            ("contexts", (context_row(s, users) for s in sessions)),
            ("identities", (row for u in users for row in identity_rows(u, sessions, rng))),
        ):
            total = {"users": sizes.users, "identities": sizes.users * 4}.get(name, sizes.sessions)
            progress = Progress(name, total, quiet=quiet)
            with TableCopy(conn, TABLES[name], progress) as copy:
                for row in rows:
                    copy.write(row)
            progress.total = progress.done
            say(f"  {name}: {progress.done:,} rows in {progress.finish():.1f} s")
            written[name] = progress.done
        conn.commit()

    expected_turns = sum(s.turns for s in sessions if s.turn_log)
    msg_progress = Progress("messages", sizes.messages, quiet=quiet)
    turn_progress = Progress("turns", expected_turns, every=1e9, quiet=True)
    with _loader(dsn) as msg_conn, _loader(dsn) as turn_conn:
        with (
            TableCopy(msg_conn, TABLES["messages"], msg_progress) as messages,
            TableCopy(turn_conn, TABLES["turns"], turn_progress) as turns,
        ):
            for s in sessions:
                ids = [rng_uuid(rng) for _ in range(s.messages)]
                previous_user_id = ""
                for pos in range(s.messages):
                    coach = pos % 2 == 0  # position 0 is the welcome message
                    content = text.coach_message() if coach else text.user_message()
                    at = s.created_at + s.step * pos
                    messages.write(
                        {
                            "session_id": s.id,
                            "position": pos,
                            "id": ids[pos],
                            "role": "coach" if coach else "user",
                            "content": content,
                            "created_at": at,
                        }
                    )
                    if not coach:
                        previous_user_id = ids[pos]
                    elif pos > 0 and s.turn_log:
                        turns.write(
                            turn_row(s, users, pos // 2, previous_user_id, ids[pos], content, at)
                        )
        msg_conn.commit()
        turn_conn.commit()
    say(f"  messages: {msg_progress.done:,} rows in {msg_progress.finish():.1f} s")
    say(f"  turns: {turn_progress.done:,} rows")
    written["messages"] = msg_progress.done
    written["turns"] = turn_progress.done
    return written


def vacuum_analyze(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in TABLES:
            conn.execute(f'VACUUM (ANALYZE) "{name}"')


def generate(
    url: str, sizes: Sizes, *, seed: int = 42, reset: bool = False, quiet: bool = False
) -> dict[str, Any]:
    """Make the database at ``url`` hold ``sizes`` of generated data (reused when it does).

    Returns:
        ``{"reused": bool, "counts": {...}, "seconds": float}``.

    Raises:
        RuntimeError: the database holds other data and ``reset`` is false.
    """
    sizes.check()
    name = database_name(url)
    dsn = psycopg_dsn(url)
    started = time.perf_counter()
    if not database_exists(url, name):
        create_database(url, name)
    asyncio.run(_initialize(async_url(url)))
    counts = table_counts(dsn)
    if filled_to(counts, sizes):
        if not quiet:
            print(f"{name} already holds {sizes.messages:,} messages: reusing it", flush=True)
        return {"reused": True, "counts": counts, "seconds": time.perf_counter() - started}
    if any(counts.values()):
        if not reset:
            raise RuntimeError(
                f"database {name!r} holds other data ({counts}); pass --reset to drop and refill "
                "it, or name another database"
            )
        drop_database(url, name)
        create_database(url, name)
        asyncio.run(_initialize(async_url(url)))
    if not quiet:
        print(
            f"Filling {name}: {sizes.users:,} users, {sizes.sessions:,} sessions, "
            f"{sizes.messages:,} messages",
            flush=True,
        )
    fill(dsn, sizes, seed=seed, quiet=quiet)
    if not quiet:
        print("  VACUUM ANALYZE ...", flush=True)
    vacuum_analyze(dsn)
    counts = table_counts(dsn)
    seconds = time.perf_counter() - started
    if not quiet:
        print(f"Done in {seconds:,.0f} s: {counts}", flush=True)
    return {"reused": False, "counts": counts, "seconds": seconds}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.generate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--pg-url",
        required=True,
        help="the database to fill, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/coach_bench",
    )
    parser.add_argument("--users", type=int, default=FULL_SIZES.users)
    parser.add_argument("--sessions", type=int, default=FULL_SIZES.sessions)
    parser.add_argument("--messages", type=int, default=FULL_SIZES.messages)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--reset", action="store_true", help="drop and refill a database of another size"
    )
    args = parser.parse_args(argv)
    sizes = Sizes(args.users, args.sessions, args.messages)
    print(f"Target: {mask(args.pg_url)}", flush=True)
    try:
        generate(args.pg_url, sizes, seed=args.seed, reset=args.reset)
    except (RuntimeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
