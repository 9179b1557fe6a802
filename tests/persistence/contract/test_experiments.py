"""Contract: experiments (stored turns tried again) keep their runs as each ends, end once, and
go with their session."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from coach.enums import JobStatus
from coach.errors import ConcurrencyError, NotFoundError
from coach.persistence import DatabaseInterface
from coach.persistence.base import MAX_PAGE_SIZE
from coach.persistence.records import Experiment, ExperimentRun

from . import builders as b


async def stored_session(db: DatabaseInterface) -> str:
    user_id, session_id = b.uid("user"), b.uid("session")
    await b.stored_context(db, user_id, session_id, 2)
    return session_id


def experiment(session_id: str, **fields: object) -> Experiment:
    values: dict[str, object] = {
        "name": "warmer intro",
        "session_id": session_id,
        "turn_seq": 1,
        "prompt_version": "persona@2+introduction@3",
        "model": "scripted/scripted",
        "runs_requested": 3,
        **fields,
    }
    return Experiment.model_validate(values)


def run(experiment_id: str, number: int, **fields: object) -> ExperimentRun:
    return ExperimentRun.model_validate(
        {"experiment_id": experiment_id, "number": number, "reply": f"reply {number}", **fields}
    )


async def test_an_experiment_round_trips_with_its_runs_by_number(db: DatabaseInterface) -> None:
    session_id = await stored_session(db)
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    new = experiment(
        session_id,
        pin={"label": "draft", "versions": {"persona": 2}},
        created_by="ana",
        owner="host/1/2",
        created_at=when,
        heartbeat_at=when,
    )
    assert await db.add_experiment(new) == new
    assert await db.get_experiment(new.id) == new
    full = run(
        new.id,
        3,
        actions=[{"type": "transition_state", "params": {"to_state": "identity_brainstorming"}}],
        requested_phase="identity_brainstorming",
        input_tokens=812,
        output_tokens=40,
        latency_ms=1234.5,
        created_at=when + timedelta(seconds=2),
    )
    failed = run(new.id, 1, reply=None, error="timeout: the model took longer than 60 s")
    assert await db.add_experiment_run(full) == full
    assert await db.add_experiment_run(failed) == failed
    stored = await db.get_experiment(new.id)
    assert stored is not None
    assert stored.runs == [failed, full]
    assert stored.heartbeat_at == failed.created_at
    assert stored.status is JobStatus.RUNNING
    assert await db.get_experiment("no-such-experiment") is None


async def test_ending_sets_done_or_failed_once(db: DatabaseInterface) -> None:
    session_id = await stored_session(db)
    done, failed = experiment(session_id), experiment(session_id, name="other")
    for e in (done, failed):
        await db.add_experiment(e)
    await db.add_experiment_run(run(done.id, 1))
    ended = await db.end_experiment(done.id)
    assert ended.status is JobStatus.DONE and ended.error is None
    assert ended.ended_at is not None and [r.number for r in ended.runs] == [1]
    assert await db.get_experiment(done.id) == ended
    reason = "interrupted: the app stopped before the runs ended"
    gone = await db.end_experiment(failed.id, error=reason)
    assert (gone.status, gone.error) == (JobStatus.FAILED, reason)
    # Ended is final: no second end, no more runs.
    with b.raises(ConcurrencyError):
        await db.end_experiment(done.id, error="late")
    with b.raises(ConcurrencyError):
        await db.add_experiment_run(run(done.id, 2))
    assert await db.get_experiment(done.id) == ended
    with b.raises(NotFoundError):
        await db.end_experiment("no-such-experiment")


async def test_two_processes_ending_one_experiment_give_one_winner(db: DatabaseInterface) -> None:
    session_id = await stored_session(db)
    new = await db.add_experiment(experiment(session_id))
    results = await asyncio.gather(
        *(db.end_experiment(new.id, error=None if i == 0 else f"e{i}") for i in range(4)),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, Experiment)]
    assert len(winners) == 1, results
    assert all(type(r) is ConcurrencyError for r in results if r not in winners)
    assert await db.get_experiment(new.id) == winners[0]


async def test_bad_runs_are_refused_and_change_nothing(db: DatabaseInterface) -> None:
    session_id = await stored_session(db)
    new = await db.add_experiment(experiment(session_id, runs_requested=2))
    first = await db.add_experiment_run(run(new.id, 1))
    with b.raises(ConcurrencyError):
        await db.add_experiment_run(run(new.id, 1, reply="again"))
    with b.raises(ValueError):
        await db.add_experiment_run(run(new.id, 3))
    with b.raises(NotFoundError):
        await db.add_experiment_run(run("no-such-experiment", 1))
    stored = await db.get_experiment(new.id)
    assert stored is not None and stored.runs == [first]
    assert stored.heartbeat_at == first.created_at


async def test_runs_stored_at_once_are_all_kept(db: DatabaseInterface) -> None:
    """The runs of one experiment end in any order and at the same time."""
    session_id = await stored_session(db)
    new = await db.add_experiment(experiment(session_id, runs_requested=8))
    await asyncio.gather(*(db.add_experiment_run(run(new.id, n)) for n in (5, 2, 8, 1, 7, 3, 6, 4)))
    stored = await db.get_experiment(new.id)
    assert stored is not None and [r.number for r in stored.runs] == list(range(1, 9))


async def test_a_new_experiment_needs_a_session_and_starts_running_empty(
    db: DatabaseInterface,
) -> None:
    session_id = await stored_session(db)
    with b.raises(NotFoundError):
        await db.add_experiment(experiment("no-such-session"))
    with b.raises(ValueError):
        await db.add_experiment(experiment(session_id, status=JobStatus.DONE))
    with b.raises(ValueError):
        await db.add_experiment(experiment(session_id, runs=[run("x", 1)]))
    assert await db.list_experiments() == []


async def test_experiments_list_newest_first_by_session_and_status(
    db: DatabaseInterface,
) -> None:
    one, two = await stored_session(db), await stored_session(db)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    made = [
        await db.add_experiment(
            experiment(sid, name=f"e{i}", created_at=start + timedelta(minutes=i))
        )
        for i, sid in enumerate([one, two, one, one])
    ]
    await db.add_experiment_run(run(made[2].id, 1))
    await db.end_experiment(made[3].id)

    def names(found: list[Experiment]) -> list[str]:
        assert all(e.runs == [] for e in found)
        return [e.name for e in found]

    assert names(await db.list_experiments()) == ["e3", "e2", "e1", "e0"]
    assert names(await db.list_experiments(session_id=one)) == ["e3", "e2", "e0"]
    assert names(await db.list_experiments(session_id=one, limit=2)) == ["e3", "e2"]
    running = await db.list_experiments(status=JobStatus.RUNNING)
    assert names(running) == ["e2", "e1", "e0"]
    assert names(await db.list_experiments(session_id="nobody")) == []
    for limit in (0, MAX_PAGE_SIZE + 1):
        with b.raises(ValueError):
            await db.list_experiments(limit=limit)


async def test_experiments_go_with_their_session(db: DatabaseInterface) -> None:
    kept, deleted = await stored_session(db), await stored_session(db)
    stays = await db.add_experiment(experiment(kept))
    goes = await db.add_experiment(experiment(deleted))
    await db.add_experiment_run(run(goes.id, 1))
    assert await db.delete_session(deleted)
    assert await db.get_experiment(goes.id) is None
    assert [e.id for e in await db.list_experiments()] == [stays.id]
