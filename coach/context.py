"""``ContextManager``: the conversation of a session as the engine sees it, stored by ``db``.

It keeps no storage of its own. It loads and saves through ``DatabaseInterface`` and maps the
stored ``ContextRecord`` (plus the session's ``StateRecord``, the user's identities and record)
to the engine's ``CoachContext`` with two pure functions.

It also decides what the model sees within a token budget: the system prompt, a rolling summary
of older messages, and as many recent messages as fit. When the messages not yet summarized
no longer fit, the oldest of them are folded into the summary by the model; the new summary
replaces the old one (it stays bounded). Stored messages are never deleted, and a failed
summary leaves the context as it was.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from coach.enums import CoachingState, MessageRole
from coach.errors import LLMError
from coach.llm.base import ChatMessage, LLMClient, LLMRequest
from coach.models import CoachContext
from coach.persistence.base import MAX_PAGE_SIZE, DatabaseInterface
from coach.persistence.records import (
    ContextRecord,
    IdentityRecord,
    MessageRecord,
    StateRecord,
    TurnCommit,
    TurnRecord,
    UserRecord,
)
from coach.prompts.library import METADATA_KEY, PromptLibrary
from coach.prompts.variables import summarizer_variables
from coach.window import (
    ContextWindow,
    SummaryOutcome,
    bound_words,
    model_messages,
    reading_order,
)

#: How many of the newest messages a turn loads: more than a usual token budget lets the model
#: see, and a fixed number, so the cost of a turn stays flat however long the conversation is.
#: Older messages not yet summarized are read separately when they are folded.
MESSAGE_WINDOW = 60

#: When the conversation no longer fits, older messages are folded until the rest takes this
#: share of the message budget, so a summary is written every few turns, not every turn.
FOLD_FILL = 0.5

SUMMARY_KEY = "summary"
SUMMARIZED_UNTIL_KEY = "summarized_until"
#: The summary a turn's summarization wrote, in the turn's ``details["summary"]``.
SUMMARY_TEXT = "text"

#: Context metadata of a returning client's new session: a digest of their previous session
#: (sent to the model in the summary message) and the id of that session.
EARLIER_SESSIONS_KEY = "previous_sessions_summary"
CONTINUES_SESSION_KEY = "continues_session_id"
#: The headings of the summary message's two parts (the inspector names the parts by them).
EARLIER_SESSIONS_HEADING = "Summary of the client's earlier sessions:"
THIS_CONVERSATION_HEADING = "Summary of this conversation so far:"

#: Replies that stand for "no summary" rather than being one (compared without case, brackets,
#: quotes and end punctuation): a small model echoes the "(none yet)" of its prompt.
PLACEHOLDER_SUMMARIES = frozenset(
    {
        "none",
        "none yet",
        "nothing",
        "nothing yet",
        "null",
        "nil",
        "n/a",
        "na",
        "empty",
        "no summary",
        "no summary yet",
        "tbd",
        "todo",
        "summary",
        "not available",
        "nothing to summarize",
        "nothing to summarise",
    }
)
#: A label before the text ("Summary so far: (none yet)") does not make it a summary.
_SUMMARY_LABEL = re.compile(r"^(?:new |updated )?summary(?: so far)?\s*:\s*")
_PLACEHOLDER_TRIM = " \t\n()[]{}<>\"'`*_.:;!?-–—…"


def summary_problem(text: str) -> str | None:
    """Why ``text`` cannot be used as a summary, or ``None`` when it can.

    Refused: an empty text, one without a single letter or digit, and a placeholder such as
    "(None yet)" or "N/A" (``PLACEHOLDER_SUMMARIES``).
    """
    if not text.strip():
        return "the model returned an empty summary"
    if not any(c.isalnum() for c in text):
        return f"the model returned {text.strip()!r}, which has no words"
    core = " ".join(text.split()).casefold()
    core = _SUMMARY_LABEL.sub("", core.strip(_PLACEHOLDER_TRIM)).strip(_PLACEHOLDER_TRIM)
    if core in PLACEHOLDER_SUMMARIES:
        return f"the model returned {text.strip()!r}, a placeholder, not a summary"
    return None


class ContextManager:
    """Loads, saves and budgets a session's context, only through ``db``."""

    def __init__(
        self,
        llm_client: LLMClient,
        db: DatabaseInterface,
        *,
        prompts: PromptLibrary | None = None,
        token_budget: int = 4000,
        summary_max_words: int = 200,
        message_window: int = MESSAGE_WINDOW,
    ) -> None:
        self.llm_client = llm_client
        self.db = db
        self.prompts = prompts or PromptLibrary(db)
        self.token_budget = token_budget
        self.summary_max_words = summary_max_words
        self.message_window = message_window
        # Messages are counted again every turn while they stay in the window; remember them
        # (whatever tokenizer the client uses).
        self._count_tokens = functools.lru_cache(maxsize=4096)(llm_client.count_tokens)

    # -- loading and saving -----------------------------------------------------------------------

    async def load_context(self, user_id: str, session_id: str) -> CoachContext:
        """The session's context, or a new empty one when nothing is stored yet."""
        context = await self._load_from_persistence(user_id, session_id)
        if context is not None:
            return context
        identities = await self.db.get_identities(user_id)
        user = await self.db.get_user(user_id)
        return CoachContext(
            user_id=user_id,
            session_id=session_id,
            identities=identities,
            user_profile=dict(user.data) if user else {},
            user_version=user.version if user else 0,
        )

    async def _load_from_persistence(self, user_id: str, session_id: str) -> CoachContext | None:
        """Load context from the persistence layer; ``None`` when the session has none.

        The newest ``message_window`` messages, the session's state, and the user's
        identities and record: what a turn needs, at a cost that does not grow with the
        conversation.
        """
        record = await self.db.get_context(user_id, session_id, message_limit=self.message_window)
        if record is None:
            return None
        state = await self.db.get_state(user_id, session_id)
        identities = await self.db.get_identities(user_id)
        user = await self.db.get_user(user_id)
        return self._convert_to_coach_context(record, state=state, identities=identities, user=user)

    load_turn_context = _load_from_persistence

    async def commit(
        self,
        context: CoachContext,
        *,
        identities: Sequence[IdentityRecord] = (),
        user: UserRecord | None = None,
        turn: TurnRecord | None = None,
    ) -> CoachContext:
        """Save the context (its new messages and summary) and its state, with what a turn
        changed (identities, the user record, the turn log), as one unit (``commit_turn``).

        Returns:
            The context at its new version.

        Raises:
            ConcurrencyError: a record changed since it was read; nothing was written.
        """
        result = await self.db.commit_turn(
            TurnCommit(
                context=self._convert_to_context_record(context),
                state=self._convert_to_state_record(context),
                identities=list(identities),
                user=user,
                turn=turn,
            )
        )
        return context.model_copy(update={"version": result.context_version})

    #: The design note's name for saving a context: the same one unit of work.
    _save_to_persistence = commit

    # -- pure mappings ----------------------------------------------------------------------------

    @staticmethod
    def _convert_to_coach_context(
        record: ContextRecord,
        *,
        state: StateRecord | None = None,
        identities: Sequence[IdentityRecord] = (),
        user: UserRecord | None = None,
    ) -> CoachContext:
        """Map stored records to a ``CoachContext`` (pure).

        Messages are frozen and shared; the record's lists and dicts are not.
        """
        data = record.user_data
        summary = data.get(SUMMARY_KEY, "")
        summarized_until = data.get(SUMMARIZED_UNTIL_KEY, 0)
        metadata = data.get(METADATA_KEY, {})
        return CoachContext(
            user_id=record.user_id,
            session_id=record.session_id,
            current_state=state.state if state else CoachingState.INTRODUCTION,
            focus_identity_id=state.focus_identity_id if state else None,
            conversation_history=list(record.messages),
            first_message_index=record.first_message_index,
            consolidated_summary=summary if isinstance(summary, str) else "",
            summarized_until=summarized_until if isinstance(summarized_until, int) else 0,
            metadata=dict(metadata) if isinstance(metadata, dict) else {},
            user_profile=dict(user.data) if user else {},
            user_version=user.version if user else 0,
            identities=list(identities),
            version=record.version,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )

    @staticmethod
    def _convert_to_context_record(context: CoachContext) -> ContextRecord:
        """Map a ``CoachContext`` to the ``ContextRecord`` that stores it (pure)."""
        return ContextRecord(
            user_id=context.user_id,
            session_id=context.session_id,
            messages=list(context.conversation_history),
            first_message_index=context.first_message_index,
            user_data={
                SUMMARY_KEY: context.consolidated_summary,
                SUMMARIZED_UNTIL_KEY: context.summarized_until,
                METADATA_KEY: dict(context.metadata),
            },
            version=context.version,
            created_at=context.created_at,
            updated_at=context.updated_at,
        )

    @staticmethod
    def _convert_to_state_record(context: CoachContext) -> StateRecord:
        """Map a ``CoachContext`` to the session's ``StateRecord`` (pure)."""
        return StateRecord(
            user_id=context.user_id,
            session_id=context.session_id,
            state=context.current_state,
            focus_identity_id=context.focus_identity_id,
        )

    # -- what the model sees ----------------------------------------------------------------------

    def build_window(
        self,
        context: CoachContext,
        system_prompt: str,
        *,
        fill: float = 1.0,
        answering: str | None = None,
    ) -> ContextWindow:
        """The model's input: system prompt, summary, and the newest messages that fit.

        Only messages after ``summarized_until`` are candidates, in reading order
        (``reading_order``: with ``answering``, the message being answered comes last); the
        last one is always included, even if it alone exceeds the budget. ``fill`` is the
        share of the budget left after the prompt and summary that messages may take.
        """
        count = self._count_tokens
        system_tokens = count(system_prompt)
        summary_text = self._summary_message(context)
        summary_tokens = count(summary_text) if summary_text else 0
        remaining = (self.token_budget - system_tokens - summary_tokens) * fill

        chosen: list[MessageRecord] = []
        used = 0
        folded_until = context.total_messages
        for position, message in reading_order(self._unsummarized(context), answering)[::-1]:
            cost = count(message.content) + 4
            if chosen and used + cost > remaining:
                break
            chosen.append(message)
            used += cost
            folded_until = min(folded_until, position)
        chosen.reverse()

        return ContextWindow(
            messages=model_messages(system_prompt, summary_text, chosen),
            system_tokens=system_tokens,
            summary_tokens=summary_tokens,
            message_tokens=used,
            included_message_ids=[m.id for m in chosen],
            folded_until=folded_until,
            summary_text=summary_text,
        )

    def _unsummarized(self, context: CoachContext) -> list[tuple[int, MessageRecord]]:
        start = context.first_message_index
        return [
            (start + i, m)
            for i, m in enumerate(context.conversation_history)
            if start + i >= context.summarized_until
        ]

    @staticmethod
    def _summary_message(context: CoachContext) -> str:
        parts = []
        earlier = context.metadata.get(EARLIER_SESSIONS_KEY)
        if isinstance(earlier, str) and earlier:
            parts.append(f"{EARLIER_SESSIONS_HEADING}\n{earlier}")
        if context.consolidated_summary:
            parts.append(f"{THIS_CONVERSATION_HEADING}\n{context.consolidated_summary}")
        return "\n\n".join(parts)

    async def prepare_window(
        self, context: CoachContext, system_prompt: str, *, answering: str | None = None
    ) -> tuple[ContextWindow, SummaryOutcome]:
        """The window for this turn, after folding old messages into the summary if needed.

        Args:
            answering: the id of the user message the turn answers (see ``reading_order``).
        """
        window = self.build_window(context, system_prompt, answering=answering)
        if window.folded_until <= context.summarized_until:
            return window, SummaryOutcome()
        outcome = await self._fold(context, system_prompt)
        if outcome.folded_messages:
            window = self.build_window(context, system_prompt, answering=answering)
        return window, outcome

    async def summarize_if_needed(
        self, context: CoachContext, system_prompt: str
    ) -> SummaryOutcome:
        """Fold the messages that no longer fit the budget into the summary.

        Changes ``context.consolidated_summary`` and ``summarized_until`` only when the model
        returns a usable summary; on failure the context is unchanged and the outcome says why.
        """
        return (await self.prepare_window(context, system_prompt))[1]

    async def _fold(self, context: CoachContext, system_prompt: str) -> SummaryOutcome:
        # Fold down to half the budget, so the next turns fit without another summary.
        window = self.build_window(context, system_prompt, fill=FOLD_FILL)
        to_fold = await self._not_loaded_unsummarized(context) + [
            m for pos, m in self._unsummarized(context) if pos < window.folded_until
        ]
        transcript = "\n".join(
            f"{'Client' if m.role is MessageRole.USER else 'Coach'}: {m.content}" for m in to_fold
        )
        prompts = await self.prompts.for_metadata(context.metadata)
        prompt = prompts.render("summarizer", summarizer_variables(context, self.summary_max_words))
        request = LLMRequest(
            messages=[
                ChatMessage(role="system", content=prompt.text),
                ChatMessage(role="user", content=transcript),
            ],
            response_schema=None,
            schema_name="summary",
        )
        # What the summarizer is asked is kept with the outcome, whatever it answers.
        outcome = SummaryOutcome(
            attempted=True,
            request=list(request.messages),
            prompt={"name": prompt.name, "version": prompt.version, "hash": prompt.content_hash},
            sampling=self.llm_client.sampling(request).describe(),
        )
        try:
            response = await self.llm_client.complete(request)
        except LLMError as e:
            outcome.error = f"summary failed: {e.reason}"
            raw = getattr(e, "raw", None)
            outcome.raw_output = raw if isinstance(raw, str) and raw else None
            return outcome
        outcome.raw_output = response.raw
        summary = bound_words(response.text.strip(), self.summary_max_words)
        problem = summary_problem(summary)
        if problem is not None:
            outcome.error = f"summary failed: {problem}; the context was kept as it was"
            return outcome
        context.consolidated_summary = summary
        context.summarized_until = window.folded_until
        outcome.folded_messages = len(to_fold)
        # The summary as written: the inspector shows it, and an exact replay feeds it back.
        outcome.details = {"summary_tokens": self._count_tokens(summary), SUMMARY_TEXT: summary}
        return outcome

    async def _not_loaded_unsummarized(self, context: CoachContext) -> list[MessageRecord]:
        """Messages not yet in the summary that are older than the loaded window (rare: only
        after summaries failed for a long time). Read from the database so none is skipped."""
        missing = min(context.first_message_index - context.summarized_until, MAX_PAGE_SIZE)
        if missing <= 0:
            return []
        return await self.db.list_messages(
            context.session_id, start=context.first_message_index - missing, limit=missing
        )
