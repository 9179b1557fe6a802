"""Experiments: a stored turn tried again (``coach.turns.trials``) as a task of the engine,
kept under a name.

1. **Start.** The turn's input is built with the chosen versions (a bad pin or turn is refused
   here, before anything is stored); then the experiment is stored ``running``, owned by this
   process, and a task on the engine's loop runs it.
2. **Run.** The runs stream in parallel; each is stored as it ends, so a process that dies
   keeps the runs that ended. The experiment then ends ``done`` (a failed run is a result:
   it holds its reason), or ``failed`` when the task itself could not finish.
3. **Follow.** An ``ExperimentHandle`` holds each run's text so far. A page reads it and waits
   for more, and may go away at any moment: the task does not notice. Another process reads
   the stored runs.

An experiment left ``running`` by a process that died is ended ``failed`` ("interrupted") by
the next engine that looks (``ExperimentJobs.recover``), with the runs it stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from coach.enums import JobStatus
from coach.errors import ConcurrencyError, NotFoundError
from coach.llm.base import LLMClient
from coach.persistence.base import MAX_PAGE_SIZE, DatabaseInterface
from coach.persistence.records import Experiment, ExperimentRun, utcnow
from coach.process import ProcessId
from coach.prompts.library import PromptLibrary, PromptPin
from coach.turns.events import Changes
from coach.turns.recovery import to_recover
from coach.turns.trials import (
    DEFAULT_CONCURRENCY,
    Trial,
    TrialInput,
    check_runs,
    prepare,
    run_all,
    stored_reply,
)

logger = logging.getLogger(__name__)

EXPERIMENT_INTERRUPTED = (
    "interrupted: the app stopped before every run ended; the runs that ended are kept. "
    "Try the turn again for the rest."
)


@dataclass
class ExperimentProgress:
    """What a follower sees of a running experiment."""

    #: Each run's reply text so far, by run number (runs not started yet are absent).
    texts: dict[int, str]
    #: The runs that ended (and are stored), by number.
    ended: dict[int, ExperimentRun]
    #: How many changes there were in all (pass it back to ``ExperimentHandle.wait``).
    seen: int
    done: bool
    elapsed_s: float
    #: The task failed (the database could not be written, say): what to show.
    error: BaseException | None = None


@dataclass(eq=False)
class ExperimentHandle:
    """An experiment of this process, for anyone to follow. Changed only on the engine's loop."""

    experiment_id: str
    runs: int
    started: float = field(default_factory=time.monotonic)
    done: bool = False
    error: BaseException | None = None
    _texts: dict[int, str] = field(default_factory=dict)
    _ended: dict[int, ExperimentRun] = field(default_factory=dict)
    _changes: Changes = field(default_factory=Changes)

    def delta(self, number: int, text: str) -> None:
        self._texts[number] = self._texts.get(number, "") + text
        self._changes.notify()

    def run_ended(self, run: ExperimentRun) -> None:
        self._ended[run.number] = run
        self._changes.notify()

    def finish(self, error: BaseException | None = None) -> None:
        self.done, self.error = True, error
        self._changes.notify()

    async def wait(self, seen: int = 0, *, within_s: float = 1.0) -> ExperimentProgress:
        """The experiment as it is, after waiting up to ``within_s`` seconds for a change
        after the first ``seen``."""
        if not self.done:
            await self._changes.after(seen, within_s)
        return ExperimentProgress(
            texts=dict(self._texts),
            ended=dict(self._ended),
            seen=self._changes.count,
            done=self.done,
            elapsed_s=time.monotonic() - self.started,
            error=self.error,
        )

    async def ended(self) -> None:
        """Wait until the experiment has ended (raises the task's error, if it failed)."""
        progress = await self.wait()
        while not progress.done:
            progress = await self.wait(progress.seen, within_s=5.0)
        if progress.error is not None:
            raise progress.error


class ExperimentJobs:
    """Starts, runs and recovers the experiments of one engine (see the module's docstring)."""

    def __init__(
        self,
        llm_client: LLMClient,
        db: DatabaseInterface,
        prompts: PromptLibrary,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self.llm_client = llm_client
        self.db = db
        self.prompts = prompts
        self.concurrency = concurrency
        self.owner = str(ProcessId.current())
        self._running: dict[str, ExperimentHandle] = {}
        #: Experiments whose task here ended without ending them: running, but nothing runs them.
        self._abandoned: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def handle(self, experiment_id: str) -> ExperimentHandle | None:
        """The experiment's handle while it runs in this process."""
        return self._running.get(experiment_id)

    async def start(
        self,
        session_id: str,
        seq: int,
        *,
        runs: int,
        pin: PromptPin | None = None,
        model: str | None = None,
        name: str = "",
        by: str = "",
    ) -> Experiment:
        """Store a new experiment on turn ``seq`` of the session and start its task.

        Args:
            pin: the prompt versions to use (the active ones when ``None``).
            model: the model to ask instead of the engine's (``LLMClient.with_model``).
            name: what to call it (default: the turn, the versions and the time).

        Raises:
            InputError: ``runs`` is not 1–10, or the turn does not exist.
            PromptError: the turn cannot be built again, or the pin selects no valid versions.
            ConfigurationError: the engine's client cannot ask ``model``.
            NotFoundError: the session does not exist.
        """
        check_runs(runs)
        client = self.llm_client if not model else self.llm_client.with_model(model)
        trial = await prepare(self.db, self.prompts, session_id, seq, pin)
        now = utcnow()
        experiment = await self.db.add_experiment(
            Experiment(
                name=name.strip() or f"turn {seq} · {_pin_name(pin)} · {now:%Y-%m-%d %H:%M}",
                session_id=session_id,
                turn_seq=seq,
                pin=None if pin is None else pin.model_dump(mode="json"),
                prompt_version=trial.prompt_version,
                model=f"{client.provider}/{client.model}",
                runs_requested=runs,
                created_by=by,
                owner=self.owner,
                heartbeat_at=now,
                created_at=now,
            )
        )
        handle = ExperimentHandle(experiment.id, runs)
        self._running[experiment.id] = handle
        task = asyncio.get_running_loop().create_task(
            self._run(handle, client, trial), name=f"experiment {experiment.id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return experiment

    async def _run(self, handle: ExperimentHandle, client: LLMClient, trial: TrialInput) -> None:
        async def store(run: ExperimentRun) -> None:
            handle.run_ended(await self.db.add_experiment_run(run))

        error: BaseException | None = None
        try:
            await run_all(
                client,
                trial.request,
                handle.runs,
                concurrency=self.concurrency,
                experiment_id=handle.experiment_id,
                on_delta=handle.delta,
                on_run=store,
            )
            await self.db.end_experiment(handle.experiment_id)
        except Exception as e:  # the task's end: shown on the handle, and stored if possible
            error = e
            logger.exception("experiment %s failed", handle.experiment_id)
            try:
                await self.db.end_experiment(handle.experiment_id, error=f"failed: {e}")
            except Exception:
                logger.exception("experiment %s could not be ended", handle.experiment_id)
                self._abandoned.add(handle.experiment_id)
        finally:
            handle.finish(error)
            del self._running[handle.experiment_id]

    async def recover(self) -> list[Experiment]:
        """``recover_experiments`` for this engine: its own running experiments are never
        ended, and its abandoned ones (their task could not end them) are."""
        ended = await recover_experiments(
            self.db, running=set(self._running), abandoned=set(self._abandoned)
        )
        self._abandoned.difference_update(e.id for e in ended)
        return ended

    async def aclose(self) -> None:
        """Wait for the running experiments to end (on shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def recover_experiments(
    db: DatabaseInterface,
    *,
    running: set[str] | frozenset[str] = frozenset(),
    abandoned: set[str] | frozenset[str] = frozenset(),
) -> list[Experiment]:
    """End the running experiments whose process is gone as failed ("interrupted"), keeping
    the runs they stored. One a live process runs is never ended (``process.is_orphaned``).

    Args:
        running: ids of the experiments the caller runs itself.
        abandoned: ids of experiments the caller ran and no longer runs: ended although their
            owner (the caller's process) is alive.
    """
    ended = []
    now = utcnow()
    for experiment in await db.list_experiments(status=JobStatus.RUNNING, limit=MAX_PAGE_SIZE):
        if not to_recover(experiment, experiment.id, running=running, abandoned=abandoned, now=now):
            continue
        try:
            ended.append(await db.end_experiment(experiment.id, error=EXPERIMENT_INTERRUPTED))
        except ConcurrencyError:
            continue  # it ended meanwhile
    return ended


async def experiment_trial(db: DatabaseInterface, experiment: Experiment) -> Trial:
    """The experiment beside its stored turn (its runs as ``experiment`` holds them).

    Raises:
        NotFoundError: the turn is no longer stored.
    """
    stored = await db.get_turn(experiment.session_id, experiment.turn_seq)
    if stored is None:
        raise NotFoundError(
            f"turn {experiment.turn_seq} of session {experiment.session_id} is no longer stored"
        )
    return Trial(
        session_id=experiment.session_id,
        seq=experiment.turn_seq,
        stored=stored,
        stored_reply=await stored_reply(db, stored),
        prompt_version=experiment.prompt_version,
        model=experiment.model,
        runs=experiment.runs,
    )


def _pin_name(pin: PromptPin | None) -> str:
    return "active" if pin is None else pin.describe()
