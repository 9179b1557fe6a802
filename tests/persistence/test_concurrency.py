"""Concurrent writers never lose or duplicate a message.

Each writer plays turns the way the engine does: read the newest messages with
``get_context(message_limit=...)``, let the "model" think (a yield to the event loop, so readers
really overlap), append a user and a coach message and ``commit_turn``. A stale version is refused
with ``ConcurrencyError``; the writer reloads and tries again with new messages, up to a bound.

Afterwards every session must hold exactly the accepted messages, once each, in commit order:
the commit that produced version *v* owns positions ``2v-2`` and ``2v-1``; nothing of a refused
attempt is stored; the context's version and the turn log count the accepted commits.

The same runs with two OS processes on one SQLite file and on one PostgreSQL database (this
module doubles as the worker script: ``python -m tests.persistence.test_concurrency``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field

from coach.enums import CoachingState, MessageRole
from coach.errors import ConcurrencyError, DuplicateTurnError
from coach.persistence import DatabaseInterface, DatabaseType, create_database
from coach.persistence.records import (
    ContextRecord,
    MessageRecord,
    StateRecord,
    TurnCommit,
    TurnRecord,
    new_id,
)
from tests import processes

PRIVATE_WRITERS = 50
SHARED_WRITERS = 5
TURNS_PER_WRITER = 3
MESSAGE_LIMIT = 4
#: More than the turns all other writers of a session can win, so nobody needs to give up.
MAX_ATTEMPTS = 40


@dataclass
class Accepted:
    user_message_id: str
    coach_message_id: str
    version: int
    seq: int | None


@dataclass
class WriterLog:
    """What one writer tried, and what the database did with it."""

    writer: str
    user_id: str
    session_id: str
    accepted: list[Accepted] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    gave_up: int = 0

    @classmethod
    def from_json(cls, data: dict[str, object]) -> WriterLog:
        log = cls(str(data["writer"]), str(data["user_id"]), str(data["session_id"]))
        log.accepted = [Accepted(**a) for a in data["accepted"]]  # type: ignore[attr-defined]
        log.refused = [(u, c) for u, c in data["refused"]]  # type: ignore[attr-defined]
        log.gave_up = int(data["gave_up"])  # type: ignore[call-overload]
        return log


async def write_turns(
    db: DatabaseInterface,
    log: WriterLog,
    *,
    turns: int,
    start: asyncio.Event | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> WriterLog:
    """Play ``turns`` turns on the log's session; record accepted and refused attempts.

    Any error other than ``ConcurrencyError`` propagates and fails the test.
    """
    if start is not None:
        await start.wait()
    rng = random.Random(log.writer)
    for turn in range(turns):
        for attempt in range(max_attempts):
            context = await db.get_context(log.user_id, log.session_id, message_limit=MESSAGE_LIMIT)
            if context is None:
                context = ContextRecord(user_id=log.user_id, session_id=log.session_id)
            await asyncio.sleep(0)  # the model call: other writers run in between
            user_msg = MessageRecord(
                role=MessageRole.USER, content=f"{log.writer} turn {turn} try {attempt}"
            )
            coach_msg = MessageRecord(role=MessageRole.COACH, content=f"reply to {user_msg.id}")
            commit = TurnCommit(
                context=context.model_copy(
                    update={"messages": [*context.messages, user_msg, coach_msg]}
                ),
                state=StateRecord(
                    user_id=log.user_id,
                    session_id=log.session_id,
                    state=CoachingState.IDENTITY_BRAINSTORMING,
                ),
                turn=TurnRecord(
                    session_id=log.session_id,
                    user_id=log.user_id,
                    user_message_id=user_msg.id,
                    coach_message_id=coach_msg.id,
                    state_before=CoachingState.INTRODUCTION,
                    state_after=CoachingState.IDENTITY_BRAINSTORMING,
                ),
            )
            try:
                result = await db.commit_turn(commit)
            except DuplicateTurnError:
                raise  # fresh message ids every attempt: this must never happen
            except ConcurrencyError:
                log.refused.append((user_msg.id, coach_msg.id))
                await asyncio.sleep(rng.uniform(0, 0.003))
                continue
            log.accepted.append(
                Accepted(user_msg.id, coach_msg.id, result.context_version, result.turn_seq)
            )
            break
        else:
            log.gave_up += 1
    return log


async def verify_exactly_once(db: DatabaseInterface, logs: list[WriterLog]) -> None:
    """Every accepted message stored once, in commit order; nothing of a refused attempt."""
    by_session: dict[tuple[str, str], list[WriterLog]] = defaultdict(list)
    for log in logs:
        by_session[(log.user_id, log.session_id)].append(log)

    for (user_id, session_id), session_logs in by_session.items():
        accepted = sorted(
            (a for log in session_logs for a in log.accepted), key=lambda a: a.version
        )
        refused_ids = {i for log in session_logs for pair in log.refused for i in pair}
        context = await db.get_context(user_id, session_id)
        if not accepted:
            assert context is None or not context.messages
            continue
        assert context is not None, f"session {session_id}: accepted turns but no context"
        stored = [m.id for m in context.messages]

        assert len(stored) == len(set(stored)), f"session {session_id}: duplicated messages"
        assert refused_ids.isdisjoint(stored), f"session {session_id}: a refused write was stored"
        expected = [i for a in accepted for i in (a.user_message_id, a.coach_message_id)]
        assert set(stored) == set(expected), (
            f"session {session_id}: lost {set(expected) - set(stored)}, "
            f"unexpected {set(stored) - set(expected)}"
        )
        # Commit order: version v appended positions 2v-2 and 2v-1, so the list is exactly the
        # accepted pairs sorted by version, and the versions are 1..n without gaps or repeats.
        assert [a.version for a in accepted] == list(range(1, len(accepted) + 1))
        assert stored == expected, f"session {session_id}: messages out of commit order"
        assert context.version == len(accepted)
        assert context.total_messages == 2 * len(accepted)
        # Each writer sees its own turns in the order it made them.
        for log in session_logs:
            positions = [stored.index(a.user_message_id) for a in log.accepted]
            assert positions == sorted(positions)

        window = await db.get_context(user_id, session_id, message_limit=MESSAGE_LIMIT)
        assert window is not None
        assert [m.id for m in window.messages] == stored[-MESSAGE_LIMIT:]
        assert window.first_message_index == len(stored) - len(window.messages)

        turns = await db.list_turns(session_id)
        assert [t.seq for t in turns] == list(range(1, len(accepted) + 1))
        assert [t.user_message_id for t in turns] == [a.user_message_id for a in accepted]
        assert all(a.seq == t.seq for a, t in zip(accepted, turns, strict=True))


def new_log(writer: str, *, user_id: str | None = None, session_id: str | None = None) -> WriterLog:
    return WriterLog(writer, user_id or new_id(), session_id or new_id())


async def test_many_writers_lose_and_duplicate_nothing(db: DatabaseInterface) -> None:
    """50 writers on their own sessions and 5 on one shared session, all at once."""
    shared_user, shared_session = new_id(), new_id()
    logs = [new_log(f"private-{i}") for i in range(PRIVATE_WRITERS)] + [
        new_log(f"shared-{i}", user_id=shared_user, session_id=shared_session)
        for i in range(SHARED_WRITERS)
    ]
    start = asyncio.Event()
    async with asyncio.timeout(60), asyncio.TaskGroup() as tg:
        for log in logs:
            tg.create_task(write_turns(db, log, turns=TURNS_PER_WRITER, start=start))
        start.set()

    private = [log for log in logs if log.session_id != shared_session]
    shared = [log for log in logs if log.session_id == shared_session]
    assert all(len(log.accepted) == TURNS_PER_WRITER for log in private)
    assert not any(log.refused for log in private), "a writer alone on its session was refused"
    assert sum(len(log.accepted) + log.gave_up for log in shared) == (
        SHARED_WRITERS * TURNS_PER_WRITER
    )
    assert sum(len(log.refused) for log in shared) > 0, "the shared session saw no contention"
    await verify_exactly_once(db, logs)
    counts = await db.count_records()
    accepted = sum(len(log.accepted) for log in logs)
    assert counts["messages"] == 2 * accepted
    assert counts["turns"] == accepted
    assert counts["sessions"] == PRIVATE_WRITERS + 1


async def test_same_user_message_submitted_concurrently_gives_one_turn(
    db: DatabaseInterface,
) -> None:
    """Five submissions of one user message (same id): one turn, the message stored once."""
    user_id, session_id = new_id(), new_id()
    message_id = new_id()
    outcomes: list[str] = []

    async def submit(n: int) -> None:
        for _ in range(MAX_ATTEMPTS):
            context = await db.get_context(user_id, session_id, message_limit=MESSAGE_LIMIT)
            if context is None:
                context = ContextRecord(user_id=user_id, session_id=session_id)
            if any(m.id == message_id for m in context.messages):
                outcomes.append("already answered")
                return
            await asyncio.sleep(0)
            user_msg = MessageRecord(id=message_id, role=MessageRole.USER, content="hello")
            coach_msg = MessageRecord(role=MessageRole.COACH, content=f"reply {n}")
            commit = TurnCommit(
                context=context.model_copy(
                    update={"messages": [*context.messages, user_msg, coach_msg]}
                ),
                turn=TurnRecord(
                    session_id=session_id,
                    user_id=user_id,
                    user_message_id=message_id,
                    coach_message_id=coach_msg.id,
                    state_before=CoachingState.INTRODUCTION,
                    state_after=CoachingState.INTRODUCTION,
                ),
            )
            try:
                await db.commit_turn(commit)
            except ConcurrencyError:
                await asyncio.sleep(0.001)
                continue
            outcomes.append("answered")
            return
        outcomes.append("gave up")

    async with asyncio.timeout(30), asyncio.TaskGroup() as tg:
        for n in range(SHARED_WRITERS):
            tg.create_task(submit(n))

    assert sorted(outcomes) == ["already answered"] * (SHARED_WRITERS - 1) + ["answered"]
    context = await db.get_context(user_id, session_id)
    assert context is not None
    assert [m.id for m in context.messages].count(message_id) == 1
    assert len(context.messages) == 2
    assert context.version == 1
    turns = await db.list_turns(session_id)
    assert len(turns) == 1
    assert turns[0].user_message_id == message_id


# -- two OS processes ----------------------------------------------------------------------------

PROCESSES = 2
SHARED_WRITERS_PER_PROCESS = 2
OWN_SESSIONS_PER_PROCESS = 3
PROCESS_TURNS = 4


async def _worker_main(args: argparse.Namespace) -> None:
    """One worker process: report ready, wait for "go", write, print the logs as JSON."""
    db = create_database(DatabaseType.SQL, connection_string=args.url)
    await db.initialize()
    try:
        logs = [
            new_log(f"{args.name}-shared-{i}", user_id=args.shared_user, session_id=args.shared)
            for i in range(args.shared_writers)
        ] + [new_log(f"{args.name}-own-{i}") for i in range(args.own_sessions)]
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        go = await loop.run_in_executor(None, sys.stdin.readline)
        if go.strip() != "go":
            raise SystemExit(f"worker {args.name}: expected 'go', got {go!r}")
        async with asyncio.TaskGroup() as tg:
            for log in logs:
                tg.create_task(write_turns(db, log, turns=args.turns))
        print(json.dumps([asdict(log) for log in logs]), flush=True)
    finally:
        await db.close()


def _start_worker(
    url: str, name: str, shared_user: str, shared_session: str
) -> subprocess.Popen[str]:
    return processes.spawn(
        "tests.persistence.test_concurrency",
        "--url",
        url,
        "--name",
        name,
        "--shared-user",
        shared_user,
        "--shared",
        shared_session,
        "--shared-writers",
        str(SHARED_WRITERS_PER_PROCESS),
        "--own-sessions",
        str(OWN_SESSIONS_PER_PROCESS),
        "--turns",
        str(PROCESS_TURNS),
    )


async def test_two_processes_lose_and_duplicate_nothing(sql_url: str) -> None:
    """Two processes on one SQLite file / one PostgreSQL database: exactly-once afterwards."""
    db = create_database(DatabaseType.SQL, connection_string=sql_url)
    await db.initialize()
    try:
        shared_user, shared_session = new_id(), new_id()
        workers = [
            _start_worker(sql_url, f"p{i}", shared_user, shared_session) for i in range(PROCESSES)
        ]
        with processes.running(workers):
            # Both are connected and initialized before either writes.
            await processes.wait_ready(workers)
            processes.tell(workers, "go")
            outputs = [await asyncio.to_thread(w.communicate, timeout=60) for w in workers]
        logs: list[WriterLog] = []
        for w, (out, err) in zip(workers, outputs, strict=True):
            assert w.returncode == 0, f"worker failed:\n{err}"
            logs += [WriterLog.from_json(d) for d in json.loads(out.strip().splitlines()[-1])]

        shared = [log for log in logs if log.session_id == shared_session]
        own = [log for log in logs if log.session_id != shared_session]
        assert len(shared) == PROCESSES * SHARED_WRITERS_PER_PROCESS
        assert all(len(log.accepted) == PROCESS_TURNS and not log.refused for log in own)
        assert sum(len(log.accepted) + log.gave_up for log in shared) == (
            len(shared) * PROCESS_TURNS
        )
        await verify_exactly_once(db, logs)
        counts = await db.count_records()
        accepted = sum(len(log.accepted) for log in logs)
        assert counts["messages"] == 2 * accepted
        assert counts["turns"] == accepted
    finally:
        await db.close()


def _parse_worker_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="a writer process of the concurrency tests")
    parser.add_argument("--url", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--shared-user", required=True)
    parser.add_argument("--shared", required=True)
    parser.add_argument("--shared-writers", type=int, default=SHARED_WRITERS_PER_PROCESS)
    parser.add_argument("--own-sessions", type=int, default=OWN_SESSIONS_PER_PROCESS)
    parser.add_argument("--turns", type=int, default=PROCESS_TURNS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(_worker_main(_parse_worker_args(sys.argv[1:])))
