"""Fill a PostgreSQL database with realistic coaching data, fast.

    python -m bench.generate --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/coach_bench \\
        --users 10000 --sessions 100000 --messages 5000000

The database is created if missing and brought to the latest schema by the SQL backend's own
``initialize()``; rows then go straight into its tables with ``COPY`` (the column lists come from
``coach.persistence.sql.tables``, so the schema is not repeated here). Foreign-key triggers are
skipped while loading (``session_replication_role = replica``): the generator writes consistent
rows by construction. ``VACUUM ANALYZE`` runs at the end.

What the data is (users, sessions, messages, identities, turn logs) is planned in
``bench.dataset``. A database already filled to the requested size is reused; a database of
another size is refilled only with ``--reset``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import psycopg
from sqlalchemy import Table

from bench.common import TextSource, mask
from bench.dataset import (
    FULL_SIZES,
    Sizes,
    context_row,
    identity_rows,
    plan,
    rng_uuid,
    session_row,
    state_row,
    turn_row,
    user_row,
)
from bench.pg import (
    async_url,
    create_database,
    database_exists,
    database_name,
    drop_database,
    psycopg_dsn,
)
from coach.persistence.sql import SQLDatabase
from coach.persistence.sql.tables import TABLES

COPY_CHUNK_BYTES = 1 << 20


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
