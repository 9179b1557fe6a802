"""What the model sees of a conversation: the parts of a turn's context window, what a
summary step did, and the order in which the model reads the messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import JsonValue

from coach.enums import MessageRole
from coach.llm.base import ChatMessage
from coach.persistence.records import MessageRecord


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
    """What a summarization attempt did. ``error`` is set when it failed (nothing changed)."""

    attempted: bool = False
    folded_messages: int = 0
    error: str | None = None
    details: dict[str, JsonValue] = field(default_factory=dict)

    def describe(self) -> dict[str, JsonValue]:
        return {
            "attempted": self.attempted,
            "folded_messages": self.folded_messages,
            "error": self.error,
            **self.details,
        }


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
