"""``CoachService``: one coaching turn from the user's message to the stored result.

A turn: load the context, append the user's message, build the phase's prompt, stream the
model's structured reply, apply its actions one by one, let the state machine decide on a
requested phase change, and store everything as one unit (``DatabaseInterface.commit_turn``).

Nothing the user sends is lost: when the model fails, the message is stored with a ``failed``
turn that says why, and ``retry_turn`` answers it later. A message resubmitted with the same
client message id is answered once; the stored result is returned again.
"""

from __future__ import annotations

import asyncio
import time
import unicodedata
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from coach.actions import (
    ActionOutcome,
    CoachReply,
    apply_actions,
    parse_reply,
    referenced_identity_ids,
    response_schema,
)
from coach.context import ContextManager, bound_words
from coach.enums import ActionStatus, CoachingState, MessageRole, TurnStatus
from coach.errors import (
    ConcurrencyError,
    DuplicateTurnError,
    InputError,
    LLMError,
    LLMResponseError,
)
from coach.llm.base import LLMClient, LLMRequest, LLMResponse, TextDelta
from coach.models import CoachContext
from coach.persistence.base import DatabaseInterface
from coach.persistence.records import (
    ActionResultRecord,
    MessageRecord,
    TurnCommit,
    TurnRecord,
    UserRecord,
    new_id,
)
from coach.prompts import PromptManager, RenderedPrompt
from coach.prompts.variables import phase_variables, welcome_variables
from coach.state_machine import apply_transition, evaluate_transition

#: How often a turn is run again when another process wrote the session in between.
MAX_TURN_ATTEMPTS = 3
#: Characters allowed in a message besides printable ones.
ALLOWED_CONTROL_CHARS = frozenset("\n\t\r")


class TurnResult(BaseModel):
    """The outcome of one turn, as stored. ``status`` is ``failed`` when the model failed;
    the user's message is kept and ``error`` says why."""

    kind: Literal["result"] = "result"
    status: TurnStatus
    user_id: str
    session_id: str
    user_message_id: str
    coach_message: MessageRecord | None = None
    actions: list[ActionResultRecord] = Field(default_factory=list)
    state_before: CoachingState
    state_after: CoachingState
    requested_transition: CoachingState | None = None
    transition_refused_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    turn_seq: int | None = None
    error: str | None = None
    #: True when this result was stored earlier and is returned for a resubmitted message.
    replayed: bool = False

    @property
    def reply(self) -> str:
        return self.coach_message.content if self.coach_message else ""

    @property
    def ok(self) -> bool:
        return self.status is TurnStatus.OK

    @classmethod
    def from_turn(cls, turn: TurnRecord, coach_message: MessageRecord | None) -> TurnResult:
        return cls(
            status=turn.status,
            user_id=turn.user_id,
            session_id=turn.session_id,
            user_message_id=turn.user_message_id,
            coach_message=coach_message,
            actions=turn.actions,
            state_before=turn.state_before,
            state_after=turn.state_after,
            requested_transition=turn.requested_transition,
            transition_refused_reason=turn.transition_refused_reason,
            input_tokens=turn.input_tokens,
            output_tokens=turn.output_tokens,
            latency_ms=turn.latency_ms,
            ttft_ms=turn.ttft_ms,
            turn_seq=turn.seq,
            error=turn.error,
        )


TurnEvent = TextDelta | TurnResult


@dataclass(frozen=True)
class StartedSession:
    """A session as ``start_session`` left it."""

    user_id: str
    session_id: str
    state: CoachingState
    welcome: MessageRecord | None
    #: The session this one continues, for a returning user.
    continues_session_id: str | None = None
    created: bool = True


@dataclass(frozen=True)
class PromptPreview:
    """What the next turn would send to the model."""

    prompt: RenderedPrompt
    request: LLMRequest
    window: dict[str, object]


def validate_user_message(text: str, *, max_chars: int) -> str:
    """The message, trimmed, or ``InputError`` saying what is wrong and how to fix it."""
    cleaned = text.strip()
    if not cleaned:
        raise InputError("The message is empty. Type something to send to the coach.")
    if len(cleaned) > max_chars:
        raise InputError(
            f"The message has {len(cleaned):,} characters; the limit is {max_chars:,}. "
            "Shorten it or send it in parts."
        )
    for position, char in enumerate(cleaned):
        if unicodedata.category(char) == "Cc" and char not in ALLOWED_CONTROL_CHARS:
            raise InputError(
                f"The message contains a control character (U+{ord(char):04X}) at position "
                f"{position + 1}. Remove it and send again."
            )
    return cleaned


class CoachService:
    """Runs coaching sessions over an LLM client and a database."""

    def __init__(
        self,
        llm_client: LLMClient,
        db: DatabaseInterface,
        *,
        prompt_manager: PromptManager | None = None,
        token_budget: int = 4000,
        summary_max_words: int = 200,
        max_message_chars: int = 4000,
    ) -> None:
        self.llm_client = llm_client
        self.db = db
        self.prompt_manager = prompt_manager or PromptManager()
        self.context_manager = ContextManager(
            llm_client=llm_client,
            db=db,
            prompt_manager=self.prompt_manager,
            token_budget=token_budget,
            summary_max_words=summary_max_words,
        )
        self.max_message_chars = max_message_chars
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, session_id: str) -> asyncio.Lock:
        lock = self._locks.get(session_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[session_id] = lock
        return lock

    # -- sessions ---------------------------------------------------------------------------------

    async def start_session(
        self,
        user_id: str | None = None,
        *,
        session_id: str | None = None,
        user_name: str | None = None,
    ) -> StartedSession:
        """Open a session and store its welcome message as the first coach message.

        A new user gets the welcome; a returning user's new session starts in the phase where
        their latest session ended, with a welcome-back recalling their identities and open
        action items. Opening an existing session of the user returns it unchanged.

        Raises:
            OwnershipError: ``session_id`` belongs to another user.
        """
        user_id = user_id or new_id()
        session_id = session_id or new_id()
        async with self._lock(session_id):
            existing = await self.db.get_state(user_id, session_id)
            if existing is not None:
                return StartedSession(user_id, session_id, existing.state, None, created=False)
            user = await self.db.get_user(user_id) or UserRecord(id=user_id)
            if user_name and not user.data.get("name"):
                user.data = {**user.data, "name": user_name}
            previous = [s for s in await self.db.get_sessions_for_user(user_id) if s != session_id]
            context = await self.context_manager.load_context(user_id, session_id)
            context.user_profile = dict(user.data)
            if previous:
                await self._continue_journey(context, previous[0])
                welcome = self.prompt_manager.render("welcome_back", welcome_variables(context))
            else:
                welcome = self.prompt_manager.render("welcome", welcome_variables(context))
            message = MessageRecord(role=MessageRole.COACH, content=welcome.text)
            context.conversation_history.append(message)
            await self.db.commit_turn(
                TurnCommit(
                    context=self.context_manager._convert_to_context_record(context),
                    state=self.context_manager._convert_to_state_record(context),
                    user=user,
                )
            )
            return StartedSession(
                user_id,
                session_id,
                context.current_state,
                message,
                continues_session_id=previous[0] if previous else None,
            )

    async def _continue_journey(self, context: CoachContext, previous_id: str) -> None:
        """Carry the phase, focus and a digest of the previous session into ``context``."""
        state = await self.db.get_state(context.user_id, previous_id)
        if state is not None:
            context.current_state = state.state
            context.focus_identity_id = state.focus_identity_id
        record = await self.db.get_context(context.user_id, previous_id, message_limit=6)
        if record is None:
            return
        earlier = record.user_data.get("metadata", {})
        parts = []
        if isinstance(earlier, dict) and isinstance(earlier.get("previous_sessions_summary"), str):
            parts.append(str(earlier["previous_sessions_summary"]))
        summary = record.user_data.get("summary")
        if isinstance(summary, str) and summary:
            parts.append(summary)
        parts += [
            f"{'Client' if m.role is MessageRole.USER else 'Coach'}: {m.content}"
            for m in record.messages
        ]
        digest = bound_words("\n".join(parts), 2 * self.context_manager.summary_max_words)
        context.metadata = {
            **context.metadata,
            "previous_sessions_summary": digest,
            "continues_session_id": previous_id,
        }

    # -- turns ------------------------------------------------------------------------------------

    async def send_message(
        self,
        user_id: str,
        session_id: str,
        text: str,
        *,
        client_message_id: str | None = None,
    ) -> AsyncIterator[TurnEvent]:
        """Run one turn, yielding the reply's text as it streams, then the ``TurnResult``.

        Args:
            client_message_id: the id the client gave this message. Sending the same id again
                returns the stored result instead of running a second turn.

        Raises:
            InputError: the message is empty, too long or has control characters, or the
                session was not started; nothing was stored.
        """
        cleaned = validate_user_message(text, max_chars=self.max_message_chars)
        message_id = client_message_id or new_id()
        async with self._lock(session_id):
            for attempt in range(1, MAX_TURN_ATTEMPTS + 1):
                done = await self._stored_result(session_id, message_id)
                if done is not None:
                    yield done
                    return
                try:
                    async for event in self._run_turn(user_id, session_id, cleaned, message_id):
                        yield event
                    return
                except DuplicateTurnError:
                    continue
                except ConcurrencyError:
                    if attempt == MAX_TURN_ATTEMPTS:
                        raise
            done = await self._stored_result(session_id, message_id)
            if done is None:  # pragma: no cover - DuplicateTurnError implies a stored turn
                raise ConcurrencyError("the turn could not be stored; send the message again")
            yield done

    async def send_message_and_wait(
        self, user_id: str, session_id: str, text: str, *, client_message_id: str | None = None
    ) -> TurnResult:
        """``send_message`` without streaming: the ``TurnResult`` only."""
        result: TurnResult | None = None
        async for event in self.send_message(
            user_id, session_id, text, client_message_id=client_message_id
        ):
            if isinstance(event, TurnResult):
                result = event
        assert result is not None
        return result

    async def retry_turn(
        self, user_id: str, session_id: str, user_message_id: str | None = None
    ) -> AsyncIterator[TurnEvent]:
        """Answer a message whose turn failed (by default the latest failed turn).

        Raises:
            InputError: there is no failed turn to retry.
        """
        turns = await self.db.list_turns(session_id)
        failed = [
            t
            for t in turns
            if t.status is TurnStatus.FAILED
            and (user_message_id is None or t.user_message_id == user_message_id)
        ]
        if not failed:
            raise InputError("There is no failed turn to retry in this session.")
        target = failed[-1]
        content = await self._message_content(user_id, session_id, target.user_message_id)
        async for event in self.send_message(
            user_id, session_id, content, client_message_id=target.user_message_id
        ):
            yield event

    async def _message_content(self, user_id: str, session_id: str, message_id: str) -> str:
        context = await self.context_manager.load_context(user_id, session_id)
        for message in context.conversation_history:
            if message.id == message_id:
                return message.content
        raise InputError("The message to retry is no longer in the recent conversation.")

    async def _stored_result(self, session_id: str, message_id: str) -> TurnResult | None:
        turn = await self.db.get_turn_for_message(session_id, message_id)
        if turn is None or turn.status is not TurnStatus.OK:
            return None
        coach_message = None
        if turn.coach_message_id and turn.user_id:
            context = await self.db.get_context(turn.user_id, session_id, message_limit=None)
            if context is not None:
                coach_message = next(
                    (m for m in context.messages if m.id == turn.coach_message_id), None
                )
        return TurnResult.from_turn(turn, coach_message).model_copy(update={"replayed": True})

    async def _load_for_turn(self, user_id: str, session_id: str) -> CoachContext:
        context = await self.context_manager._load_from_persistence(user_id, session_id)
        if context is None:
            raise InputError(
                f"Session {session_id} was not started for this user. Start a session first."
            )
        return context

    def system_prompt(self, context: CoachContext) -> RenderedPrompt:
        """The phase's system prompt for this context."""
        return self.prompt_manager.system_prompt(context.current_state, phase_variables(context))

    async def _run_turn(
        self, user_id: str, session_id: str, text: str, message_id: str
    ) -> AsyncIterator[TurnEvent]:
        context = await self._load_for_turn(user_id, session_id)
        state_before = context.current_state
        if not any(m.id == message_id for m in context.conversation_history):
            context.conversation_history.append(
                MessageRecord(id=message_id, role=MessageRole.USER, content=text)
            )
        prompt = self.system_prompt(context)
        window, summary = await self.context_manager.prepare_window(context, prompt.text)
        request = LLMRequest(
            messages=window.messages,
            response_schema=response_schema(context.current_state),
            schema_name="coach_reply",
        )
        turn = TurnRecord(
            session_id=session_id,
            user_id=user_id,
            user_message_id=message_id,
            state_before=state_before,
            state_after=state_before,
            prompt_name=prompt.name,
            prompt_version=prompt.version,
            prompt_hash=prompt.content_hash,
            system_prompt=prompt.text,
            model=self.llm_client.model,
            provider=self.llm_client.provider,
            details={"context_window": window.describe(), "summary": summary.describe()},
        )
        started = time.perf_counter()
        first_token: float | None = None
        response: LLMResponse | None = None
        try:
            async for event in self.llm_client.stream(request):
                if isinstance(event, TextDelta):
                    if first_token is None:
                        first_token = time.perf_counter()
                    yield event
                else:
                    response = event
            assert response is not None, "an LLM stream must end with its response"
            reply = parse_reply(response.data)
        except LLMError as e:
            turn.status = TurnStatus.FAILED
            turn.error = e.reason
            turn.latency_ms = (time.perf_counter() - started) * 1000
            if response is not None:
                turn.raw_output = response.raw
            elif isinstance(e, LLMResponseError) and e.raw:
                turn.raw_output = e.raw
            committed = await self.db.commit_turn(
                TurnCommit(
                    context=self.context_manager._convert_to_context_record(context),
                    state=self.context_manager._convert_to_state_record(context),
                    turn=turn,
                )
            )
            yield TurnResult.from_turn(
                turn.model_copy(update={"seq": committed.turn_seq}), coach_message=None
            )
            return

        owners = await self._identity_owners(context, reply)
        outcome = apply_actions(context, reply.actions, identity_owners=owners)
        self._decide_transition(context, outcome, turn)
        coach_message = MessageRecord(role=MessageRole.COACH, content=reply.message)
        context.conversation_history.append(coach_message)

        turn.coach_message_id = coach_message.id
        turn.state_after = context.current_state
        turn.raw_output = response.raw
        turn.actions = outcome.results
        turn.input_tokens = response.usage.input_tokens
        turn.output_tokens = response.usage.output_tokens
        turn.latency_ms = (time.perf_counter() - started) * 1000
        turn.ttft_ms = (first_token - started) * 1000 if first_token is not None else None
        changed = [i for i in context.identities if i.id in outcome.changed_identity_ids]
        user = None
        if outcome.user_data_changes:
            user = await self.db.get_user(user_id) or UserRecord(id=user_id)
            user.data = dict(context.user_profile)
        committed = await self.db.commit_turn(
            TurnCommit(
                context=self.context_manager._convert_to_context_record(context),
                state=self.context_manager._convert_to_state_record(context),
                identities=changed,
                user=user,
                turn=turn,
            )
        )
        yield TurnResult.from_turn(
            turn.model_copy(update={"seq": committed.turn_seq}), coach_message=coach_message
        )

    @staticmethod
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

    # -- inspection -------------------------------------------------------------------------------

    async def preview_prompt(self, user_id: str, session_id: str) -> PromptPreview:
        """The exact prompt and model input the next turn would send (before the new message)."""
        context = await self._load_for_turn(user_id, session_id)
        prompt = self.system_prompt(context)
        window = self.context_manager.build_window(context, prompt.text)
        request = LLMRequest(
            messages=window.messages,
            response_schema=response_schema(context.current_state),
            schema_name="coach_reply",
        )
        return PromptPreview(prompt=prompt, request=request, window=dict(window.describe()))
