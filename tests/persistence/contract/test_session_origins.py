"""Contract: a forked or replayed session remembers where it came from, both ways, with its
progress; it goes with its session, and names a deleted source still."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from coach.enums import JobStatus, OriginKind
from coach.errors import NotFoundError
from coach.persistence import DatabaseInterface
from coach.persistence.base import MAX_PAGE_SIZE
from coach.persistence.records import SessionOrigin

from . import builders as b


async def stored_session(db: DatabaseInterface) -> str:
    session_id = b.uid("session")
    await b.stored_context(db, b.uid("user"), session_id, 2)
    return session_id


def origin(session_id: str, source: str, **fields: object) -> SessionOrigin:
    values: dict[str, object] = {
        "session_id": session_id,
        "source_session_id": source,
        "kind": OriginKind.FORK,
        **fields,
    }
    return SessionOrigin.model_validate(values)


async def test_an_origin_round_trips_and_its_progress_replaces_it(db: DatabaseInterface) -> None:
    source, copy = await stored_session(db), await stored_session(db)
    when = datetime(2026, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)
    first = origin(
        copy,
        source,
        kind=OriginKind.REPLAY_LIVE,
        pin={"label": "candidate", "versions": {"introduction": 2}},
        model="openai/gpt-x",
        turns_total=40,
        created_by="ana",
        owner="host/1/2",
        heartbeat_at=when,
        created_at=when,
    )
    assert await db.save_session_origin(first) == first
    assert await db.get_session_origin(copy) == first
    done = first.model_copy(
        update={
            "status": JobStatus.DONE,
            "turns_done": 40,
            "differences": [{"seq": 3, "what": "phase after", "original": "a", "replayed": "b"}],
            "ended_at": when + timedelta(seconds=9),
        }
    )
    assert await db.save_session_origin(done) == done
    assert await db.get_session_origin(copy) == done
    assert await db.get_session_origin(source) is None  # made by chatting


async def test_an_origin_needs_its_session(db: DatabaseInterface) -> None:
    source = await stored_session(db)
    with b.raises(NotFoundError):
        await db.save_session_origin(origin("no-such-session", source))
    assert await db.list_session_origins() == []


async def test_origins_list_newest_first_by_source_status_and_kind(db: DatabaseInterface) -> None:
    a, b_source = await stored_session(db), await stored_session(db)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    made = []
    for i, (source, kind, status) in enumerate(
        [
            (a, OriginKind.FORK, JobStatus.DONE),
            (a, OriginKind.REPLAY_EXACT, JobStatus.RUNNING),
            (b_source, OriginKind.FORK, JobStatus.RUNNING),
            (a, OriginKind.FORK, JobStatus.FAILED),
        ]
    ):
        session = await stored_session(db)
        made.append(session)
        await db.save_session_origin(
            origin(
                session,
                source,
                kind=kind,
                status=status,
                created_at=start + timedelta(minutes=i),
            )
        )

    def sessions(found: list[SessionOrigin]) -> list[str]:
        return [o.session_id for o in found]

    assert sessions(await db.list_session_origins()) == made[::-1]
    assert sessions(await db.list_session_origins(source_session_id=a)) == [
        made[3],
        made[1],
        made[0],
    ]
    assert sessions(await db.list_session_origins(source_session_id=a, limit=1)) == [made[3]]
    assert sessions(await db.list_session_origins(status=JobStatus.RUNNING)) == [
        made[2],
        made[1],
    ]
    assert sessions(await db.list_session_origins(source_session_id=a, kind=OriginKind.FORK)) == [
        made[3],
        made[0],
    ]
    for limit in (0, MAX_PAGE_SIZE + 1):
        with b.raises(ValueError):
            await db.list_session_origins(limit=limit)


async def test_an_origin_goes_with_its_session_and_outlives_its_source(
    db: DatabaseInterface,
) -> None:
    source, copy, copy_of_copy = [await stored_session(db) for _ in range(3)]
    await db.save_session_origin(origin(copy, source))
    await db.save_session_origin(origin(copy_of_copy, copy))
    assert await db.delete_session(source)
    kept = await db.get_session_origin(copy)
    assert kept is not None and kept.source_session_id == source
    assert await db.delete_session(copy)
    assert await db.get_session_origin(copy) is None
    assert [o.session_id for o in await db.list_session_origins(source_session_id=copy)] == [
        copy_of_copy
    ]
