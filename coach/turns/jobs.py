"""``TurnJobs``: begins, runs and completes the turns of one engine (see ``coach.turns``)."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Mapping

from coach.actions import (
    ActionOutcome,
    CoachReply,
    apply_actions,
    parse_reply,
    referenced_identity_ids,
    response_schema,
)
from coach.context import ContextManager
from coach.enums import ActionStatus, MessageRole, TurnStatus
from coach.errors import (
    CoachError,
    ConcurrencyError,
    DuplicateLabelError,
    DuplicateTurnError,
    InputError,
    LLMError,
    LLMResponseError,
    TurnInProgressError,
)
from coach.llm.base import LLMClient, LLMRequest, LLMResponse, TextDelta
from coach.models import CoachContext
from coach.persistence.base import DatabaseInterface
from coach.persistence.records import (
    IdentityRecord,
    MessageRecord,
    TurnCommit,
    TurnRecord,
    TurnSummary,
    UserRecord,
    utcnow,
)
from coach.process import ProcessId
from coach.prompts import RenderedPrompt
from coach.prompts.library import PromptLibrary
from coach.prompts.variables import PROMPT_VARIABLES, SUMMARY_MESSAGE, phase_variables
from coach.state_machine import apply_transition, evaluate_transition
from coach.turns.events import TurnHandle, TurnResult, log_turn_ended
from coach.turns.recovery import recover_interrupted
from coach.window import CONTEXT_WINDOW, SAMPLING, SUMMARY_STEP

logger = logging.getLogger(__name__)

#: How often a running turn refreshes its heartbeat.
HEARTBEAT_S = 10.0
#: How often a turn's decisions are applied again when its write is stale.
MAX_COMMIT_ATTEMPTS = 5


class TurnJobs:
    """Begins, runs and recovers the turns of one engine (see the module's docstring)."""

    def __init__(
        self,
        llm_client: LLMClient,
        db: DatabaseInterface,
        context_manager: ContextManager,
        prompts: PromptLibrary,
    ) -> None:
        self.llm_client = llm_client
        self.db = db
        self.context_manager = context_manager
        self.prompts = prompts
        self.owner = str(ProcessId.current())
        self._running: dict[tuple[str, int], TurnHandle] = {}
        #: Turns whose task here ended without storing them: pending, but nothing runs them.
        self._abandoned: set[tuple[str, int]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, session_id: str) -> asyncio.Lock:
        lock = self._locks.get(session_id)
        if lock is None:
            lock = self._locks[session_id] = asyncio.Lock()
        return lock

    # -- following ---------------------------------------------------------------------------------

    def running(self, session_id: str) -> list[TurnHandle]:
        """This process's unfinished turns of the session, oldest first."""
        return sorted(
            (h for (sid, _), h in self._running.items() if sid == session_id and not h.done),
            key=lambda h: h.seq,
        )

    def handle(self, session_id: str, seq: int) -> TurnHandle | None:
        return self._running.get((session_id, seq))

    # -- beginning ---------------------------------------------------------------------------------

    async def start(
        self, user_id: str, session_id: str, text: str, message_id: str
    ) -> TurnHandle | TurnResult:
        """Store the message with a pending turn and start the turn's task.

        Returns:
            The new turn's handle; the handle of this message's turn when it is running here
            already; or the stored result when the message was answered before.

        Raises:
            InputError: the session was not started for this user.
            TurnInProgressError: the message's turn runs in another process.
        """
        for _ in range(MAX_COMMIT_ATTEMPTS):
            existing = await self.db.get_turn_for_message(session_id, message_id)
            if existing is not None and existing.status is TurnStatus.OK:
                return await self.stored_result(existing)
            if existing is not None and existing.status is TurnStatus.PENDING:
                running = self.handle(session_id, existing.seq or 0)
                if running is not None:
                    return running
                if await self.recover(session_id=session_id):
                    continue  # its process was gone: the turn is failed now, and retried
                raise TurnInProgressError(
                    f"message {message_id!r} is being answered by another app process; "
                    "reload the session to see the reply"
                )
            try:
                # A message with a (failed) turn is stored already: a retry adds only the turn.
                pending = await self._begin(
                    user_id, session_id, text, message_id, stored=existing is not None
                )
            except (ConcurrencyError, DuplicateTurnError):
                continue  # someone else wrote the session meanwhile: look again
            handle = TurnHandle(user_id, session_id, pending.seq or 0, message_id)
            self._running[(session_id, handle.seq)] = handle
            task = asyncio.get_running_loop().create_task(
                self._run(handle, pending, text), name=f"turn {session_id}#{handle.seq}"
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return handle
        raise ConcurrencyError("the session changed too often to store the message; send it again")

    async def _begin(
        self, user_id: str, session_id: str, text: str, message_id: str, *, stored: bool
    ) -> TurnRecord:
        """One transaction: the user's message (unless ``stored`` already) and a pending turn
        for it."""
        record = await self.db.get_context(user_id, session_id, message_limit=0)
        state = await self.db.get_state(user_id, session_id)
        if record is None or state is None:
            raise session_not_started(session_id)
        if stored:
            record = None  # only the turn is new
        else:
            record.messages.append(
                MessageRecord(id=message_id, role=MessageRole.USER, content=text)
            )
        pending = TurnRecord(
            session_id=session_id,
            user_id=user_id,
            user_message_id=message_id,
            state_before=state.state,
            state_after=state.state,
            model=self.llm_client.model,
            provider=self.llm_client.provider,
            status=TurnStatus.PENDING,
            owner=self.owner,
        )
        result = await self.db.commit_turn(TurnCommit(context=record, turn=pending))
        return pending.model_copy(update={"seq": result.turn_seq})

    async def stored_result(self, turn: TurnSummary) -> TurnResult:
        """The stored outcome of a finished turn (for a message sent again)."""
        coach = None
        if turn.coach_message_id is not None:
            coach = await self.db.get_message(turn.session_id, turn.coach_message_id)
        return TurnResult.from_turn(turn, coach).model_copy(update={"replayed": True})

    # -- running -----------------------------------------------------------------------------------

    async def _run(self, handle: TurnHandle, pending: TurnRecord, text: str) -> None:
        """The turn's task: always ends with the turn stored ``ok`` or ``failed`` (and logged,
        ``turn.ended``; ``text``, the user's message, only when configured), or, when not
        even that can be stored, with the error given to every follower (and logged, since
        nobody may be looking); the turn then stays pending until recovery marks it (this
        engine's recovery too, although the turn's owner, this process, is alive)."""
        try:
            async with self._lock(handle.session_id):
                handle.queued = False
                heartbeat = asyncio.get_running_loop().create_task(self._heartbeat(pending))
                try:
                    try:
                        result = await self._answer(handle, pending)
                    except Exception as e:
                        result = await self._fail(pending, e)
                finally:
                    heartbeat.cancel()
            handle.push(result)
        except BaseException as e:
            logger.exception("turn %s#%s could not be stored", handle.session_id, handle.seq)
            self._abandoned.add((handle.session_id, handle.seq))
            handle.fail(e)
            if not isinstance(e, Exception):
                raise
        else:
            log_turn_ended(
                result, provider=pending.provider, model=pending.model, user_message=text
            )
        finally:
            self._running.pop((handle.session_id, handle.seq), None)

    async def _fail(self, pending: TurnRecord, error: Exception) -> TurnResult:
        """Store the turn as failed after an error of the engine itself (not of the model)."""
        logger.exception("turn %s#%s failed", pending.session_id, pending.seq, exc_info=error)
        reason = str(error) if isinstance(error, CoachError) else f"{type(error).__name__}: {error}"
        failed = pending.model_copy(update={"status": TurnStatus.FAILED, "error": reason})
        await self.db.commit_turn(TurnCommit(turn=failed))
        return TurnResult.from_turn(failed, None)

    async def _heartbeat(self, pending: TurnRecord) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            beat = pending.model_copy(update={"heartbeat_at": utcnow()})
            try:
                await self.db.commit_turn(TurnCommit(turn=beat))
            except ConcurrencyError:
                return  # the turn was completed meanwhile

    async def _answer(self, handle: TurnHandle, pending: TurnRecord) -> TurnResult:
        context = await self._load(pending)
        variables = phase_variables(context)
        prompt = await self.system_prompt(context, variables)
        window, summary = await self.context_manager.prepare_window(
            context, prompt.text, answering=pending.user_message_id
        )
        request = LLMRequest(
            messages=window.messages,
            response_schema=response_schema(context.current_state),
            schema_name="coach_reply",
        )
        turn = pending.model_copy(
            update={
                "state_before": context.current_state,
                "state_after": context.current_state,
                "prompt_name": prompt.name,
                "prompt_version": prompt.version,
                "prompt_hash": prompt.content_hash,
                "system_prompt": prompt.text,
                "details": {
                    CONTEXT_WINDOW: window.describe(),
                    SUMMARY_STEP: summary.describe(),
                    # Temperature, output limit, seed: what the reply was sampled with.
                    SAMPLING: self.llm_client.sampling(request).describe(),
                    # What the prompt was filled with: the prompt lab renders other versions
                    # of it as this turn would have had them.
                    PROMPT_VARIABLES: dict(variables),
                    SUMMARY_MESSAGE: window.summary_text,
                },
            }
        )
        started = time.perf_counter()
        first_token: float | None = None
        response: LLMResponse | None = None
        reply: CoachReply | None = None
        try:
            async for event in self.llm_client.stream(request):
                if isinstance(event, TextDelta):
                    if first_token is None:
                        first_token = time.perf_counter()
                    handle.push(event)
                else:
                    response = event
            assert response is not None, "an LLM stream must end with its response"
            reply = parse_reply(response.data)
        except LLMError as e:
            turn.status, turn.error = TurnStatus.FAILED, e.reason
            if response is not None:
                turn.raw_output = response.raw
            elif isinstance(e, LLMResponseError) and e.raw:
                turn.raw_output = e.raw
        turn.latency_ms = (time.perf_counter() - started) * 1000
        if first_token is not None:
            turn.ttft_ms = (first_token - started) * 1000
        if response is not None:
            turn.raw_output = response.raw
            turn.input_tokens = response.usage.input_tokens
            turn.output_tokens = response.usage.output_tokens
        return await self._complete(context, turn, reply)

    async def _load(self, pending: TurnSummary) -> CoachContext:
        context = await self.context_manager.load_turn_context(pending.user_id, pending.session_id)
        if context is None:
            raise InputError(f"Session {pending.session_id} has no stored context any more.")
        return context

    async def _complete(
        self, context: CoachContext, turn: TurnRecord, reply: CoachReply | None
    ) -> TurnResult:
        """Apply the reply to the session and complete the turn in place.

        The model took its time, and another turn of the user (in this session or another)
        may have written meanwhile: then the write is stale (versions, or a label the reply
        gives that another session took), and the reply is applied again to records read
        fresh, up to ``MAX_COMMIT_ATTEMPTS`` times; an action that no longer fits is rejected
        with its reason. The model is never asked again, so the reply streams once.
        """
        fresh = context
        for attempt in range(1, MAX_COMMIT_ATTEMPTS + 1):
            if attempt > 1:
                fresh = await self._load(turn)
                if context.summarized_until > fresh.summarized_until:  # folded for this turn
                    fresh.consolidated_summary = context.consolidated_summary
                    fresh.summarized_until = context.summarized_until
            done = turn.model_copy(deep=True)
            identities: list[IdentityRecord] = []
            user = None
            coach_message = None
            if reply is not None:
                owners = await self._identity_owners(fresh, reply)
                outcome = apply_actions(fresh, reply.actions, identity_owners=owners)
                _decide_transition(fresh, outcome, done)
                coach_message = MessageRecord(
                    role=MessageRole.COACH, content=reply.message, reply_to=turn.user_message_id
                )
                fresh.conversation_history.append(coach_message)
                done.status = TurnStatus.OK
                done.coach_message_id = coach_message.id
                done.state_after = fresh.current_state
                done.actions = outcome.results
                identities = [i for i in fresh.identities if i.id in outcome.changed_identity_ids]
                if outcome.user_data_changes:
                    user = UserRecord(
                        id=fresh.user_id, data=dict(fresh.user_profile), version=fresh.user_version
                    )
            try:
                await self.context_manager.commit(
                    fresh, identities=identities, user=user, turn=done
                )
            except (ConcurrencyError, DuplicateLabelError):
                # The actions checked labels against every identity read: a clash is stale too.
                live = await self.db.get_turn_for_message(turn.session_id, turn.user_message_id)
                if (
                    attempt == MAX_COMMIT_ATTEMPTS
                    or live is None
                    or (live.seq, live.status) != (turn.seq, TurnStatus.PENDING)
                ):
                    raise  # or the turn is no longer ours to complete (marked interrupted)
                continue
            return TurnResult.from_turn(done, coach_message)
        raise AssertionError("unreachable")  # pragma: no cover

    async def system_prompt(
        self, context: CoachContext, variables: Mapping[str, str] | None = None
    ) -> RenderedPrompt:
        """The phase's system prompt for this context (filled with ``variables``, by default
        the context's own), from the versions the session uses."""
        prompts = await self.prompts.for_metadata(context.metadata)
        return prompts.system_prompt(context.current_state, variables or phase_variables(context))

    async def _identity_owners(self, context: CoachContext, reply: CoachReply) -> dict[str, str]:
        """Owners of the identity ids the reply names that are not this client's, so a
        rejection can say whether the id is unknown or another user's."""
        owners: dict[str, str] = {}
        for identity_id in referenced_identity_ids(reply.actions):
            if context.identity(identity_id) is None:
                other = await self.db.get_identity(identity_id)
                if other is not None:
                    owners[identity_id] = other.user_id
        return owners

    # -- recovery ----------------------------------------------------------------------------------

    async def recover(self, *, session_id: str | None = None) -> list[TurnSummary]:
        """``recover_interrupted`` for this engine: its own running turns are never marked, and
        its abandoned ones (their task ended without storing them) are."""
        marked = await recover_interrupted(
            self.db,
            session_id=session_id,
            running=set(self._running),
            abandoned=set(self._abandoned),
        )
        self._abandoned.difference_update((t.session_id, t.seq or 0) for t in marked)
        return marked

    async def aclose(self) -> None:
        """Wait for the running turns to finish (on shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _decide_transition(context: CoachContext, outcome: ActionOutcome, turn: TurnRecord) -> None:
    """Let the state machine decide on the model's requested phase change."""
    target = outcome.requested_transition
    if target is None:
        return
    turn.requested_transition = target
    decision = evaluate_transition(context, target)
    if decision.allowed:
        apply_transition(context, decision)
        return
    turn.transition_refused_reason = decision.reason
    # The request was valid but the state machine said no: log the action as rejected.
    for result in outcome.results:
        if result.type == "transition_state" and result.status is ActionStatus.APPLIED:
            result.status = ActionStatus.REJECTED
            result.reason = f"phase change refused: {decision.reason}"


def session_not_started(session_id: str) -> InputError:
    """The error for a session this user did not start."""
    return InputError(f"Session {session_id} was not started for this user. Start a session first.")
