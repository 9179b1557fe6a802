"""What a stored turn sent to the model and what it was about, as the inspector shows it.

The model's input is read back with ``coach.window.stored_input`` (the function a trial of the
turn uses too) and laid out part by part: the system prompt, the summary message when there was
one (a second system message, which may carry a digest of the client's earlier session), then
each message of the window. A message that is no longer stored is a part of its own that says
so. The client's message and the coach's reply of the turn are read by their ids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from coach.context import EARLIER_SESSIONS_HEADING, THIS_CONVERSATION_HEADING
from coach.llm.base import ChatMessage
from coach.persistence.base import DatabaseInterface
from coach.persistence.records import MessageRecord, TurnRecord
from coach.window import StoredInput, model_messages, stored_input

PartKind = Literal["system prompt", "summary", "message", "missing"]


@dataclass(frozen=True)
class InputPart:
    """One message of a turn's model input, in the order sent."""

    kind: PartKind
    #: ``system``, ``user`` or ``assistant`` as sent; ``""`` for a missing message.
    role: str
    content: str
    message_id: str | None = None

    @property
    def title(self) -> str:
        """A short name of the part: "System prompt", "Client (user)", …"""
        if self.kind == "system prompt":
            return "System prompt (system)"
        if self.kind == "summary":
            return "Summary message (a second system message)"
        if self.kind == "missing":
            return "A message no longer stored"
        return "Client (user)" if self.role == "user" else "Coach (assistant)"


def chat_parts(chat: Sequence[ChatMessage]) -> list[InputPart]:
    """The parts of a model input made by ``model_messages``: the first system message is the
    system prompt, a second one the summary message, the rest the window's messages."""
    parts = []
    for position, message in enumerate(chat):
        kind: PartKind = "message"
        if message.role == "system":
            kind = "system prompt" if position == 0 else "summary"
        parts.append(InputPart(kind, message.role, message.content))
    return parts


def input_parts(sent: StoredInput) -> list[InputPart]:
    """The parts of ``sent`` in the order the model read them.

    The parts are the messages ``model_messages`` makes of it (as the turn made its input), so
    they are what was sent; a message no longer stored takes its place as a ``missing`` part.
    """
    present = [m for m in sent.messages if m is not None]
    made = chat_parts(model_messages(sent.system_prompt, sent.summary_text, present))
    head = 2 if sent.summary_text else 1
    parts, window = made[:head], iter(made[head:])
    for message_id, message in zip(sent.message_ids, sent.messages, strict=True):
        if message is None:
            parts.append(
                InputPart("missing", "", f"Message {message_id} is no longer stored.", message_id)
            )
        else:
            item = next(window)
            parts.append(InputPart(item.kind, item.role, item.content, message_id))
    return parts


def summary_title(summary_text: str) -> str:
    """What a summary message carries, as a title: a digest of the client's earlier session
    (carried into a returning client's session), this conversation's summary, or both."""
    earlier = EARLIER_SESSIONS_HEADING in summary_text
    this = THIS_CONVERSATION_HEADING in summary_text
    if earlier and this:
        return "Carried from the client's earlier session, and the summary of this conversation"
    if earlier:
        return "Carried from the client's earlier session"
    return "Summary of this conversation's older messages"


#: The sampling settings as the inspector names them, in order.
SAMPLING_LABELS: dict[str, str] = {
    "temperature": "Temperature",
    "max_output_tokens": "Max output tokens",
    "seed": "Seed",
}
NOT_RECORDED = "not recorded"
NOT_SENT = "not sent (the provider's default)"


def sampling_rows(recorded: object) -> list[dict[str, str]]:
    """Recorded sampling settings (``LLMClient.sampling``, e.g. a turn's
    ``details["sampling"]``), one row each (``setting``, ``value``); every setting reads "not
    recorded" when ``recorded`` is not a mapping (a turn older than that record)."""
    if not isinstance(recorded, Mapping):
        return [{"setting": label, "value": NOT_RECORDED} for label in SAMPLING_LABELS.values()]
    rows = [
        {"setting": label, "value": _setting(recorded.get(key))}
        for key, label in SAMPLING_LABELS.items()
    ]
    rows += [
        {"setting": str(key).replace("_", " ").capitalize(), "value": _setting(value)}
        for key, value in recorded.items()
        if key not in SAMPLING_LABELS
    ]
    return rows


def _setting(value: object) -> str:
    if value is None:
        return NOT_SENT
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@dataclass(frozen=True)
class TurnExchange:
    """A stored turn with what it sent and said, for its entry in the inspector."""

    turn: TurnRecord
    #: The model's input part by part; ``None`` when the turn recorded no context window.
    parts: list[InputPart] | None
    #: The client's message the turn answered (``None`` when it is no longer stored).
    client_message: MessageRecord | None
    #: The coach's reply (``None`` for a failed or running turn, or one no longer stored).
    reply: MessageRecord | None

    @property
    def summary_text(self) -> str:
        return next((p.content for p in self.parts or () if p.kind == "summary"), "")

    def model_input(self) -> list[dict[str, Any]]:
        """The model's input as plain messages (role and content), for a JSON copy."""
        return [{"role": p.role, "content": p.content} for p in self.parts or ()]


async def load_turn_exchange(db: DatabaseInterface, turn: TurnRecord) -> TurnExchange:
    """``turn`` with its model input, its client's message and its reply, read from ``db``."""
    sent = await stored_input(db, turn)
    client = await db.get_message(turn.session_id, turn.user_message_id)
    reply = None
    if turn.coach_message_id:
        reply = await db.get_message(turn.session_id, turn.coach_message_id)
    return TurnExchange(
        turn=turn,
        parts=None if sent is None else input_parts(sent),
        client_message=client,
        reply=reply,
    )
