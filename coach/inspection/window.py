"""The context window of a turn (``turn.details["context_window"]``): tokens per part, and
where each message stood: sent, folded into the summary, or left out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import JsonValue

from coach.enums import MessageRole
from coach.persistence.records import MessageRecord, TurnRecord
from coach.window import CONTEXT_WINDOW, SUMMARY_STEP


@dataclass(frozen=True)
class WindowView:
    """How the model's input of turn ``seq`` was made up (``turn.details["context_window"]``)."""

    seq: int
    system_tokens: int
    summary_tokens: int
    message_tokens: int
    included_message_ids: frozenset[str]
    #: Messages before this position were not sent; the summary stands for them.
    folded_until: int
    summary: dict[str, JsonValue]

    @property
    def total_tokens(self) -> int:
        return self.system_tokens + self.summary_tokens + self.message_tokens

    def parts(self) -> list[dict[str, Any]]:
        """One row per part of the input: system prompt, summary, messages."""
        total = self.total_tokens or 1
        rows = [
            ("System prompt", self.system_tokens),
            ("Summary", self.summary_tokens),
            (f"Messages ({len(self.included_message_ids)})", self.message_tokens),
        ]
        return [
            {"part": part, "tokens": tokens, "share": round(100 * tokens / total, 1)}
            for part, tokens in rows
        ]


def json_int(value: JsonValue | None) -> int:
    """``value`` if it is an int (not a bool), else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def window_view(turn: TurnRecord) -> WindowView | None:
    """The context window recorded on ``turn``, or ``None`` when it has none."""
    window = turn.details.get(CONTEXT_WINDOW)
    if not isinstance(window, dict):
        return None
    ids = window.get("included_message_ids")
    summary = turn.details.get(SUMMARY_STEP)
    return WindowView(
        seq=turn.seq or 0,
        system_tokens=json_int(window.get("system_tokens")),
        summary_tokens=json_int(window.get("summary_tokens")),
        message_tokens=json_int(window.get("message_tokens")),
        included_message_ids=frozenset(i for i in ids if isinstance(i, str))
        if isinstance(ids, list)
        else frozenset(),
        folded_until=json_int(window.get("folded_until")),
        summary=dict(summary) if isinstance(summary, dict) else {},
    )


WindowStatus = Literal["sent", "folded into summary", "not sent", "after this turn"]


def message_status(
    position: int, message: MessageRecord, view: WindowView | None, *, summarized_until: int
) -> WindowStatus | Literal[""]:
    """Where the message at ``position`` stood in ``view``'s turn: sent to the model, folded
    into the summary, left out, or written after that turn."""
    if view is None:
        return ""
    if message.id in view.included_message_ids:
        return "sent"
    if position < summarized_until:
        return "folded into summary"
    if position < view.folded_until:
        return "not sent"
    return "after this turn"


def message_rows(
    messages: Sequence[MessageRecord],
    *,
    start: int,
    view: WindowView | None = None,
    summarized_until: int = 0,
) -> list[dict[str, Any]]:
    """Table rows for messages loaded from position ``start``."""
    return [
        {
            "#": start + offset,
            "role": message.role.value,
            "content": message.content,
            "context window": message_status(
                start + offset, message, view, summarized_until=summarized_until
            ),
            "at": message.created_at,
            "id": message.id,
        }
        for offset, message in enumerate(messages)
    ]


def unanswered_user_messages(messages: Sequence[MessageRecord]) -> list[MessageRecord]:
    """User messages no coach message answers (their turn failed or is running).

    A reply names the message it answers (``reply_to``); a reply stored before replies did
    (no ``reply_to``) answers the user message right before it.
    """
    answered = {m.reply_to for m in messages if m.reply_to is not None}
    answered |= {
        messages[i - 1].id
        for i, m in enumerate(messages)
        if i > 0 and m.role is MessageRole.COACH and m.reply_to is None
    }
    return [m for m in messages if m.role is MessageRole.USER and m.id not in answered]
