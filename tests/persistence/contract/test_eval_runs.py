"""Contract: an eval run keeps its conversations as they start and end, in the run's scenario
order; a conversation goes with its session, the run stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from coach.enums import JobStatus
from coach.errors import ConcurrencyError, NotFoundError, OwnershipError
from coach.persistence import DatabaseInterface
from coach.persistence.base import MAX_PAGE_SIZE
from coach.persistence.records import EvalConversation, EvalRun

from . import builders as b

WHEN = datetime(2026, 4, 5, 6, 7, 8, 901234, tzinfo=UTC)


def eval_run(**fields: object) -> EvalRun:
    values: dict[str, object] = {
        "name": "nightly",
        # Not in alphabetical order: conversations follow the run's order.
        "scenarios": [
            {"name": "stuck-client", "turns": 4},
            {"name": "eager-client", "turns": 2},
        ],
        "repeats": 2,
        **fields,
    }
    return EvalRun.model_validate(values)


async def stored_session(db: DatabaseInterface, user_id: str | None = None) -> tuple[str, str]:
    """A new stored session; returns its user and id."""
    user_id, session_id = user_id or b.uid("user"), b.uid("session")
    await b.stored_context(db, user_id, session_id, 2)
    return user_id, session_id


async def conversation(
    db: DatabaseInterface, run: EvalRun, scenario: str = "stuck-client", repeat: int = 1
) -> EvalConversation:
    """A running conversation of ``run`` in a new stored session (not saved)."""
    user_id, session_id = await stored_session(db)
    return EvalConversation(
        session_id=session_id,
        run_id=run.id,
        scenario=scenario,
        repeat=repeat,
        user_id=user_id,
        created_at=b.tick(),
    )


def ended(c: EvalConversation, **fields: object) -> EvalConversation:
    values: dict[str, object] = {
        "status": JobStatus.DONE,
        "passed": True,
        "ended_at": c.created_at + timedelta(seconds=30),
        **fields,
    }
    return c.model_copy(update=values)


async def test_a_run_round_trips_and_its_progress_replaces_it(db: DatabaseInterface) -> None:
    run = eval_run(
        pin={"label": "candidate", "versions": {"persona": 3}},
        concurrency=4,
        model="openai/gpt-x",
        client_model="openai/gpt-y",
        cached=True,
        created_by="ana",
        owner="host/1/2",
        heartbeat_at=WHEN,
        created_at=WHEN,
    )
    assert await db.save_eval_run(run) == run
    assert await db.get_eval_run(run.id) == run
    done = run.model_copy(
        update={"status": JobStatus.FAILED, "error": "stopped", "ended_at": WHEN, "cached": False}
    )
    assert await db.save_eval_run(done) == done
    assert await db.get_eval_run(run.id) == done
    assert await db.get_eval_run("no-such-run") is None


async def test_save_eval_run_stores_and_returns_no_conversations(db: DatabaseInterface) -> None:
    run = await db.save_eval_run(eval_run())
    first = await conversation(db, run)
    await db.save_eval_conversation(first)
    holding = run.model_copy(update={"conversations": [ended(first)]})
    assert (await db.save_eval_run(holding)).conversations == []
    stored = await db.get_eval_run(run.id)
    assert stored is not None and stored.conversations == [first]


async def test_a_running_run_has_no_end_and_an_ended_one_has(db: DatabaseInterface) -> None:
    with b.raises(ValueError):
        await db.save_eval_run(eval_run(ended_at=WHEN))
    with b.raises(ValueError):
        await db.save_eval_run(eval_run(status=JobStatus.DONE))
    assert await db.list_eval_runs() == []


async def test_runs_list_newest_first_and_by_status(db: DatabaseInterface) -> None:
    statuses = [JobStatus.DONE, JobStatus.RUNNING, JobStatus.FAILED, JobStatus.RUNNING]
    made = []
    for i, status in enumerate(statuses):
        end = None if status is JobStatus.RUNNING else WHEN
        run = eval_run(name=f"r{i}", status=status, ended_at=end, created_at=WHEN + timedelta(i))
        made.append(run)
        await db.save_eval_conversation(await conversation(db, await db.save_eval_run(run)))

    def names(found: list[EvalRun]) -> list[str]:
        assert all(r.conversations == [] for r in found)
        return [r.name for r in found]

    assert names(await db.list_eval_runs()) == ["r3", "r2", "r1", "r0"]
    assert names(await db.list_eval_runs(limit=2)) == ["r3", "r2"]
    assert names(await db.list_eval_runs(status=JobStatus.RUNNING)) == ["r3", "r1"]
    assert names(await db.list_eval_runs(status=JobStatus.DONE)) == ["r0"]


async def test_runs_list_refuses_a_limit_out_of_range(db: DatabaseInterface) -> None:
    for limit in (0, MAX_PAGE_SIZE + 1):
        with b.raises(ValueError):
            await db.list_eval_runs(limit=limit)


async def test_a_conversation_needs_its_run_and_its_session(db: DatabaseInterface) -> None:
    run = await db.save_eval_run(eval_run())
    with b.raises(NotFoundError):
        await db.save_eval_conversation(
            (await conversation(db, run)).model_copy(update={"run_id": "no-such-run"})
        )
    with b.raises(NotFoundError):
        await db.save_eval_conversation(
            (await conversation(db, run)).model_copy(update={"session_id": "no-such-session"})
        )
    stored = await db.get_eval_run(run.id)
    assert stored is not None and stored.conversations == []


async def test_a_conversation_plays_one_of_the_runs_scenarios_and_repeats(
    db: DatabaseInterface,
) -> None:
    run = await db.save_eval_run(eval_run(repeats=2))
    with b.raises(ValueError):
        await db.save_eval_conversation(await conversation(db, run, scenario="other-client"))
    with b.raises(ValueError):
        await db.save_eval_conversation(await conversation(db, run, repeat=3))
    with b.raises(ValueError):
        await db.save_eval_conversation(
            (await conversation(db, run)).model_copy(update={"ended_at": WHEN})
        )
    with b.raises(ValueError):
        await db.save_eval_conversation(
            (await conversation(db, run)).model_copy(update={"status": JobStatus.FAILED})
        )
    stored = await db.get_eval_run(run.id)
    assert stored is not None and stored.conversations == []


async def test_a_running_conversation_is_replaced_when_it_ends(db: DatabaseInterface) -> None:
    run = await db.save_eval_run(eval_run())
    started = await conversation(db, run, "eager-client", 2)
    assert await db.save_eval_conversation(started) == started
    stored = await db.get_eval_run(run.id)
    assert stored is not None and stored.conversations == [started]
    done = ended(
        started,
        checks=[{"name": "reaches brainstorming", "passed": True}, {"kind": "rubric", "score": 4}],
        turns=6,
        input_tokens=5120,
        output_tokens=830,
        latencies_ms=[812.5, 1034.0, 990.25],
        model="openai/gpt-x",
        prompt_version="persona@3+introduction@2",
    )
    assert await db.save_eval_conversation(done) == done
    stored = await db.get_eval_run(run.id)
    assert stored is not None and stored.conversations == [done]


async def test_an_ended_conversation_cannot_be_replaced(db: DatabaseInterface) -> None:
    run = await db.save_eval_run(eval_run())
    failed = ended(await conversation(db, run), status=JobStatus.FAILED, passed=None, error="x")
    await db.save_eval_conversation(failed)
    with b.raises(ConcurrencyError):
        await db.save_eval_conversation(ended(failed, error=None))
    with b.raises(ConcurrencyError):
        await db.save_eval_conversation(
            failed.model_copy(update={"status": JobStatus.RUNNING, "ended_at": None})
        )
    stored = await db.get_eval_run(run.id)
    assert stored is not None and stored.conversations == [failed]


async def test_a_conversation_is_of_its_sessions_user_and_of_one_run(
    db: DatabaseInterface,
) -> None:
    run, other_run = await db.save_eval_run(eval_run()), await db.save_eval_run(eval_run())
    with b.raises(OwnershipError):
        await db.save_eval_conversation(
            (await conversation(db, run)).model_copy(update={"user_id": "intruder"})
        )
    mine = await db.save_eval_conversation(await conversation(db, run))
    with b.raises(OwnershipError):
        await db.save_eval_conversation(mine.model_copy(update={"run_id": other_run.id}))
    stored, other = await db.get_eval_run(run.id), await db.get_eval_run(other_run.id)
    assert stored is not None and stored.conversations == [mine]
    assert other is not None and other.conversations == []


async def test_conversations_come_by_scenario_order_then_repeat_then_start(
    db: DatabaseInterface,
) -> None:
    run = await db.save_eval_run(eval_run(repeats=2))
    # Saved in an order that is none of the keys': scenario name, repeat or start.
    plays = [("eager-client", 1), ("stuck-client", 2), ("eager-client", 2), ("stuck-client", 1)]
    saved = [await conversation(db, run, scenario, repeat) for scenario, repeat in plays]
    again = await conversation(db, run, "stuck-client", 1)  # a repeat played twice: by start
    for c in [saved[2], again, saved[0], saved[3], saved[1]]:
        await db.save_eval_conversation(c)
    stored = await db.get_eval_run(run.id)
    assert stored is not None
    assert stored.conversations == [saved[3], again, saved[1], saved[0], saved[2]]


async def test_saving_a_conversation_beats_a_running_runs_heartbeat(
    db: DatabaseInterface,
) -> None:
    run = await db.save_eval_run(eval_run(heartbeat_at=WHEN))
    before = b.tick()
    await db.save_eval_conversation(await conversation(db, run))
    beaten = await db.get_eval_run(run.id)
    assert beaten is not None and beaten.heartbeat_at is not None
    assert beaten.heartbeat_at >= before
    gone = await db.save_eval_run(
        run.model_copy(update={"status": JobStatus.FAILED, "ended_at": WHEN})
    )
    late = ended(await conversation(db, run), status=JobStatus.FAILED, passed=None, error="x")
    await db.save_eval_conversation(late)
    stored = await db.get_eval_run(run.id)
    assert stored is not None and stored.heartbeat_at == gone.heartbeat_at == WHEN
    assert late in stored.conversations


async def test_deleting_a_session_or_user_removes_its_conversation_not_the_run(
    db: DatabaseInterface,
) -> None:
    run = await db.save_eval_run(eval_run())
    kept, by_session, by_user = [
        await db.save_eval_conversation(await conversation(db, run, repeat=r)) for r in (1, 2, 2)
    ]
    assert await db.delete_session(by_session.session_id)
    assert await db.delete_user(by_user.user_id)
    stored = await db.get_eval_run(run.id)
    assert stored is not None and stored.conversations == [kept]
    assert [r.id for r in await db.list_eval_runs()] == [run.id]
    # The freed session id plays again, as a new conversation.
    await b.stored_context(db, by_session.user_id, by_session.session_id, 1)
    again = ended(by_session)
    assert await db.save_eval_conversation(again) == again


async def test_records_passed_in_and_returned_are_copies(db: DatabaseInterface) -> None:
    run = eval_run(pin={"versions": {"persona": 3}})
    saved_run = await db.save_eval_run(run)
    run.scenarios[0]["turns"] = 99
    saved_run.scenarios.append({"name": "sneaked-in"})
    first = await conversation(db, run)
    saved = await db.save_eval_conversation(first)
    first.latencies_ms.append(1.0)
    saved.checks.append({"name": "sneaked in"})
    loaded = await db.get_eval_run(run.id)
    assert loaded is not None
    loaded.conversations[0].checks.append({"name": "sneaked in"})
    loaded.conversations.clear()
    loaded.pin = None
    (await db.list_eval_runs())[0].scenarios.clear()

    stored = await db.get_eval_run(run.id)
    assert stored is not None
    assert stored.scenarios == eval_run().scenarios
    assert stored.pin == {"versions": {"persona": 3}}
    assert [(c.checks, c.latencies_ms) for c in stored.conversations] == [([], [])]
