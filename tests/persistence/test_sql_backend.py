"""Behaviour of the SQL backend that the shared contract suite cannot see: connection settings,
statements issued, indexes used, and the messages of connection errors. (About 400 lines: its
sections share the statement recorder and the fill of a big table.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import event, insert
from sqlalchemy.engine import Connection

from coach.enums import CoachingState, MessageRole, TurnStatus
from coach.errors import LLMTimeoutError, PersistenceError
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence.records import (
    ContextRecord,
    MessageRecord,
    StateRecord,
    TurnCommit,
    TurnRecord,
    utcnow,
)
from coach.persistence.sql import SQLDatabase
from coach.persistence.sql.tables import TABLES, sessions, users
from coach.service import CoachService

pytestmark = pytest.mark.filterwarnings("error::sqlalchemy.exc.SAWarning")

T = TypeVar("T")


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[SQLDatabase]:
    """A migrated ``SQLDatabase`` on ``url``, closed afterwards."""
    db = SQLDatabase(url)
    await db.initialize()
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def sqlite_db(sqlite_url: str) -> AsyncIterator[SQLDatabase]:
    async with opened(sqlite_url) as db:
        yield db


@pytest.fixture
async def sql_db(sql_url: str) -> AsyncIterator[SQLDatabase]:
    async with opened(sql_url) as db:
        yield db


@pytest.fixture
async def pg_db(postgres_url: str) -> AsyncIterator[SQLDatabase]:
    async with opened(postgres_url) as db:
        yield db


@contextmanager
def recorded_statements(db: SQLDatabase) -> Iterator[list[tuple[str, Any, bool]]]:
    """Record ``(sql, parameters, executemany)`` of every statement ``db`` sends."""
    seen: list[tuple[str, Any, bool]] = []

    def record(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        seen.append((statement, parameters, executemany))

    event.listen(db.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.sync_engine, "before_cursor_execute", record)


async def run_sql(db: SQLDatabase, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in a write transaction on ``db``."""
    return await db.run_sync(work, write=True)


def message(i: int) -> MessageRecord:
    role = MessageRole.USER if i % 2 == 0 else MessageRole.COACH
    return MessageRecord(role=role, content=f"message {i}")


def touches_messages(sql: str) -> bool:
    return " messages" in sql.lower()


def is_select(sql: str) -> bool:
    return sql.lstrip().upper().startswith("SELECT")


# -- SQLite connection settings ------------------------------------------------------------------


async def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(
    sqlite_db: SQLDatabase,
) -> None:
    def read_pragmas(conn: Connection) -> dict[str, Any]:
        names = ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
        return {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in names}

    pragmas = await run_sql(sqlite_db, read_pragmas)
    assert pragmas == {
        "journal_mode": "wal",
        "busy_timeout": 10_000,
        "foreign_keys": 1,
        "synchronous": 1,
    }


async def test_sqlite_file_folder_is_created(tmp_path: Path) -> None:
    db = SQLDatabase(f"sqlite:///{tmp_path / 'a' / 'b' / 'coach.db'}")
    await db.initialize()
    await db.close()
    assert (tmp_path / "a" / "b" / "coach.db").is_file()


async def test_sqlite_unusable_path_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    db = SQLDatabase(f"sqlite:///{tmp_path / 'file' / 'coach.db'}")
    with pytest.raises(PersistenceError, match="writable"):
        await db.initialize()
    await db.close()


async def test_sqlite_concurrent_writers_wait_instead_of_failing(sqlite_url: str) -> None:
    """Two engines (as two app processes) appending turns to one session at once."""
    first, second = SQLDatabase(sqlite_url), SQLDatabase(sqlite_url)
    await first.initialize()
    try:
        await first.save_state(StateRecord(user_id="u", session_id="s"))

        async def add_turns(db: SQLDatabase, tag: str) -> list[int]:
            seqs = []
            for i in range(10):
                turn = TurnRecord(
                    session_id="s",
                    user_id="u",
                    user_message_id=f"{tag}-{i}",
                    state_before=CoachingState.INTRODUCTION,
                    state_after=CoachingState.INTRODUCTION,
                )
                seqs.append((await db.save_turn(turn)).seq or 0)
            return seqs

        a, b = await asyncio.gather(add_turns(first, "a"), add_turns(second, "b"))
        assert sorted(a + b) == list(range(1, 21))
    finally:
        await first.close()
        await second.close()


# -- append-only messages ------------------------------------------------------------------------


async def test_messages_are_stored_one_row_each_and_only_new_ones_are_written(
    sql_db: SQLDatabase,
) -> None:
    context = ContextRecord(user_id="u", session_id="s", messages=[message(i) for i in range(3)])
    saved = await sql_db.save_context(context)
    assert (await sql_db.count_records())["messages"] == 3

    loaded = await sql_db.get_context("u", "s", message_limit=1)
    assert loaded is not None
    loaded.messages.extend([message(3), message(4)])
    with recorded_statements(sql_db) as seen:
        await sql_db.save_context(loaded)

    message_reads = [p for sql, p, _ in seen if touches_messages(sql) and is_select(sql)]
    message_writes = [
        (sql, params, many)
        for sql, params, many in seen
        if touches_messages(sql) and not is_select(sql)
    ]
    assert len(message_writes) == 1
    sql, params, many = message_writes[0]
    assert sql.lstrip().upper().startswith("INSERT")
    assert many and len(params) == 2
    # The only read of messages checks the two new ids (for a clear error), never the old ones.
    assert len(message_reads) == 1 and len(message_reads[0]) == 2
    assert (await sql_db.count_records())["messages"] == 5
    assert saved.version == 1


async def test_a_turn_costs_the_same_statements_at_any_length(sqlite_db: SQLDatabase) -> None:
    version, messages = 0, 0
    counts: list[int] = []
    for turn_no in range(30):
        context = await sqlite_db.get_context("u", "s", message_limit=4)
        if context is None:
            context = ContextRecord(user_id="u", session_id="s")
        user_msg, coach_msg = message(messages), message(messages + 1)
        context.messages.extend([user_msg, coach_msg])
        commit = TurnCommit(
            context=context,
            state=StateRecord(user_id="u", session_id="s"),
            turn=TurnRecord(
                session_id="s",
                user_id="u",
                user_message_id=user_msg.id,
                coach_message_id=coach_msg.id,
                state_before=CoachingState.INTRODUCTION,
                state_after=CoachingState.INTRODUCTION,
                status=TurnStatus.OK,
            ),
        )
        with recorded_statements(sqlite_db) as seen:
            result = await sqlite_db.commit_turn(commit)
        if turn_no > 0:
            counts.append(len(seen))
        assert result.turn_seq == turn_no + 1
        version, messages = result.context_version, messages + 2
    assert len(set(counts)) == 1, counts
    assert version == 30
    assert (await sqlite_db.count_records())["messages"] == 60


# -- record counts -------------------------------------------------------------------------------


async def test_record_counts_from_counters_match_the_rows(sql_db: SQLDatabase) -> None:
    """``count_records`` reads messages and turns off the parents' counters; after turns that
    succeed, fail and are retried, a replayed message and deletes, they equal real row counts."""
    llm = ScriptedLLMClient(function=lambda request: {"message": "Noted.", "actions": []})
    service = CoachService(llm, sql_db)
    kept = await service.start_session("ana")
    deleted_context = await service.start_session("ben")
    deleted_session = await service.start_session("ana")
    for info in (kept, deleted_context, deleted_session):
        await service.send_message_and_wait(
            info.user_id, info.session_id, "Hello", client_message_id=f"m-{info.session_id}"
        )
    llm.enqueue(LLMTimeoutError("the model did not answer within 60 s"))
    failed = await service.send_message_and_wait(kept.user_id, kept.session_id, "Are you there?")
    assert not failed.ok
    async for _ in service.retry_turn(kept.user_id, kept.session_id):
        pass
    replayed = await service.send_message_and_wait(
        kept.user_id, kept.session_id, "Hello", client_message_id=f"m-{kept.session_id}"
    )
    assert replayed.replayed

    async def both() -> tuple[dict[str, int], dict[str, int]]:
        counted = await sql_db.count_records()
        tables = (await sql_db.describe_storage()).tables
        return counted, {t.name: t.rows for t in tables if t.name in counted}

    counted, rows = await both()
    assert counted == rows
    # Three welcomes and three answered hellos; the failed message, then its retried answer.
    assert (rows["messages"], rows["turns"]) == (3 + 3 * 2 + 1 + 1, 3 + 1 + 1)

    assert await sql_db.delete_context(deleted_context.user_id, deleted_context.session_id)
    assert await sql_db.delete_session(deleted_session.session_id)
    counted, rows = await both()
    assert counted == rows
    assert rows["sessions"] == 2


# -- errors --------------------------------------------------------------------------------------


async def test_unreachable_postgresql_is_a_helpful_error_without_the_password() -> None:
    db = SQLDatabase("postgresql+asyncpg://coach:s3cret@127.0.0.1:1/coach")
    with pytest.raises(PersistenceError) as caught:
        await db.get_user("u")
    await db.close()
    message_text = str(caught.value)
    assert "cannot connect to postgresql+asyncpg://coach:***@127.0.0.1:1/coach" in message_text
    assert "Is the server running" in message_text
    assert "s3cret" not in message_text
    assert caught.value.__cause__ is not None


async def test_missing_postgresql_database_says_how_to_create_it(postgres_url: str) -> None:
    db = SQLDatabase(postgres_url + "_missing")
    with pytest.raises(PersistenceError, match="does not exist"):
        await db.initialize()
    await db.close()


async def test_repr_masks_the_password() -> None:
    db = SQLDatabase("postgresql+asyncpg://coach:s3cret@db.example/coach")
    assert "s3cret" not in repr(db) and "***" in db.url
    await db.close()


# -- indexes -------------------------------------------------------------------------------------


async def _fill(db: SQLDatabase, n_users: int, per_user: int) -> None:
    now = utcnow()
    user_rows = [
        {
            "id": f"user-{u:04d}",
            "id_key": f"user-{u:04d}",
            "name": f"Name {u}",
            "name_key": f"name {u}",
            "data": {"name": f"Name {u}"},
            "created_at": now - timedelta(minutes=u),
            "updated_at": now,
        }
        for u in range(n_users)
    ]
    states = list(CoachingState)
    session_rows = [
        {
            "id": f"s-{u:04d}-{k:03d}",
            "user_id": f"user-{u:04d}",
            "id_key": f"s-{u:04d}-{k:03d}",
            "user_key": f"user-{u:04d}",
            "state": states[(u + k) % len(states)].value,
            "message_count": k,
            "turn_count": k,
            "created_at": now,
            "last_activity_at": now - timedelta(seconds=u * per_user + k),
        }
        for u in range(n_users)
        for k in range(per_user)
    ]

    def fill(conn: Connection) -> None:
        conn.execute(insert(users), user_rows)
        conn.execute(insert(sessions), session_rows)
        conn.exec_driver_sql("ANALYZE")

    await run_sql(db, fill)


async def explain_all(db: SQLDatabase, statements: list[tuple[str, Any, bool]]) -> list[str]:
    prefix = "EXPLAIN " if db.backend_name == "postgresql" else "EXPLAIN QUERY PLAN "

    def explain(conn: Connection) -> list[str]:
        plans = []
        for sql, params, _ in statements:
            if sql.lstrip().upper().startswith("SELECT"):
                rows = conn.exec_driver_sql(prefix + sql, params).all()
                plans.append("\n".join(str(row[-1]) for row in rows))
        return plans

    return await run_sql(db, explain)


async def _inspector_statements(db: SQLDatabase, *, search: bool) -> list[tuple[str, Any, bool]]:
    with recorded_statements(db) as seen:
        if search:
            await db.list_sessions(search="S-0012", limit=20)
            await db.list_sessions(search="NAME 12", limit=20)  # the client's name
            await db.list_users(search="NAME 12", limit=20)
        else:
            first = await db.list_sessions(limit=20)
            await db.list_sessions(limit=20, cursor=first.next_cursor)
            await db.list_sessions(user_id="user-0007", limit=20)
            await db.list_sessions(state=CoachingState.ACCOUNTABILITY, limit=20)
            await db.list_sessions(user_id="user-0007", state=CoachingState.ACCOUNTABILITY)
            users_page = await db.list_users(limit=20)
            await db.list_users(limit=20, cursor=users_page.next_cursor)
    return seen


async def test_postgresql_inspector_queries_use_indexes(pg_db: SQLDatabase) -> None:
    await _fill(pg_db, n_users=3000, per_user=2)
    for search in (False, True):
        plans = await explain_all(pg_db, await _inspector_statements(pg_db, search=search))
        assert len(plans) >= (3 if search else 7)
        for plan in plans:
            assert "Seq Scan" not in plan, plan
            assert "Index" in plan, plan


async def test_sqlite_inspector_queries_use_indexes(sqlite_db: SQLDatabase) -> None:
    """Pages come straight off an index in order: no table scan and no sort. A prefix search
    finds its rows through the key indexes and sorts only those (a prefix matches few); a
    session search scans only its subqueries' few rows, never a table."""
    await _fill(sqlite_db, n_users=3000, per_user=2)
    for search in (False, True):
        plans = await explain_all(sqlite_db, await _inspector_statements(sqlite_db, search=search))
        assert len(plans) >= (3 if search else 7)
        for plan in plans:
            if search:
                assert "_key" in plan, plan
            else:
                assert "USE TEMP B-TREE" not in plan, plan
            for line in plan.splitlines():
                if line.startswith("SCAN") and line.split()[1] in TABLES:
                    assert "INDEX" in line, plan


async def test_sqlite_finds_a_messages_turn_without_walking_the_session(
    sqlite_db: SQLDatabase,
) -> None:
    """The engine looks up the client message's turn before every turn: the lookup must go
    straight to that message's turns, not back through every turn of the session by ``seq``."""
    service = CoachService(ScriptedLLMClient(function=lambda r: {"message": "Ok."}), sqlite_db)
    info = await service.start_session("ana")
    for n in range(3):
        await service.send_message_and_wait("ana", info.session_id, f"Message {n}")
    with recorded_statements(sqlite_db) as seen:
        found = await sqlite_db.get_turn_for_message(info.session_id, "no-such-message")
    assert found is None
    (plan,) = await explain_all(sqlite_db, seen)
    assert "ix_turns_session_id_user_message_id_seq (session_id=? AND user_message_id=?)" in plan
