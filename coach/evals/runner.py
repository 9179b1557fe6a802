"""Eval runs as tasks of the engine: scenarios played by simulated clients, stored as they go.

1. **Start.** Everything a run needs is checked before anything is stored: the scenarios, the
   prompt versions and the models. A scenario starting from a fixture has its bundle imported
   once (the run's copy). The run is stored ``running``, owned by this process, with the
   scenarios as they are now, so it can be read and resumed whatever happens to the files.
2. **Play.** Each scenario is played ``repeats`` times, at most ``concurrency`` conversations
   at once. A conversation is a real session: stored with the run when it opens (the tag), its
   turns stored by the engine as they end, and its checks stored when it ends. Repeats are
   independent: every turn asks the model, unless the run was started ``cached`` (labelled).
3. **Follow.** A ``JobHandle`` says how many conversations have ended; a page reads it and may
   go away. Another process reads the stored run.
4. **End.** ``done``, or ``failed`` when cancelled or interrupted (the next engine to look
   marks a dead process's run), keeping every ended conversation. ``resume`` plays what is
   missing, in the same run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from functools import partial

from coach.enums import JobStatus, MessageRole, TurnStatus
from coach.errors import InputError
from coach.evals.cache import CachingLLMClient
from coach.evals.checks import Played, judge
from coach.evals.client import SimulatedClient
from coach.evals.fixtures import fixture_path, import_fixture
from coach.evals.rubric import judge_rubric
from coach.evals.scenario import Scenario
from coach.llm.base import LLMClient
from coach.persistence.base import MAX_PAGE_SIZE, DatabaseInterface
from coach.persistence.records import (
    MAX_EVAL_CONCURRENCY,
    MAX_EVAL_REPEATS,
    EvalConversation,
    EvalRun,
    JsonDict,
    MessageRecord,
    new_id,
    utcnow,
)
from coach.process import ProcessId
from coach.prompts.library import PromptPin
from coach.service import CoachService
from coach.sessions.jobs import JobHandle, RunningTasks
from coach.sessions.replay import Replay
from coach.turns.recovery import to_recover

logger = logging.getLogger(__name__)

#: Seconds between two heartbeats of a running run, besides those its conversations store.
HEARTBEAT_S = 20.0
#: The key of a scenario's stored JSON that names the run's copy of its fixture.
FIXTURE_SESSION = "fixture_session_id"
CANCELLED = "cancelled: stopped on request; the conversations that ended are kept"
INTERRUPTED = "interrupted: the app stopped before the run ended; resume it to play the rest"
CONVERSATION_INTERRUPTED = "interrupted: the app stopped during this conversation"
SCRIPTED_CLIENT = "Scripted client"


class EvalJobs(RunningTasks[EvalRun]):
    """Starts, runs, resumes, cancels and recovers the eval runs of one engine (keyed by run
    id; cancelling keeps the conversations that ended)."""

    def __init__(self, service: CoachService) -> None:
        super().__init__()
        self.service = service
        self.db = service.db
        self.owner = str(ProcessId.current())

    async def start(
        self,
        scenarios: Sequence[Scenario],
        *,
        repeats: int = 1,
        concurrency: int = 8,
        name: str = "",
        pin: PromptPin | None = None,
        model: str | None = None,
        client_model: str | None = None,
        cached: bool = False,
        by: str = "",
    ) -> EvalRun:
        """Start playing each scenario ``repeats`` times, at most ``concurrency`` at once.

        Args:
            pin: the prompt versions under test for every scenario (default: each scenario's).
            model, client_model: the coach's and the clients' model for every scenario
                (default: each scenario's, else the engine's).
            cached: answer identical model requests once per run (repeats not independent).

        Raises:
            InputError: no scenario, a bad count, or a fixture that cannot be read.
            PromptError: a prompt version set that does not exist.
            ConfigurationError: the engine cannot ask a model named.
        """
        if not scenarios:
            raise InputError("choose at least one scenario to run")
        if not 1 <= repeats <= MAX_EVAL_REPEATS:
            raise InputError(f"runs per scenario must be 1 to {MAX_EVAL_REPEATS}, not {repeats}")
        if not 1 <= concurrency <= MAX_EVAL_CONCURRENCY:
            raise InputError(f"concurrency must be 1 to {MAX_EVAL_CONCURRENCY}, not {concurrency}")
        overrides = {"model": model or "", "client_model": client_model or ""}
        chosen = [s.model_copy(update={k: v for k, v in overrides.items() if v}) for s in scenarios]
        if pin is not None:
            chosen = [s.model_copy(update={"prompts": pin}) for s in chosen]
        for scenario in chosen:  # refused before anything is stored
            await self.service.prompts.manager(scenario.prompts)
            self._client(scenario.model)
            self._client(scenario.client_model)
        stored = []
        for original, scenario in zip(scenarios, chosen, strict=True):
            snapshot = scenario.model_dump(mode="json")
            if scenario.start is not None:
                if original.path is None:
                    raise InputError(f"scenario {scenario.name}: its fixture file is unknown")
                where = fixture_path(original.path, scenario.start.fixture)
                snapshot[FIXTURE_SESSION] = await import_fixture(self.db, scenario, where)
            stored.append(snapshot)
        now = utcnow()
        run = await self.db.save_eval_run(
            EvalRun(
                name=name or _default_name(chosen),
                scenarios=stored,
                repeats=repeats,
                concurrency=concurrency,
                pin=None if pin is None else pin.model_dump(mode="json"),
                model=_describe(self._client(model or "")),
                client_model=_describe(self._client(client_model or "")),
                cached=cached,
                created_by=by,
                owner=self.owner,
                heartbeat_at=now,
                created_at=now,
            )
        )
        return self._begin(run, ended=set())

    async def resume(self, run_id: str, *, by: str = "") -> EvalRun:
        """Play the conversations an ended run is missing, in the same run.

        Raises:
            InputError: no such run, it is running, or it has nothing left to play.
        """
        run = await self.db.get_eval_run(run_id)
        if run is None:
            raise InputError(f"eval run {run_id} does not exist")
        if self.handle(run.id) is not None or run.status is JobStatus.RUNNING:
            raise InputError(f"eval run {run.name!r} is running; wait for it or cancel it")
        ended = run.played
        if len(ended) == run.total:
            raise InputError(f"eval run {run.name!r} has played every conversation")
        resumed = await self.db.save_eval_run(run.running_again(self.owner, conversations=[]))
        logger.info("eval run %s resumed by %s", run.id, by or "someone")
        return self._begin(resumed, ended=ended)

    def _begin(self, run: EvalRun, *, ended: set[tuple[str, int]]) -> EvalRun:
        handle = JobHandle(run.id, run.total, done=len(ended))
        self._launch(handle, self._run(handle, run, ended), name=f"eval run {run.id}")
        return run

    def _client(self, model: str) -> LLMClient:
        base = self.service.llm_client
        return base if not model else base.with_model(model)

    async def _run(self, handle: JobHandle, run: EvalRun, ended: set[tuple[str, int]]) -> None:
        error: str | None = None
        beat = asyncio.get_running_loop().create_task(self._heartbeat(run))
        players = _Players(self, run)
        try:
            limit = asyncio.Semaphore(run.concurrency)

            async def play(snapshot: Mapping[str, object], scenario: Scenario, repeat: int) -> None:
                async with limit:
                    await players.play(snapshot, scenario, repeat)
                handle.step(handle.done + 1)

            async with asyncio.TaskGroup() as group:
                for snapshot in run.scenarios:
                    scenario = scenario_of(snapshot)
                    for repeat in range(1, run.repeats + 1):
                        if (scenario.name, repeat) not in ended:
                            group.create_task(play(snapshot, scenario, repeat))
        except asyncio.CancelledError:
            error = CANCELLED
        except Exception as e:  # the run's end: shown on the handle and stored
            logger.exception("eval run %s failed", run.id)
            # A conversation that could not even open ends the run: say why, not "TaskGroup".
            cause = e.exceptions[0] if isinstance(e, ExceptionGroup) else e
            error = f"failed: {type(cause).__name__}: {cause}"
        finally:
            beat.cancel()
            with suppress(asyncio.CancelledError):
                await beat
            await players.aclose()
        status = JobStatus.DONE if error is None else JobStatus.FAILED
        abandoned = False
        try:
            await self.db.save_eval_run(
                run.model_copy(update={"status": status, "error": error, "ended_at": utcnow()})
            )
        except Exception as e:
            logger.exception("eval run %s: its end could not be stored", run.id)
            error = f"{error or 'done'}, but its end could not be stored: {e}"
            abandoned = True
        finally:
            self._ended(handle, error, abandoned=abandoned)

    async def _heartbeat(self, run: EvalRun) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            await self.db.save_eval_run(run.model_copy(update={"heartbeat_at": utcnow()}))

    async def recover(self) -> list[EvalRun]:
        """``recover_eval_runs`` for this engine (``RunningTasks._recover``)."""
        return await self._recover(partial(recover_eval_runs, self.db), lambda r: r.id)


async def recover_eval_runs(
    db: DatabaseInterface,
    *,
    running: set[str] | frozenset[str] = frozenset(),
    abandoned: set[str] | frozenset[str] = frozenset(),
) -> list[EvalRun]:
    """End the runs whose process is gone as failed ("interrupted"), with their unfinished
    conversations, keeping those that ended; a run a live process plays is never ended.

    Args:
        running: the runs the caller plays itself.
        abandoned: runs the caller played and no longer plays: ended although their owner (the
            caller's process) is alive.
    """
    ended = []
    now = utcnow()
    for run in await db.list_eval_runs(status=JobStatus.RUNNING, limit=MAX_PAGE_SIZE):
        if not to_recover(run, run.id, running=running, abandoned=abandoned, now=now):
            continue
        stored = await db.get_eval_run(run.id)
        for c in stored.conversations if stored else []:
            if c.status is JobStatus.RUNNING:
                cut = {
                    "status": JobStatus.FAILED,
                    "error": CONVERSATION_INTERRUPTED,
                    "ended_at": now,
                }
                await db.save_eval_conversation(c.model_copy(update=cut))
        failed = {"status": JobStatus.FAILED, "error": INTERRUPTED, "ended_at": now}
        ended.append(await db.save_eval_run(run.model_copy(update=failed)))
    return ended


class _Players:
    """Plays the conversations of one run, with the run's coaches and clients."""

    def __init__(self, jobs: EvalJobs, run: EvalRun) -> None:
        self.jobs = jobs
        self.run = run
        self.db = jobs.db
        self._services: dict[str, CoachService] = {}
        self._clients: dict[str, LLMClient] = {}

    async def aclose(self) -> None:
        """Wait for the turns of the run's own coaches (other models than the engine's)."""
        for service in self._services.values():
            if service is not self.jobs.service:
                await service.aclose()

    def _llm(self, model: str) -> LLMClient:
        if model not in self._clients:
            client = self.jobs._client(model)
            self._clients[model] = CachingLLMClient(client) if self.run.cached else client
        return self._clients[model]

    def coach(self, model: str) -> CoachService:
        if model not in self._services:
            self._services[model] = self.jobs.service.with_llm(self._llm(model))
        return self._services[model]

    async def play(self, snapshot: Mapping[str, object], scenario: Scenario, repeat: int) -> None:
        """Play one conversation and store how it went. An error ends this conversation
        ``failed`` (stored), not the run."""
        coach = self.coach(scenario.model)
        conversation: EvalConversation | None = None
        after_seq = 0
        try:
            user_id, session_id, after_seq = await self._open(snapshot, scenario, coach)
            conversation = await self.db.save_eval_conversation(
                EvalConversation(
                    session_id=session_id,
                    run_id=self.run.id,
                    scenario=scenario.name,
                    repeat=repeat,
                    user_id=user_id,
                    model=_describe(coach.llm_client),
                )
            )
            await self._talk(scenario, coach, user_id, session_id)
            played = await _played(self.db, user_id, session_id, after_seq)
            checks = judge(scenario.assertions, played)
            rubric = []
            if scenario.rubric is not None:
                rubric = await judge_rubric(self._llm(scenario.rubric.model), scenario, played)
            await self._end(
                conversation,
                played,
                status=JobStatus.DONE,
                passed=all(c.passed for c in checks),
                checks=[c.to_json() for c in [*checks, *rubric]],
            )
        except asyncio.CancelledError:
            if conversation is not None:
                await self._ended_early(conversation, after_seq, "cancelled")
            raise
        except Exception as e:
            logger.warning("eval run %s: %s #%s failed: %s", self.run.id, scenario.name, repeat, e)
            if conversation is None:
                raise  # nothing was opened to store it with: the run fails and says why
            await self._ended_early(conversation, after_seq, f"{type(e).__name__}: {e}")

    async def _open(
        self, snapshot: Mapping[str, object], scenario: Scenario, coach: CoachService
    ) -> tuple[str, str, int]:
        """A new session for the conversation: fresh, or a fork of the run's fixture copy.
        Returns its user, its id, and the last turn that is not the conversation's own."""
        if scenario.start is not None:
            fork = await Replay.prepare(
                self.db,
                str(snapshot[FIXTURE_SESSION]),
                at_turn=scenario.start.at_turn,
                prompts=coach.prompts,
            )
            await fork.begin(scenario.prompts)
            async for _ in fork.turns():
                pass
            report = await fork.finish()
            return report.user_id, report.session_id, scenario.start.at_turn
        started = await coach.start_session(
            new_id(), user_name=scenario.client.name or SCRIPTED_CLIENT
        )
        if scenario.prompts is not None:
            await coach.pin_prompts(started.user_id, started.session_id, scenario.prompts)
        return started.user_id, started.session_id, 0

    async def _talk(
        self, scenario: Scenario, coach: CoachService, user_id: str, session_id: str
    ) -> None:
        context = await self.db.get_context(user_id, session_id)
        transcript: list[MessageRecord] = list(context.messages) if context else []
        client = SimulatedClient(scenario.client, self._llm(scenario.client_model))
        text: str | None = scenario.opening
        last = False
        for turn in range(1, scenario.max_turns + 1):
            assert text is not None
            result = await coach.send_message_and_wait(user_id, session_id, text)
            transcript.append(MessageRecord(role=MessageRole.USER, content=text))
            if result.coach_message is not None:
                transcript.append(result.coach_message)
            if last or turn == scenario.max_turns:
                return
            answer = await client.next_message(transcript)
            if answer.text is None:
                return
            text, last = answer.text, answer.last

    async def _end(
        self,
        conversation: EvalConversation,
        played: Played,
        *,
        status: JobStatus,
        passed: bool | None,
        checks: list[JsonDict],
        error: str | None = None,
    ) -> None:
        turns = played.turns
        await self.db.save_eval_conversation(
            conversation.model_copy(
                update={
                    "status": status,
                    "error": error,
                    "passed": passed,
                    "checks": checks,
                    "turns": len(turns),
                    "input_tokens": sum(t.input_tokens or 0 for t in turns),
                    "output_tokens": sum(t.output_tokens or 0 for t in turns),
                    "latencies_ms": [t.latency_ms for t in turns if t.latency_ms is not None],
                    "prompt_version": next((t.prompt_version for t in turns), ""),
                    "ended_at": utcnow(),
                }
            )
        )

    async def _ended_early(
        self, conversation: EvalConversation, after_seq: int, error: str
    ) -> None:
        """Store a conversation that could not be played to its end, with what it did."""
        c = conversation
        played = await _played(self.db, c.user_id, c.session_id, after_seq)
        await asyncio.shield(
            self._end(
                conversation, played, status=JobStatus.FAILED, passed=None, checks=[], error=error
            )
        )


async def _played(db: DatabaseInterface, user_id: str, session_id: str, after_seq: int) -> Played:
    """The conversation's own turns, replies and the client's identities, as stored."""
    turns = await db.list_turns(session_id, after_seq=after_seq, limit=MAX_PAGE_SIZE)
    turns = [t for t in turns if t.status is not TurnStatus.PENDING]
    # The conversation's messages in one read (a fixture's older ones may be past the page).
    texts = {m.id: m.content for m in await db.list_messages(session_id, limit=MAX_PAGE_SIZE)}

    async def text(message_id: str | None) -> str:
        if message_id is None:
            return ""
        if message_id not in texts:
            message = await db.get_message(session_id, message_id)
            texts[message_id] = "" if message is None else message.content
        return texts[message_id]

    said = [await text(t.user_message_id) for t in turns]
    replies = [await text(t.coach_message_id) for t in turns]
    identities = await db.get_identities(user_id)
    return Played(turns=turns, said=said, replies=replies, identities=identities)


def scenario_of(snapshot: Mapping[str, object]) -> Scenario:
    """The scenario as a run stored it."""
    return Scenario.model_validate({k: v for k, v in snapshot.items() if k != FIXTURE_SESSION})


def _describe(client: LLMClient) -> str:
    return f"{client.provider}/{client.model}"


def _default_name(scenarios: Sequence[Scenario]) -> str:
    names = ", ".join(s.name for s in scenarios[:3])
    more = f" +{len(scenarios) - 3}" if len(scenarios) > 3 else ""
    return f"{names}{more} · {time.strftime('%Y-%m-%d %H:%M')}"
