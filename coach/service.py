"""``CoachService``: coaching sessions over a model and a database.

It opens sessions (with their welcome), takes the user's messages, and shows what the next turn
would send. A turn itself is a job of the engine (``coach.turns``): the message is stored with
a pending turn before the model is called, the turn runs as a task that no page owns, and
callers follow it through its ``TurnHandle`` (or ``send_message``'s events). Nothing the user
sends is lost: when the model fails or the process dies, the message stays with a ``failed``
turn that says why, and ``retry_turn`` answers it later. A message resubmitted with the same
client message id is answered once; the stored result is returned again.
"""

from __future__ import annotations

import asyncio
import functools
import re
import unicodedata
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coach.actions import response_schema
from coach.actions.effects import NAME_SET_BY, NameSource
from coach.context import CONTINUES_SESSION_KEY, EARLIER_SESSIONS_KEY, ContextManager
from coach.enums import CoachingState, MessageRole, TurnStatus
from coach.errors import InputError
from coach.llm.base import LLMClient, LLMRequest
from coach.models import CoachContext
from coach.persistence.base import DatabaseInterface
from coach.persistence.records import MessageRecord, TurnSummary, UserRecord, new_id
from coach.prompts import RenderedPrompt
from coach.prompts.library import PIN_KEY, PromptLibrary, PromptPin
from coach.prompts.variables import welcome_variables
from coach.turns import TurnEvent, TurnHandle, TurnJobs, TurnProgress, TurnResult
from coach.turns.experiments import ExperimentJobs
from coach.turns.jobs import session_not_started
from coach.turns.trials import OnRun, Trial, try_turn
from coach.window import bound_words

if TYPE_CHECKING:
    from coach.evals.runner import EvalJobs
    from coach.sessions.jobs import SessionJobs
    from coach.sessions.retention import RetentionJobs

__all__ = [
    "CoachService",
    "PromptPreview",
    "StartedSession",
    "TurnEvent",
    "TurnHandle",
    "TurnProgress",
    "TurnResult",
    "validate_user_message",
]

#: Characters allowed in a message besides printable ones.
ALLOWED_CONTROL_CHARS = frozenset("\n\t\r")
#: Two or more blank lines (whitespace-only lines count as blank).
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n){2,}")
#: How far back ``retry_turn`` looks for the latest failed turn when no message is named.
RETRY_LOOKBACK_TURNS = 50


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


def tidy_message(text: str) -> str:
    """A rendered opening message without the blank lines its empty variables left (a
    welcome back with nothing to recall), so it is stored as a person would write it."""
    return _BLANK_LINES.sub("\n\n", text).strip()


class CoachService:
    """Runs coaching sessions over an LLM client and a database."""

    def __init__(
        self,
        llm_client: LLMClient,
        db: DatabaseInterface,
        *,
        prompts: PromptLibrary | None = None,
        token_budget: int = 4000,
        summary_max_words: int = 200,
        max_message_chars: int = 20_000,
    ) -> None:
        self.llm_client = llm_client
        self.db = db
        self.prompts = prompts or PromptLibrary(db)
        self.context_manager = ContextManager(
            llm_client=llm_client,
            db=db,
            prompts=self.prompts,
            token_budget=token_budget,
            summary_max_words=summary_max_words,
        )
        self.turns = TurnJobs(llm_client, db, self.context_manager, self.prompts)
        #: Stored turns tried again, as tasks of the engine (the prompt lab's experiments).
        self.experiments = ExperimentJobs(llm_client, db, self.prompts)
        self.max_message_chars = max_message_chars
        self._starting: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def with_llm(self, llm_client: LLMClient) -> CoachService:
        """A service like this one (same database, prompts and limits) over another client:
        to run the coach with another model."""
        if llm_client is self.llm_client:
            return self
        return CoachService(
            llm_client,
            self.db,
            prompts=self.prompts,
            token_budget=self.context_manager.token_budget,
            summary_max_words=self.context_manager.summary_max_words,
            max_message_chars=self.max_message_chars,
        )

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
        lock = self._starting.get(session_id)
        if lock is None:
            lock = self._starting[session_id] = asyncio.Lock()
        async with lock:
            existing = await self.db.get_state(user_id, session_id)
            if existing is not None:
                return StartedSession(user_id, session_id, existing.state, None, created=False)
            user = await self.db.get_user(user_id) or UserRecord(id=user_id)
            if user_name and not user.data.get("name"):
                # Given by a person: the model may not replace it (``NameSource``).
                user.data = {**user.data, "name": user_name, NAME_SET_BY: NameSource.START.value}
            newest = await self.db.list_sessions(user_id=user_id, limit=2)
            previous = next(
                (s.session_id for s in newest.items if s.session_id != session_id), None
            )
            context = await self.context_manager.load_context(user_id, session_id)
            context.user_profile = dict(user.data)
            prompts = await self.prompts.for_metadata(context.metadata)
            if previous is not None:
                await self._continue_journey(context, previous)
                welcome = prompts.render("welcome_back", welcome_variables(context))
            else:
                welcome = prompts.render("welcome", welcome_variables(context))
            message = MessageRecord(role=MessageRole.COACH, content=tidy_message(welcome.text))
            context.conversation_history.append(message)
            await self.context_manager.commit(context, user=user)
            return StartedSession(
                user_id, session_id, context.current_state, message, continues_session_id=previous
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
        if isinstance(earlier, dict) and isinstance(earlier.get(EARLIER_SESSIONS_KEY), str):
            parts.append(str(earlier[EARLIER_SESSIONS_KEY]))
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
            EARLIER_SESSIONS_KEY: digest,
            CONTINUES_SESSION_KEY: previous_id,
        }

    # -- turns ------------------------------------------------------------------------------------

    async def submit(
        self,
        user_id: str,
        session_id: str,
        text: str,
        *,
        client_message_id: str | None = None,
    ) -> TurnHandle | TurnResult:
        """Store the message with a pending turn and start answering it; return at once.

        Args:
            client_message_id: the id the client gave this message. Sending the same id again
                never starts a second turn: it returns the running turn's handle, or the stored
                result when the message was answered already.

        Returns:
            The running turn's handle (follow it with ``TurnHandle.wait``), or a stored result.

        Raises:
            InputError: the message is empty, too long or has control characters, or the
                session was not started; nothing was stored.
            TurnInProgressError: the message is being answered by another app process.
        """
        cleaned = validate_user_message(text, max_chars=self.max_message_chars)
        return await self.turns.start(user_id, session_id, cleaned, client_message_id or new_id())

    async def retry(
        self, user_id: str, session_id: str, user_message_id: str | None = None
    ) -> TurnHandle | TurnResult:
        """Answer again a message whose turn failed (by default the latest failed turn).

        Raises:
            InputError: there is no failed turn to retry.
        """
        target = await self._failed_turn(session_id, user_message_id)
        message = await self.db.get_message(session_id, target.user_message_id)
        if message is None:
            raise InputError("The message to retry is no longer stored in this session.")
        return await self.turns.start(user_id, session_id, message.content, message.id)

    async def _failed_turn(self, session_id: str, user_message_id: str | None) -> TurnSummary:
        if user_message_id is not None:
            turn = await self.db.get_turn_for_message(session_id, user_message_id)
            if turn is not None and turn.status is TurnStatus.FAILED:
                return turn
            raise InputError("That message has no failed turn to retry.")
        summary = await self.db.get_session(session_id)
        count = summary.turn_count if summary else 0
        recent = await self.db.list_turns(
            session_id,
            after_seq=max(0, count - RETRY_LOOKBACK_TURNS),
            limit=RETRY_LOOKBACK_TURNS,
        )
        failed = [t for t in recent if t.status is TurnStatus.FAILED]
        if not failed:
            raise InputError("There is no failed turn to retry in this session.")
        return failed[-1]

    async def send_message(
        self,
        user_id: str,
        session_id: str,
        text: str,
        *,
        client_message_id: str | None = None,
    ) -> AsyncIterator[TurnEvent]:
        """Run one turn, yielding the reply's text as it streams, then the ``TurnResult``.

        Leaving the loop early does not stop the turn: it runs on and is stored.

        Raises:
            InputError: as ``submit``.
        """
        started = await self.submit(user_id, session_id, text, client_message_id=client_message_id)
        async for event in _events(started):
            yield event

    async def retry_turn(
        self, user_id: str, session_id: str, user_message_id: str | None = None
    ) -> AsyncIterator[TurnEvent]:
        """``retry`` with its events, as ``send_message`` yields them."""
        async for event in _events(await self.retry(user_id, session_id, user_message_id)):
            yield event

    async def send_message_and_wait(
        self, user_id: str, session_id: str, text: str, *, client_message_id: str | None = None
    ) -> TurnResult:
        """``send_message`` without streaming: the ``TurnResult`` only."""
        started = await self.submit(user_id, session_id, text, client_message_id=client_message_id)
        return await _result(started)

    async def recover_interrupted(self, *, session_id: str | None = None) -> list[TurnSummary]:
        """Mark the pending turns whose process died as failed ("interrupted"), ready to be
        retried. Called when the app or the CLI opens the database, and for a session a page
        opens; never marks a turn a live process runs."""
        return await self.turns.recover(session_id=session_id)

    def running_turns(self, session_id: str) -> list[TurnHandle]:
        """The session's turns running in this process, oldest first."""
        return self.turns.running(session_id)

    @functools.cached_property
    def sessions(self) -> SessionJobs:
        """Forks and replays of sessions, as tasks of the engine."""
        from coach.sessions.jobs import SessionJobs  # it runs CoachServices of its own

        return SessionJobs(self.llm_client, self.db, self.prompts)

    @functools.cached_property
    def evals(self) -> EvalJobs:
        """Eval runs: scenarios played by simulated clients, as tasks of the engine."""
        from coach.evals.runner import EvalJobs  # it runs CoachServices of its own

        return EvalJobs(self)

    @functools.cached_property
    def retention(self) -> RetentionJobs:
        """Retention: deleting the sessions inactive for N days, as a task of the engine."""
        from coach.sessions.retention import RetentionJobs

        return RetentionJobs(self.db)

    async def aclose(self) -> None:
        """Stop the eval runs, forks and replays (stored as cancelled) and retention, and wait
        for the turns and experiments running here to be stored, before the database is
        closed."""
        if "evals" in self.__dict__:
            await self.evals.aclose()  # first: its conversations send turns
        await self.turns.aclose()
        await self.experiments.aclose()
        if "sessions" in self.__dict__:
            await self.sessions.aclose()
        if "retention" in self.__dict__:
            await self.retention.aclose()

    # -- inspection -------------------------------------------------------------------------------

    async def try_turn(
        self,
        session_id: str,
        seq: int,
        *,
        runs: int = 3,
        pin: PromptPin | None = None,
        model: str | None = None,
        on_run: OnRun | None = None,
    ) -> Trial:
        """Answer stored turn ``seq`` again ``runs`` times with the versions ``pin`` selects
        (the active ones by default) and ``model`` (the engine's by default), in parallel,
        writing nothing (``coach.turns.trials``). ``experiments.start`` runs the same as a
        task and keeps it."""
        return await try_turn(
            self.db,
            self.prompts,
            self.llm_client if not model else self.llm_client.with_model(model),
            session_id,
            seq,
            runs=runs,
            pin=pin,
            on_run=on_run,
        )

    async def pin_prompts(self, user_id: str, session_id: str, pin: PromptPin | None) -> None:
        """Make the session use the prompt versions ``pin`` selects instead of the active ones
        (``None``: the active ones again). The pin is checked before it is stored.

        Raises:
            InputError: the session was not started for this user.
            PromptError: the pin names a label, part or version that does not exist.
            ConcurrencyError: the session changed meanwhile (a turn ended); pin again.
        """
        context = await self._started_context(user_id, session_id)
        if pin is None:
            context.metadata.pop(PIN_KEY, None)
        else:
            await self.prompts.manager(pin)
            context.metadata[PIN_KEY] = pin.model_dump(mode="json")
        await self.context_manager.commit(context)

    async def _started_context(self, user_id: str, session_id: str) -> CoachContext:
        """The session's context for a turn. Raises ``InputError`` for a session this user
        did not start."""
        context = await self.context_manager.load_turn_context(user_id, session_id)
        if context is None:
            raise session_not_started(session_id)
        return context

    async def system_prompt(self, context: CoachContext) -> RenderedPrompt:
        """The phase's system prompt for this context."""
        return await self.turns.system_prompt(context)

    async def preview_prompt(self, user_id: str, session_id: str) -> PromptPreview:
        """The exact prompt and model input the next turn would send (before the new message)."""
        context = await self._started_context(user_id, session_id)
        prompt = await self.system_prompt(context)
        window = self.context_manager.build_window(context, prompt.text)
        request = LLMRequest(
            messages=window.messages,
            response_schema=response_schema(context.current_state),
            schema_name="coach_reply",
        )
        return PromptPreview(prompt=prompt, request=request, window=dict(window.describe()))


async def _events(started: TurnHandle | TurnResult) -> AsyncIterator[TurnEvent]:
    if isinstance(started, TurnResult):
        yield started
        return
    async for event in started.events():
        yield event


async def _result(started: TurnHandle | TurnResult) -> TurnResult:
    result: TurnResult | None = None
    async for event in _events(started):
        if isinstance(event, TurnResult):
            result = event
    assert result is not None, "a turn always ends with its result"
    return result
