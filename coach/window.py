"""What the model sees of a conversation: the parts of a turn's context window, what a
summary step did, the order in which the model reads the messages, and a stored turn's input
read back from the database (``stored_input``: what the inspector shows and a trial sends
again)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import JsonValue

from coach.enums import MessageRole
from coach.errors import InputError
from coach.llm.base import ChatMessage
from coach.persistence.base import MAX_PAGE_SIZE, DatabaseInterface
from coach.persistence.records import MessageRecord, TurnRecord
from coach.prompts.variables import SUMMARY_MESSAGE

#: Where a turn records its context window (``ContextWindow.describe``) in its ``details``,
CONTEXT_WINDOW = "context_window"
#: ... what its summary step did (``SummaryOutcome.describe``),
SUMMARY_STEP = "summary"
#: ... and the sampling settings of its model call (``LLMClient.sampling``).
SAMPLING = "sampling"


@dataclass(frozen=True)
class ContextWindow:
    """What the model sees for one turn, and what each part costs in tokens."""

    messages: list[ChatMessage]
    system_tokens: int
    summary_tokens: int
    message_tokens: int
    included_message_ids: list[str]
    #: Messages before this position are represented only by the summary.
    folded_until: int
    #: The summary message the model read ("" when there was none).
    summary_text: str = ""

    @property
    def total_tokens(self) -> int:
        return self.system_tokens + self.summary_tokens + self.message_tokens

    def describe(self) -> dict[str, JsonValue]:
        """A plain-JSON description for the turn log and the inspector."""
        return {
            "system_tokens": self.system_tokens,
            "summary_tokens": self.summary_tokens,
            "message_tokens": self.message_tokens,
            "total_tokens": self.total_tokens,
            "included_message_ids": list(self.included_message_ids),
            "folded_until": self.folded_until,
        }


def model_messages(
    system_prompt: str, summary_text: str, messages: Sequence[MessageRecord]
) -> list[ChatMessage]:
    """The model's input: the system prompt, the summary (if any), then the messages."""
    chat = [ChatMessage(role="system", content=system_prompt)]
    if summary_text:
        chat.append(ChatMessage(role="system", content=summary_text))
    chat += [
        ChatMessage(role="user" if m.role is MessageRole.USER else "assistant", content=m.content)
        for m in messages
    ]
    return chat


@dataclass
class SummaryOutcome:
    """What a summarization attempt did. ``error`` is set when it failed (nothing changed).

    An attempt also keeps what the summarizer was asked and answered, so a summary (or its
    failure) can be explained: the messages sent (``request``), the summarizer prompt's name,
    version and hash (``prompt``), the sampling settings, and the model's output as received
    (``raw_output``; ``None`` when the call failed before any output).
    """

    attempted: bool = False
    folded_messages: int = 0
    error: str | None = None
    details: dict[str, JsonValue] = field(default_factory=dict)
    request: list[ChatMessage] = field(default_factory=list)
    prompt: dict[str, JsonValue] = field(default_factory=dict)
    sampling: dict[str, JsonValue] = field(default_factory=dict)
    raw_output: str | None = None

    def describe(self) -> dict[str, JsonValue]:
        described: dict[str, JsonValue] = {
            "attempted": self.attempted,
            "folded_messages": self.folded_messages,
            "error": self.error,
        }
        if self.attempted:
            described.update(
                prompt=dict(self.prompt),
                request=[{"role": m.role, "content": m.content} for m in self.request],
                sampling=dict(self.sampling),
                raw_output=self.raw_output,
            )
        return {**described, **self.details}


def reading_order(
    messages: Sequence[tuple[int, MessageRecord]], answering: str | None
) -> list[tuple[int, MessageRecord]]:
    """Stored messages (with their positions) in the order the model should read them.

    Two tabs sending at once store both user messages before either reply, so the stored
    order alone may interleave them. Answering message *m*: each reply follows the message it
    answers (``reply_to``), user messages stored after *m* are left out (they wait for their
    own turn), and *m* comes last. Without interleaving this is the stored order.
    """
    at = next((i for i, (_, m) in enumerate(messages) if m.id == answering), None)
    if at is None:
        return list(messages)
    kept = list(messages[:at]) + [
        item for item in messages[at + 1 :] if item[1].role is MessageRole.COACH
    ]
    questions = {m.id for _, m in kept if m.role is MessageRole.USER}
    replies = {m.reply_to: (p, m) for p, m in kept if m.reply_to in questions}
    ordered: list[tuple[int, MessageRecord]] = []
    for position, message in kept:
        if message.reply_to in questions:
            continue  # placed right after its question
        ordered.append((position, message))
        if message.id in replies:
            ordered.append(replies[message.id])
    return [*ordered, messages[at]]


def bound_words(text: str, max_words: int) -> str:
    """``text`` cut to at most ``max_words`` words (a summary must stay bounded)."""
    words = text.split()
    if len(words) <= max_words:
        return text
    return " ".join(words[:max_words]) + " …"


@dataclass(frozen=True)
class StoredInput:
    """What a stored turn sent to the model, read back: its system prompt, the summary message
    it sent (``""`` for none) and the messages of its window, in the order sent."""

    seq: int
    system_prompt: str
    summary_text: str
    message_ids: list[str]
    #: The window's messages, one per id; ``None`` for a message no longer stored.
    messages: list[MessageRecord | None]

    @property
    def missing(self) -> list[str]:
        """The ids of the window's messages that are no longer stored."""
        return [i for i, m in zip(self.message_ids, self.messages, strict=True) if m is None]

    def chat(self, system_prompt: str | None = None) -> list[ChatMessage]:
        """The model's input (``model_messages``), with ``system_prompt`` instead of the
        turn's own when given.

        Raises:
            InputError: a message of the window is no longer stored.
        """
        if self.missing:
            raise InputError(f"message {self.missing[0]} of turn {self.seq} is no longer stored")
        present = [m for m in self.messages if m is not None]
        prompt = self.system_prompt if system_prompt is None else system_prompt
        return model_messages(prompt, self.summary_text, present)


async def stored_input(db: DatabaseInterface, turn: TurnRecord) -> StoredInput | None:
    """The input ``turn`` sent to the model, from what it recorded (its system prompt, its
    summary message, the ids of its window's messages) and the stored messages.

    Returns:
        ``None`` when the turn recorded no context window (a turn older than that record, or
        one that failed before its window was built). A message no longer stored is ``None``
        in ``messages``; it does not raise.
    """
    window = turn.details.get(CONTEXT_WINDOW)
    ids = window.get("included_message_ids") if isinstance(window, dict) else None
    if not isinstance(window, dict) or not isinstance(ids, list):
        return None
    message_ids = [str(i) for i in ids]
    # The window's messages are the newest ones from ``folded_until`` on (the reading order may
    # move a few): one page from there finds them, the rest are read one by one.
    found: dict[str, MessageRecord] = {}
    start = window.get("folded_until")
    if message_ids and isinstance(start, int) and not isinstance(start, bool) and start >= 0:
        limit = min(MAX_PAGE_SIZE, 2 * len(message_ids))
        page = await db.list_messages(turn.session_id, start=start, limit=limit)
        found = {m.id: m for m in page}
    messages: list[MessageRecord | None] = []
    for message_id in message_ids:
        message = found.get(message_id)
        if message is None:
            message = await db.get_message(turn.session_id, message_id)
        messages.append(message)
    summary = turn.details.get(SUMMARY_MESSAGE)
    return StoredInput(
        seq=turn.seq or 0,
        system_prompt=turn.system_prompt,
        summary_text=summary if isinstance(summary, str) else "",
        message_ids=message_ids,
        messages=messages,
    )
