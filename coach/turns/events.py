"""What a follower sees of a turn: its events (the reply's text as it streams, then the
result), and a handle to wait for them with."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

from coach.enums import CoachingState, TurnStatus
from coach.llm.base import TextDelta
from coach.logs import CONTENT, content_logged, without_content
from coach.persistence.records import ActionResultRecord, MessageRecord, TurnSummary

#: How long ``TurnHandle.events`` waits for the next event before looking again.
FOLLOW_WAIT_S = 10.0

logger = logging.getLogger(__name__)


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
    def from_turn(cls, turn: TurnSummary, coach_message: MessageRecord | None) -> TurnResult:
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


def log_turn_ended(
    result: TurnResult, *, provider: str, model: str, user_message: str | None = None
) -> None:
    """Log the end of a turn (``turn.ended``) for operators: its ids, status, timings and
    tokens, and the error of a failed one. What the client and the coach said (the messages,
    and what an error quotes of the model's reply) is added only when ``log_content`` is
    configured."""
    content = content_logged()
    fields: dict[str, object] = {
        "session_id": result.session_id,
        "user_id": result.user_id,
        "seq": result.turn_seq,
        "message_id": result.user_message_id,
        "status": result.status.value,
        "latency_ms": _rounded(result.latency_ms),
        "time_to_first_token_ms": _rounded(result.ttft_ms),
        "input_tokens": result.input_tokens,
        "output_tokens": result.output_tokens,
        "provider": provider,
        "model": model,
        "error": result.error if content or not result.error else without_content(result.error),
    }
    if content:
        fields[CONTENT] = {"user_message": user_message, "reply": result.reply or None}
    logger.log(logging.INFO if result.ok else logging.WARNING, "turn.ended", extra=fields)


def _rounded(ms: float | None) -> float | None:
    return None if ms is None else round(ms, 1)


class Changes:
    """Tells waiters on the engine's loop that something changed (``notify``), and counts the
    changes, so a follower can say which it has seen."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.count = 0

    def notify(self) -> None:
        self.count += 1
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, within_s: float) -> None:
        """Until the next change, or ``within_s`` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), within_s)

    async def after(self, seen: int, within_s: float) -> None:
        """Until there are more than ``seen`` changes, or ``within_s`` seconds."""
        if self.count <= seen:
            await self.wait(within_s)


@dataclass
class TurnProgress:
    """What a follower sees of a turn: the events since it last looked, and the turn's state."""

    events: list[TurnEvent]
    #: How many events the turn has had in all (pass it back to ``TurnHandle.wait``).
    seen: int
    done: bool
    #: Seconds since the turn began.
    elapsed_s: float
    #: The turn waits for an earlier turn of its session to finish.
    queued: bool
    #: The turn's task failed (the database could not be written, say): what to show.
    error: BaseException | None = None


@dataclass(eq=False)
class TurnHandle:
    """A turn of this process, for anyone to follow. Changed only on the engine's loop."""

    user_id: str
    session_id: str
    seq: int
    user_message_id: str
    started: float = field(default_factory=time.monotonic)
    queued: bool = True
    result: TurnResult | None = None
    error: BaseException | None = None
    _events: list[TurnEvent] = field(default_factory=list)
    _changes: Changes = field(default_factory=Changes)

    @property
    def done(self) -> bool:
        return self.result is not None or self.error is not None

    def push(self, event: TurnEvent) -> None:
        self._events.append(event)
        if isinstance(event, TurnResult):
            self.result = event
        self._notify()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self._notify()

    def _notify(self) -> None:
        self._changes.notify()

    async def wait(self, seen: int = 0, *, within_s: float = 1.0) -> TurnProgress:
        """The events after the first ``seen``, waiting up to ``within_s`` seconds for one."""
        if len(self._events) <= seen and not self.done:
            await self._changes.wait(within_s)
        return TurnProgress(
            events=self._events[seen:],
            seen=len(self._events),
            done=self.done,
            elapsed_s=time.monotonic() - self.started,
            queued=self.queued,
            error=self.error,
        )

    async def events(self) -> AsyncIterator[TurnEvent]:
        """Every event of the turn, as it comes, from the first (raises the task's error)."""
        seen = 0
        while True:
            progress = await self.wait(seen, within_s=FOLLOW_WAIT_S)
            seen = progress.seen
            for event in progress.events:
                yield event
            if progress.error is not None:
                raise progress.error
            if progress.done:
                return
