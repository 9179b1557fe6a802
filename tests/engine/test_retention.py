"""Retention on every backend: the dry run changes nothing and counts exactly the sessions past
the cut-off; the run deletes exactly those (and the clients left with none), leaves no row of
theirs in any table, keeps a session that became active again, and can be cancelled."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Text, cast, func, select

from coach.enums import CoachingState, MessageRole
from coach.errors import InputError
from coach.persistence import DatabaseInterface
from coach.persistence.memory import InMemoryDatabase
from coach.persistence.records import RecordBatch, SessionRecords, utcnow
from coach.persistence.sql.backend import SQLDatabase
from coach.persistence.sql.tables import Base
from coach.sessions.jobs import CANCELLED
from coach.sessions.retention import RetentionJobs, plan_retention
from tests.persistence.contract import builders as b

NOW = utcnow()


def session(user_id: str, *, days_ago: float) -> tuple[SessionRecords, Any]:
    """A session last active ``days_ago`` days ago, with messages, a turn and an identity."""
    at = NOW - timedelta(days=days_ago)
    sid = b.uid("session")
    msgs = [b.message("Welcome.", MessageRole.COACH), b.message("Hi, I fear heights.")]
    found = b.identity(user_id, session_id=sid)
    records = SessionRecords(
        session_id=sid,
        user_id=user_id,
        created_at=at,
        last_activity_at=at,
        state=b.state(user_id, sid, CoachingState.INTRODUCTION),
        context=b.context(user_id, sid, msgs),
        turns=[b.turn(user_id, sid, msgs[1].id, seq=1)],
    )
    return records, found


async def store(db: DatabaseInterface, plan: dict[str, list[float]]) -> dict[str, list[str]]:
    """Clients by name with sessions last active so many days ago; their session ids."""
    batch = RecordBatch()
    ids: dict[str, list[str]] = {}
    for name, ages in plan.items():
        user = b.user(b.uid(name), data={"name": name})
        batch.users.append(user)
        ids[user.id] = []
        for days in ages:
            records, found = session(user.id, days_ago=days)
            batch.sessions.append(records)
            batch.identities.append(found)
            ids[user.id].append(records.session_id)
    await db.import_records(batch)
    return ids


def rows_naming(ids: list[str]) -> Any:
    """A scan of every table (but the audit log, which keeps ids by design) for rows with any
    of ``ids`` in any column."""

    def scan(connection: Connection) -> dict[str, int]:
        found = {}
        for table in Base.metadata.sorted_tables:
            if table.name.startswith("audit"):
                continue
            for column in table.columns:
                for id_ in ids:
                    count = connection.execute(
                        select(func.count())
                        .select_from(table)
                        .where(cast(column, Text).like(f"%{id_}%"))
                    ).scalar_one()
                    if count:
                        found[f"{table.name}.{column.name} ~ {id_}"] = count
        return found

    return scan


async def test_retention_deletes_exactly_the_sessions_past_the_cut_off(
    db: DatabaseInterface,
) -> None:
    sessions = await store(db, {"olga": [100, 40], "mia": [100, 5], "nia": [10]})
    olga, mia, nia = sessions
    before = await db.count_records()

    plan = await plan_retention(db, 30, now=NOW)

    assert await db.count_records() == before  # a dry run changes nothing
    assert plan.cutoff == NOW - timedelta(days=30)
    old = {olga: sessions[olga], mia: sessions[mia][:1]}
    assert {s.session_id for s in plan.sessions} == {*old[olga], *old[mia]}
    assert plan.emptied_user_ids == (olga,)
    assert "3 session(s) inactive for 30 day(s)" in plan.describe()
    assert "of 2 client(s); 1 client(s) have no other session" in plan.describe()

    jobs = RetentionJobs(db)
    handle = jobs.start(plan)
    await handle.ended()

    assert handle.error is None and (handle.done, handle.total) == (4, 4)
    assert jobs.outcome is not None
    assert (jobs.outcome.deleted_sessions, jobs.outcome.deleted_users) == (3, 1)
    for sid in [*old[olga], *old[mia]]:
        assert await db.get_session(sid) is None
        assert await db.list_messages(sid) == []
        assert await db.list_turns(sid) == []
    assert await db.get_user(olga) is None
    assert await db.get_identities(olga) == []
    assert [s.session_id for s in (await db.list_sessions()).items] == [
        sessions[mia][1],
        *sessions[nia],
    ]
    # Mia stays, with the identity found in her deleted session (identities are the client's).
    assert {i.session_id for i in await db.get_identities(mia)} == {None, sessions[mia][1]}
    assert await db.count_records() == {
        **before,
        "users": before["users"] - 1,
        "sessions": before["sessions"] - 3,
        "states": before["states"] - 3,
        "contexts": before["contexts"] - 3,
        "messages": before["messages"] - 6,
        "turns": before["turns"] - 3,
        "identities": before["identities"] - 2,
    }
    if isinstance(db, SQLDatabase):
        assert await db.run_sync(rows_naming([*old[olga], *old[mia], olga])) == {}


async def test_a_session_active_again_since_the_dry_run_is_kept(db: DatabaseInterface) -> None:
    sessions = await store(db, {"olga": [100]})
    [olga] = sessions
    plan = await plan_retention(db, 30, now=NOW)
    # The client comes back: a new session, and the old one is written to again.
    fresh, _ = session(olga, days_ago=0)
    await db.import_records(RecordBatch(sessions=[fresh]))
    await db.save_state(b.state(olga, sessions[olga][0], CoachingState.IDENTITY_BRAINSTORMING))
    touched = await db.get_session(sessions[olga][0])
    assert touched is not None and touched.last_activity_at > plan.cutoff

    jobs = RetentionJobs(db)
    await jobs.start(plan).ended()

    assert jobs.outcome is not None
    assert (jobs.outcome.deleted_sessions, jobs.outcome.kept_active) == (0, 1)
    assert jobs.outcome.deleted_users == 0  # she has sessions again
    assert await db.get_user(olga) is not None


async def test_retention_can_be_cancelled_and_keeps_what_it_deleted() -> None:
    class Slow(InMemoryDatabase):
        async def delete_session(self, session_id: str) -> bool:
            await asyncio.sleep(0.05)
            return await super().delete_session(session_id)

    db = Slow()
    await db.initialize()
    await store(db, {"olga": [100] * 20})
    plan = await plan_retention(db, 30, now=NOW)
    jobs = RetentionJobs(db)
    handle = jobs.start(plan)
    with pytest.raises(InputError, match="running already"):
        jobs.start(plan)
    progress = await handle.wait()
    while progress.done < 3:
        progress = await handle.wait(progress.seen)
    assert jobs.cancel("retention") is True
    await handle.ended()

    assert handle.error == CANCELLED
    left = len((await db.list_sessions()).items)
    assert 0 < left < 20
    assert left == 20 - handle.done
    assert jobs.handle("retention") is None


async def test_bad_plans_are_refused(db: DatabaseInterface) -> None:
    with pytest.raises(InputError, match="at least 1 day"):
        await plan_retention(db, 0)
    empty = await plan_retention(db, 30)
    with pytest.raises(InputError, match="Nothing to delete"):
        RetentionJobs(db).start(empty)
