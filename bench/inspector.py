"""Benchmark (d): the pages' reads on a big PostgreSQL database.

The database (``coach_bench`` by default) is filled once by ``bench.generate`` and reused while
it holds the requested number of users, sessions and messages. Each call is one the pages make,
through the same functions (``coach.inspection``, ``ui.chat.load_chat_view``) on the SQL
backend, run a number of times after a warm-up; p50 and p95 are reported against the spec's
target (p95 under 100 ms). The SQL each query sends is captured from the engine and run
again under ``EXPLAIN (ANALYZE, BUFFERS)`` on a plain psycopg connection; a sequential scan of
``messages`` or ``sessions`` (or any other big table) is flagged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import event

from bench.common import Stats, mask, print_table
from bench.dataset import FULL_SIZES, QUICK_SIZES, Sizes
from bench.generate import generate
from bench.pg import async_url, psycopg_dsn
from coach.enums import CoachingState
from coach.inspection import latest_window_turn, load_session_view, load_turn_outlines
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence.paging import encode_cursor
from coach.persistence.sql import SQLDatabase
from coach.service import CoachService
from ui.app_runtime import freeze_startup_objects
from ui.chat import load_chat_view

__all__ = ["DEFAULT_DATABASE", "FULL_SIZES", "QUICK_SIZES", "InspectorConfig", "run"]

DEFAULT_DATABASE = "coach_bench"
TARGET_P95_MS = 100.0
#: Tables that must never be read with a sequential scan by an inspector query.
BIG_TABLES = frozenset(
    {"messages", "sessions", "turns", "contexts", "states", "identities", "users"}
)
PAGE_SIZE = 50


@dataclass(frozen=True)
class InspectorConfig:
    repeats: int = 50
    warmup: int = 3
    deep_pages: int = 100

    @classmethod
    def quick(cls) -> InspectorConfig:
        return cls(repeats=5, warmup=1, deep_pages=3)


@dataclass
class Captured:
    statement: str
    parameters: Any


class StatementRecorder:
    """Records the SQL the engine sends while ``recording()`` is active."""

    def __init__(self, db: SQLDatabase) -> None:
        self.active = False
        self.statements: list[Captured] = []
        event.listen(db.sync_engine, "before_cursor_execute", self._on_execute)

    def _on_execute(
        self,
        _conn: object,
        _cursor: object,
        statement: str,
        parameters: Any,
        _context: object,
        _executemany: bool,
    ) -> None:
        if self.active:
            self.statements.append(Captured(statement, parameters))

    @contextmanager
    def recording(self) -> Iterator[list[Captured]]:
        self.statements = []
        self.active = True
        try:
            yield self.statements
        finally:
            self.active = False


def explain(conn: psycopg.Connection[Any], captured: Captured) -> tuple[str, list[str], float]:
    """``EXPLAIN ANALYZE`` one captured statement (asyncpg's ``$n`` placeholders are fine for a
    server-side ``PREPARE``).

    Returns:
        The text plan, the big tables read with a sequential scan, and the execution time (ms).
    """
    params = captured.parameters
    values = list(params.values()) if isinstance(params, dict) else list(params or ())
    conn.execute(sql.SQL("PREPARE bench_q AS {}").format(sql.SQL(captured.statement)))
    try:
        execute: sql.Composable = sql.SQL("EXECUTE bench_q")
        if values:
            execute = sql.SQL("EXECUTE bench_q ({})").format(
                sql.SQL(", ").join(sql.Literal(v) for v in values)
            )
        plan_json = conn.execute(
            sql.SQL("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {}").format(execute)
        ).fetchone()
        text_rows = conn.execute(
            sql.SQL("EXPLAIN (ANALYZE, BUFFERS) {}").format(execute)
        ).fetchall()
    finally:
        conn.execute("DEALLOCATE bench_q")
    assert plan_json is not None
    root = plan_json[0][0]
    seq_scans = sorted(
        {
            node.get("Relation Name", "?")
            for node in walk_plan(root["Plan"])
            if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") in BIG_TABLES
        }
    )
    return "\n".join(r[0] for r in text_rows), seq_scans, float(root.get("Execution Time", 0.0))


def walk_plan(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from walk_plan(child)


@dataclass(frozen=True)
class Subjects:
    """The users, sessions and cursors the queries are asked about."""

    big_user: str
    big_session_user: str
    big_session: str
    turns_session: str
    #: The session with the most turns (2,500 at full size), and its user.
    longest_session: str
    longest_session_user: str
    busy_user: str
    middle_user_cursor: str
    middle_session_cursor: str


def pick_subjects(dsn: str) -> Subjects:
    """Choose the query subjects with plain SQL (not timed)."""
    with psycopg.connect(dsn) as conn:

        def one(query: str) -> tuple[Any, ...]:
            row = conn.execute(query).fetchone()
            assert row is not None, query
            return tuple(row)

        big_session, big_session_user = one(
            "SELECT id, user_id FROM sessions ORDER BY message_count DESC, id LIMIT 1"
        )
        turns_session = one(
            "SELECT id FROM sessions WHERE turn_count > 0 "
            "ORDER BY turn_count DESC, id LIMIT 1 OFFSET 10"
            if one("SELECT count(*) FROM sessions WHERE turn_count > 0")[0] > 10
            else "SELECT id FROM sessions ORDER BY turn_count DESC, id LIMIT 1"
        )[0]
        longest_session, longest_session_user = one(
            "SELECT id, user_id FROM sessions ORDER BY turn_count DESC, id LIMIT 1"
        )
        busy_user = one(
            "SELECT user_id FROM sessions GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1"
        )[0]
        n_users = one("SELECT count(*) FROM users")[0]
        u_at, u_id = one(
            f"SELECT created_at, id FROM users ORDER BY created_at DESC, id DESC "
            f"OFFSET {n_users // 2} LIMIT 1"
        )
        n_sessions = one("SELECT count(*) FROM sessions")[0]
        s_at, s_id = one(
            f"SELECT last_activity_at, id FROM sessions ORDER BY last_activity_at DESC, id DESC "
            f"OFFSET {n_sessions // 2} LIMIT 1"
        )
    return Subjects(
        big_user=big_session_user,
        big_session_user=big_session_user,
        big_session=big_session,
        turns_session=turns_session,
        longest_session=longest_session,
        longest_session_user=longest_session_user,
        busy_user=busy_user,
        middle_user_cursor=encode_cursor(u_at, u_id),
        middle_session_cursor=encode_cursor(s_at, s_id),
    )


Query = Callable[[], Awaitable[object]]


async def follow_cursors(
    fetch: Callable[[str | None], Awaitable[Any]], pages: int
) -> tuple[str | None, float]:
    """Walk ``pages`` pages; return the cursor of the next page and the seconds taken."""
    cursor: str | None = None
    t0 = time.perf_counter()
    for _ in range(pages):
        page = await fetch(cursor)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return cursor, time.perf_counter() - t0


async def run(
    *, pg_server_url: str, database: str, sizes: Sizes, config: InspectorConfig
) -> dict[str, Any]:
    """Fill (or reuse) the database, time each inspector query, EXPLAIN it; print and return."""
    url = async_url(pg_server_url, database)
    print(f"\nInspector benchmark on {mask(url)}", flush=True)
    # generate() is synchronous (it runs its own event loop for initialize()): give it a thread.
    filled = await asyncio.to_thread(
        generate, url, sizes, reset=database.startswith(DEFAULT_DATABASE)
    )
    dsn = psycopg_dsn(url)
    subjects = pick_subjects(dsn)

    db = SQLDatabase(url)
    await db.initialize()
    freeze_startup_objects()  # as the app does once it has started (ui/app_runtime)
    recorder = StatementRecorder(db)
    try:
        deep_user_cursor, walk_users_s = await follow_cursors(
            lambda c: db.list_users(limit=PAGE_SIZE, cursor=c), config.deep_pages
        )
        deep_session_cursor, walk_sessions_s = await follow_cursors(
            lambda c: db.list_sessions(limit=PAGE_SIZE, cursor=c), config.deep_pages
        )
        big = await db.get_session(subjects.big_session)
        longest = await load_session_view(db, subjects.longest_session)
        assert big is not None and longest is not None
        middle = max(0, big.message_count // 2)
        turns = longest.summary.turn_count
        service = CoachService(ScriptedLLMClient(), db)
        n = f"{turns:,} turns"
        queries: dict[str, Query] = {
            "list_users first page": lambda: db.list_users(limit=PAGE_SIZE),
            f"list_users page {config.deep_pages + 1} (cursor)": lambda: db.list_users(
                limit=PAGE_SIZE, cursor=deep_user_cursor
            ),
            "list_users middle (cursor)": lambda: db.list_users(
                limit=PAGE_SIZE, cursor=subjects.middle_user_cursor
            ),
            "list_users search 'ma'": lambda: db.list_users(limit=PAGE_SIZE, search="ma"),
            "list_sessions first page": lambda: db.list_sessions(limit=PAGE_SIZE),
            f"list_sessions page {config.deep_pages + 1} (cursor)": lambda: db.list_sessions(
                limit=PAGE_SIZE, cursor=deep_session_cursor
            ),
            "list_sessions middle (cursor)": lambda: db.list_sessions(
                limit=PAGE_SIZE, cursor=subjects.middle_session_cursor
            ),
            "list_sessions phase=action_planning": lambda: db.list_sessions(
                limit=PAGE_SIZE, state=CoachingState.ACTION_PLANNING
            ),
            "list_sessions phase + middle cursor": lambda: db.list_sessions(
                limit=PAGE_SIZE,
                state=CoachingState.IDENTITY_BRAINSTORMING,
                cursor=subjects.middle_session_cursor,
            ),
            "list_sessions by user": lambda: db.list_sessions(
                limit=PAGE_SIZE, user_id=subjects.busy_user
            ),
            "get_session": lambda: db.get_session(subjects.big_session),
            f"get_context limit 50 ({big.message_count:,} msgs)": lambda: db.get_context(
                subjects.big_session_user, subjects.big_session, message_limit=50
            ),
            "list_messages middle of big session": lambda: db.list_messages(
                subjects.big_session, start=middle, limit=PAGE_SIZE
            ),
            # The inspector on the session with the most turns: what every run reads, then
            # what each tab reads (ui/inspector.py).
            f"inspector: load_session_view ({n})": lambda: load_session_view(
                db, subjects.longest_session
            ),
            f"State/Identities tab: load_turn_outlines ({n})": lambda: load_turn_outlines(
                db, subjects.longest_session
            ),
            f"Context tab: latest_window_turn ({n})": lambda: latest_window_turn(db, longest),
            f"Turns tab: list_turns last page ({n})": lambda: db.list_turns(
                subjects.longest_session, after_seq=max(0, turns - 20), limit=20
            ),
            f"Turns tab: get_turn of an opened entry ({n})": lambda: db.get_turn(
                subjects.longest_session, max(1, turns // 2)
            ),
            f"Coach page: load_chat_view ({n})": lambda: load_chat_view(
                service, subjects.longest_session_user, subjects.longest_session
            ),
        }
        timings: dict[str, Stats] = {}
        captured: dict[str, list[Captured]] = {}
        for name, query in queries.items():
            for _ in range(config.warmup):
                await query()
            samples = []
            for _ in range(config.repeats):
                t0 = time.perf_counter()
                await query()
                samples.append(time.perf_counter() - t0)
            timings[name] = Stats.of_seconds(samples)
            with recorder.recording() as statements:
                await query()
            captured[name] = list(statements)
    finally:
        await db.close()

    flagged: dict[str, list[str]] = {}
    plans: dict[str, list[dict[str, Any]]] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name, statements in captured.items():
            plans[name] = []
            for stmt in statements:
                item: dict[str, Any] = {"sql": stmt.statement, "parameters": repr(stmt.parameters)}
                plans[name].append(item)
                if not stmt.statement.lstrip().upper().startswith(("SELECT", "WITH")):
                    continue
                text, seq_scans, exec_ms = explain(conn, stmt)
                item["plan"] = text
                item["seq_scans"] = seq_scans
                item["execution_ms"] = exec_ms
                if seq_scans:
                    flagged.setdefault(name, []).extend(seq_scans)

    print("\n### EXPLAIN ANALYZE of each inspector query\n")
    for name, explained in plans.items():
        for item in explained:
            if "plan" not in item:
                continue
            print(f"-- {name}\n{item['sql']}\n{item['plan']}\n")

    rows = []
    for name, stats in timings.items():
        scans = flagged.get(name)
        rows.append(
            [
                name,
                stats.median_ms,
                stats.p95_ms,
                stats.max_ms,
                "SEQ SCAN: " + ", ".join(sorted(set(scans))) if scans else "no seq scan",
            ]
        )
    counts = filled["counts"]
    print_table(
        f"Inspector queries on PostgreSQL ({counts['users']:,} users, "
        f"{counts['sessions']:,} sessions, {counts['messages']:,} messages), ms, "
        f"{config.repeats} runs each",
        ["query", "p50", "p95", "max", "plan"],
        rows,
    )
    print(
        f"Walking {config.deep_pages} pages: list_users {walk_users_s * 1000:,.0f} ms, "
        f"list_sessions {walk_sessions_s * 1000:,.0f} ms in all"
    )
    worst = max(s.p95_ms for s in timings.values())
    met = worst < TARGET_P95_MS
    print(
        f"Target p95 < {TARGET_P95_MS:.0f} ms for every query: {'met' if met else 'MISSED'} "
        f"(worst {worst:.1f} ms); sequential scans of big tables: "
        f"{flagged or 'none'}"
    )
    return {
        "database": database,
        "sizes": {"users": sizes.users, "sessions": sizes.sessions, "messages": sizes.messages},
        "counts": counts,
        "generation": {"reused": filled["reused"], "seconds": filled["seconds"]},
        "config": {
            "repeats": config.repeats,
            "warmup": config.warmup,
            "deep_pages": config.deep_pages,
        },
        "timings_ms": {k: v.as_dict() for k, v in timings.items()},
        "walk_ms": {"list_users": walk_users_s * 1000, "list_sessions": walk_sessions_s * 1000},
        "plans": plans,
        "seq_scans": flagged,
        "targets": {
            "worst_p95_ms": worst,
            "p95_under_100ms": met,
            "no_seq_scan_on_big_tables": not flagged,
        },
    }
