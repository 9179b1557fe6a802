"""Forks and replays as tasks of the engine, stored as they go.

1. **Start.** The source is checked (``Replay.prepare``: a bad session, turn or pin is refused
   here, before anything is stored); the new session is opened and its origin stored
   ``running`` with the number of turns to make, owned by this process. A task on the
   engine's loop makes the turns.
2. **Run.** Each turn is stored by the engine as it is made; the origin's progress is stored
   at most every ``PROGRESS_EVERY_S``. It ends ``done`` with the differences from the source,
   or ``failed`` with the reason (cancelled, or an error); the turns made so far stay.
3. **Follow.** A ``JobHandle`` says how far it got; a page reads it and may go away at any
   moment. Another process reads the stored origin.

An origin left ``running`` by a process that died is ended ``failed`` ("interrupted") by the
next engine that looks (``SessionJobs.recover``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

from coach.enums import JobStatus, OriginKind
from coach.errors import InputError
from coach.llm.base import LLMClient
from coach.persistence.base import MAX_PAGE_SIZE, DatabaseInterface
from coach.persistence.records import SessionOrigin, utcnow
from coach.process import ProcessId
from coach.prompts.library import PromptLibrary, PromptPin
from coach.sessions.copy import same_client_fork
from coach.sessions.replay import Replay
from coach.turns.events import Changes
from coach.turns.recovery import recover_interrupted, to_recover

logger = logging.getLogger(__name__)

#: Seconds between two stores of a running task's progress (and heartbeat).
PROGRESS_EVERY_S = 1.0
CANCELLED = "cancelled: stopped on request; the turns made so far are kept"
INTERRUPTED = "interrupted: the app stopped before it ended; the turns made so far are kept"


T = TypeVar("T")


class Recover(Protocol[T]):
    """A ``recover_*`` function bound to its database."""

    def __call__(self, *, running: set[str], abandoned: set[str]) -> Awaitable[list[T]]: ...


@dataclass
class JobProgress:
    done: int
    total: int
    finished: bool
    #: The task failed or was cancelled: what to show.
    error: str | None
    seen: int


@dataclass(eq=False)
class JobHandle:
    """A task of this process making steps (a fork or replay, an eval run), for anyone to
    follow. Changed only on the engine's loop."""

    #: What the task makes: the new session, or the eval run.
    key: str
    total: int
    done: int = 0
    finished: bool = False
    error: str | None = None
    task: asyncio.Task[None] | None = None
    started: float = field(default_factory=time.monotonic)
    _changes: Changes = field(default_factory=Changes)

    def step(self, done: int) -> None:
        self.done = done
        self._changes.notify()

    def finish(self, error: str | None = None) -> None:
        self.finished, self.error = True, error
        self._changes.notify()

    async def wait(self, seen: int = 0, *, within_s: float = 1.0) -> JobProgress:
        if not self.finished:
            await self._changes.after(seen, within_s)
        return JobProgress(self.done, self.total, self.finished, self.error, self._changes.count)

    async def ended(self) -> None:
        """Wait until the task has ended (its outcome is stored; ``error`` says why it
        failed)."""
        progress = await self.wait()
        while not progress.finished:
            progress = await self.wait(progress.seen, within_s=5.0)


class RunningTasks(Generic[T]):
    """The tasks of one kind this process runs (forks and replays, eval runs), by key: each
    followed through its ``JobHandle``, cancelled on request, stopped on shutdown. A task whose
    end could not be stored is remembered as abandoned: stored as running, though nothing runs
    it, so recovery ends it although this process lives."""

    def __init__(self) -> None:
        self._running: dict[str, JobHandle] = {}
        self._abandoned: set[str] = set()

    def handle(self, key: str) -> JobHandle | None:
        """The task making ``key``, while it runs in this process."""
        return self._running.get(key)

    def cancel(self, key: str) -> bool:
        """Stop the task making ``key`` (what it made so far is kept). Returns whether it was
        running here."""
        handle = self._running.get(key)
        return handle is not None and handle.task is not None and handle.task.cancel()

    def _launch(self, handle: JobHandle, work: Coroutine[Any, Any, None], *, name: str) -> None:
        self._running[handle.key] = handle
        handle.task = asyncio.get_running_loop().create_task(work, name=name)

    def _ended(self, handle: JobHandle, error: str | None, *, abandoned: bool) -> None:
        """The task's end, once stored (or ``abandoned``: it could not be)."""
        if abandoned:
            self._abandoned.add(handle.key)
        handle.finish(error)
        del self._running[handle.key]

    async def _recover(self, recover: Recover[T], key: Callable[[T], str]) -> list[T]:
        """``recover`` (a ``recover_*`` function) for this process: its running tasks are
        never ended, its abandoned ones are."""
        ended = await recover(running=set(self._running), abandoned=set(self._abandoned))
        self._abandoned.difference_update(key(x) for x in ended)
        return ended

    async def aclose(self) -> None:
        """Stop the running tasks (on shutdown): each stores itself as cancelled."""
        tasks = [h.task for h in self._running.values() if h.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


class SessionJobs(RunningTasks[SessionOrigin]):
    """Starts, runs, cancels and recovers the forks and replays of one engine (keyed by the
    session each makes)."""

    def __init__(self, llm_client: LLMClient, db: DatabaseInterface, prompts: PromptLibrary):
        super().__init__()
        self.llm_client = llm_client
        self.db = db
        self.prompts = prompts
        self.owner = str(ProcessId.current())
        #: Sessions whose fork or replay is being resumed here (not launched yet).
        self._resuming: set[str] = set()

    async def fork(
        self, source_session_id: str, at_turn: int, *, same_client: bool = False, by: str = ""
    ) -> SessionOrigin:
        """Copy the first ``at_turn`` turns of the session into a new session of a copy of its
        client: its messages, phase, identities and turn log as they were after that turn.
        ``same_client``: a new session of the session's own client instead, written at once
        (``coach.sessions.copy``: it shares the client's identities as they are now).

        Raises:
            InputError: as ``Replay.prepare``.
        """
        if same_client:
            batch = await same_client_fork(self.db, source_session_id, at_turn, by=by)
            await self.db.import_records(batch)
            origin = batch.sessions[0].origin
            assert origin is not None
            return origin
        replay = await Replay.prepare(
            self.db, source_session_id, at_turn=at_turn, prompts=self.prompts
        )
        return await self._start(replay, OriginKind.FORK, at_turn=at_turn, by=by)

    async def replay(
        self,
        source_session_id: str,
        *,
        live: bool = False,
        pin: PromptPin | None = None,
        model: str | None = None,
        by: str = "",
    ) -> SessionOrigin:
        """Replay the session into a new session of a copy of its client: exactly (the
        recorded outputs), or live (the engine's model, or ``model``, with ``pin``'s versions).

        Raises:
            InputError: as ``Replay.prepare``; a pin or model asked of an exact replay.
            PromptError: the pin selects no valid version set.
            ConfigurationError: the engine's client cannot ask ``model``.
        """
        if not live and (pin is not None or model):
            raise InputError(
                "an exact replay feeds back the recorded outputs; "
                "choose a live replay to use other prompt versions or another model"
            )
        client = None
        if live:
            client = self.llm_client if not model else self.llm_client.with_model(model)
            await self.prompts.manager(pin)  # a bad pin is refused before anything is stored
        replay = await Replay.prepare(
            self.db, source_session_id, client=client, prompts=self.prompts
        )
        kind = OriginKind.REPLAY_LIVE if live else OriginKind.REPLAY_EXACT
        return await self._start(
            replay,
            kind,
            pin=pin,
            model="" if client is None else f"{client.provider}/{client.model}",
            by=by,
        )

    async def resume(self, session_id: str) -> SessionOrigin:
        """Go on with the fork or replay that made ``session_id`` and stopped (interrupted by
        a crash, cancelled, or failed), from the first source turn it has not made: a turn cut
        off by a crash is answered again, and a live replay asks the model it was made with.

        Raises:
            InputError: no such fork or replay, it is running or done, its model is not this
                engine's provider, or as ``Replay.resume``.
        """
        if session_id in self._resuming or self.handle(session_id) is not None:
            raise InputError(f"session {session_id} is being made already")
        self._resuming.add(session_id)
        try:
            return await self._resume(session_id)
        finally:
            self._resuming.discard(session_id)

    async def _resume(self, session_id: str) -> SessionOrigin:
        origin = await self.db.get_session_origin(session_id)
        if origin is None:
            raise InputError(f"session {session_id} was not made by a fork or replay")
        if origin.status is not JobStatus.FAILED:
            state = "being made" if origin.status is JobStatus.RUNNING else "made already"
            raise InputError(f"session {session_id} is {state}; only a stopped one is resumed")
        client = None
        if origin.kind is OriginKind.REPLAY_LIVE:
            provider, _, model = origin.model.partition("/")
            if provider != self.llm_client.provider:
                raise InputError(
                    f"this live replay was made with {origin.model}; resume it where "
                    f"COACH_LLM_PROVIDER is {provider} (here it is {self.llm_client.provider})"
                )
            client = self.llm_client.with_model(model) if model else self.llm_client
        await recover_interrupted(self.db, session_id=session_id)
        replay = await Replay.resume(self.db, origin, client=client, prompts=self.prompts)
        resumed = origin.running_again(self.owner, turns_done=replay.position)
        return await self._make(replay, resumed, name=f"resume {session_id}")

    async def _start(
        self,
        replay: Replay,
        kind: OriginKind,
        *,
        at_turn: int | None = None,
        pin: PromptPin | None = None,
        model: str = "",
        by: str = "",
    ) -> SessionOrigin:
        await replay.begin(pin)
        now = utcnow()
        origin = SessionOrigin(
            session_id=replay.report.session_id,
            source_session_id=replay.source.session_id,
            kind=kind,
            at_turn=at_turn,
            pin=None if pin is None else pin.model_dump(mode="json"),
            model=model,
            turns_total=len(replay.source_turns),
            created_by=by,
            owner=self.owner,
            heartbeat_at=now,
            created_at=now,
        )
        return await self._make(replay, origin, name=f"{kind.value} {origin.session_id}")

    async def _make(self, replay: Replay, origin: SessionOrigin, *, name: str) -> SessionOrigin:
        """Store ``origin`` (running) and launch the task that makes its session's turns."""
        origin = await self.db.save_session_origin(origin)
        handle = JobHandle(origin.session_id, origin.turns_total, done=origin.turns_done)
        self._launch(handle, self._run(handle, replay, origin), name=name)
        return origin

    async def _run(self, handle: JobHandle, replay: Replay, origin: SessionOrigin) -> None:
        error: str | None = None
        stored_at = time.monotonic()
        try:
            async for done in replay.turns():
                handle.step(done)
                if time.monotonic() - stored_at >= PROGRESS_EVERY_S:
                    stored_at = time.monotonic()
                    origin = await self.db.save_session_origin(
                        origin.model_copy(update={"turns_done": done, "heartbeat_at": utcnow()})
                    )
            report = await replay.finish()
            ended = origin.model_copy(
                update={
                    "status": JobStatus.DONE,
                    "turns_done": report.turns,
                    "differences": [asdict(d) for d in report.differences],
                }
            )
        except asyncio.CancelledError:
            error = CANCELLED
        except Exception as e:  # the task's end: shown on the handle and stored
            logger.exception("making session %s failed", origin.session_id)
            error = f"failed: {e}"
        if error is not None:
            ended = origin.model_copy(
                update={"status": JobStatus.FAILED, "turns_done": handle.done, "error": error}
            )
        abandoned = False
        try:
            await self.db.save_session_origin(ended.model_copy(update={"ended_at": utcnow()}))
        except Exception as e:
            logger.exception("session %s: its end could not be stored", origin.session_id)
            error = f"{error or 'done'}, but its end could not be stored: {e}"
            abandoned = True
        finally:
            self._ended(handle, error, abandoned=abandoned)

    async def recover(self) -> list[SessionOrigin]:
        """``recover_origins`` for this engine (``RunningTasks._recover``)."""
        return await self._recover(partial(recover_origins, self.db), lambda o: o.session_id)


async def recover_origins(
    db: DatabaseInterface,
    *,
    running: set[str] | frozenset[str] = frozenset(),
    abandoned: set[str] | frozenset[str] = frozenset(),
) -> list[SessionOrigin]:
    """End the running forks and replays whose process is gone as failed ("interrupted"),
    keeping the turns they made. One a live process runs is never ended.

    Args:
        running: the sessions the caller is making itself.
        abandoned: sessions the caller made and no longer makes: ended although their owner
            (the caller's process) is alive.
    """
    ended = []
    now = utcnow()
    for origin in await db.list_session_origins(status=JobStatus.RUNNING, limit=MAX_PAGE_SIZE):
        if not to_recover(origin, origin.session_id, running=running, abandoned=abandoned, now=now):
            continue
        failed = origin.model_copy(
            update={"status": JobStatus.FAILED, "error": INTERRUPTED, "ended_at": now}
        )
        ended.append(await db.save_session_origin(failed))
    return ended
