"""The session's memory as the Context tab shows it: what was carried from the client's previous
session, and the history of summary steps.

A returning client's new session carries a digest of their previous session in its context
metadata; every turn sends it to the model in the summary message. Each turn records its summary
step (``details["summary"]``, ``SummaryOutcome.describe``): whether older messages were folded,
what the summarizer was sent and answered, the summary it wrote or why it failed. The turn list
(``list_turns``) holds no details, so the history reads whole turns a page at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import JsonValue

from coach.context import CONTINUES_SESSION_KEY, EARLIER_SESSIONS_KEY, SUMMARY_TEXT
from coach.inspection.window import json_int
from coach.persistence.base import DatabaseInterface
from coach.persistence.records import ContextRecord, TurnRecord
from coach.prompts.library import METADATA_KEY
from coach.window import SUMMARY_STEP


@dataclass(frozen=True)
class CarriedOver:
    """What a returning client's session carries from their previous session."""

    #: The digest the model reads in the summary message (that session's summary and its last
    #: messages).
    digest: str
    #: The session it was taken from (``None`` when not recorded).
    from_session_id: str | None


def carried_over(context: ContextRecord | None) -> CarriedOver | None:
    """What ``context`` carries from the client's previous session, or ``None``."""
    metadata = context.user_data.get(METADATA_KEY) if context else None
    if not isinstance(metadata, dict):
        return None
    digest = metadata.get(EARLIER_SESSIONS_KEY)
    if not isinstance(digest, str) or not digest:
        return None
    source = metadata.get(CONTINUES_SESSION_KEY)
    return CarriedOver(digest=digest, from_session_id=source if isinstance(source, str) else None)


@dataclass(frozen=True)
class SummaryStep:
    """One turn's attempt to fold older messages into the summary."""

    seq: int
    at: datetime
    folded_messages: int
    #: The summary written (``None`` when the step failed).
    summary: str | None
    error: str | None
    #: The messages sent to the summarizer (role, content); empty for turns older than that
    #: record.
    request: list[dict[str, str]] = field(default_factory=list)
    #: The summarizer's output as received (``None``: not recorded, or no output).
    raw_output: str | None = None
    #: The summarizer prompt's name, version and hash.
    prompt: dict[str, JsonValue] = field(default_factory=dict)
    sampling: dict[str, JsonValue] = field(default_factory=dict)

    def outcome(self) -> str:
        if self.error is not None:
            return "failed: the context was kept"
        return f"folded {self.folded_messages} messages"

    def row(self) -> dict[str, Any]:
        return {
            "turn": self.seq,
            "at": self.at,
            "outcome": self.outcome(),
            "summary written, or why it failed": self.error or self.summary or "",
        }


def summary_step(turn: TurnRecord) -> SummaryStep | None:
    """The summary step ``turn`` recorded, or ``None`` when it attempted none."""
    recorded = turn.details.get(SUMMARY_STEP)
    if not isinstance(recorded, dict) or not recorded.get("attempted"):
        return None
    error, text, raw = recorded.get("error"), recorded.get(SUMMARY_TEXT), recorded.get("raw_output")
    request = recorded.get("request")
    prompt, sampling = recorded.get("prompt"), recorded.get("sampling")
    return SummaryStep(
        seq=turn.seq or 0,
        at=turn.created_at,
        folded_messages=json_int(recorded.get("folded_messages")),
        summary=text if isinstance(text, str) else None,
        error=error if isinstance(error, str) else None,
        request=[
            {"role": str(m.get("role", "")), "content": str(m.get("content", ""))}
            for m in (request if isinstance(request, list) else [])
            if isinstance(m, dict)
        ],
        raw_output=raw if isinstance(raw, str) else None,
        prompt=dict(prompt) if isinstance(prompt, dict) else {},
        sampling=dict(sampling) if isinstance(sampling, dict) else {},
    )


async def load_summary_steps(
    db: DatabaseInterface, session_id: str, *, first: int, last: int
) -> list[SummaryStep]:
    """The summary steps of turns ``first`` to ``last`` (inclusive) of the session, newest
    first. Each turn of the range is read whole: keep the range a page long."""
    steps = []
    for seq in range(last, max(first, 1) - 1, -1):
        turn = await db.get_turn(session_id, seq)
        step = summary_step(turn) if turn is not None else None
        if step is not None:
            steps.append(step)
    return steps
