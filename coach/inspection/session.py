"""A whole session at once: the inspector's view of it, the JSON export bundle, and the
activity filter of the sessions list."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel

from coach.inspection.window import json_int
from coach.persistence.base import MAX_PAGE_SIZE, DatabaseInterface
from coach.persistence.records import (
    ContextRecord,
    IdentityRecord,
    SessionSummary,
    StateRecord,
    TurnOutline,
    TurnRecord,
    UserRecord,
)
from coach.window import CONTEXT_WINDOW

# --- filters ------------------------------------------------------------------------------------


def activity_bounds(
    start: date | None, end: date | None
) -> tuple[datetime | None, datetime | None]:
    """``(active_after, active_before)`` for ``list_sessions`` from an inclusive date range
    (UTC days)."""
    after = datetime.combine(start, time.min, UTC) if start else None
    before = datetime.combine(end + timedelta(days=1), time.min, UTC) if end else None
    return after, before


@dataclass(frozen=True)
class SessionView:
    """What the inspector loads about one session on every run: its records, without messages
    or turns (each tab pages through those it shows)."""

    summary: SessionSummary
    user: UserRecord | None
    state: StateRecord | None
    #: The context's summary, metadata and version; its messages are not loaded.
    context: ContextRecord | None
    identities: list[IdentityRecord]

    @property
    def user_id(self) -> str:
        return self.summary.user_id

    @property
    def session_id(self) -> str:
        return self.summary.session_id

    @property
    def summarized_until(self) -> int:
        value = self.context.user_data.get("summarized_until") if self.context else None
        return json_int(value)

    def labels(self) -> dict[str, str]:
        return {i.id: i.label for i in self.identities}


async def load_session_view(db: DatabaseInterface, session_id: str) -> SessionView | None:
    """Load a session for the inspector, or ``None`` when it does not exist."""
    summary = await db.get_session(session_id)
    if summary is None:
        return None
    user_id = summary.user_id
    return SessionView(
        summary=summary,
        user=await db.get_user(user_id),
        state=await db.get_state(user_id, session_id),
        context=await db.get_context(user_id, session_id, message_limit=0),
        identities=await db.get_identities(user_id),
    )


async def load_turn_outlines(
    db: DatabaseInterface, session_id: str, *, up_to: int | None = None
) -> list[TurnOutline]:
    """What the session's turns (up to turn ``up_to``) changed, a page at a time: what the
    phase timeline, the identities' history and the diff between two turns are drawn from."""
    turns: list[TurnOutline] = []
    while up_to is None or len(turns) < up_to:
        limit = MAX_PAGE_SIZE if up_to is None else min(MAX_PAGE_SIZE, up_to - len(turns))
        page = await db.list_turn_outlines(session_id, after_seq=len(turns), limit=limit)
        turns += page
        if len(page) < limit:
            break
    return turns


#: How many of the newest turns ``latest_window_turn`` looks at.
WINDOW_LOOKBACK = 10


async def latest_window_turn(db: DatabaseInterface, view: SessionView) -> TurnRecord | None:
    """The newest of the last few turns that recorded the context window it sent."""
    last = view.summary.turn_count
    for seq in range(last, max(0, last - WINDOW_LOOKBACK), -1):
        turn = await db.get_turn(view.session_id, seq)
        if turn is not None and CONTEXT_WINDOW in turn.details:
            return turn
    return None


def as_json(value: BaseModel | Sequence[Any] | Mapping[str, Any] | None) -> str:
    """Indented JSON of a record, a plain mapping, or a list of either (for copy views)."""

    def plain(item: Any) -> Any:
        return item.model_dump(mode="json") if isinstance(item, BaseModel) else item

    if isinstance(value, BaseModel):
        return value.model_dump_json(indent=2)
    if isinstance(value, Mapping) or value is None:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return json.dumps([plain(i) for i in value], indent=2, ensure_ascii=False, default=str)
