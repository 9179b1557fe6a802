"""Recovery: a pending turn whose process is gone is marked failed ("interrupted"), ready to be
retried; a turn whose process still runs never is."""

from __future__ import annotations

from collections.abc import Collection, Hashable
from datetime import datetime, timedelta
from typing import TypeVar

from coach.enums import TurnStatus
from coach.errors import ConcurrencyError
from coach.persistence.base import MAX_PAGE_SIZE, DatabaseInterface
from coach.persistence.records import TurnCommit, TurnSummary, utcnow
from coach.process import Owned, is_orphaned
from coach.turns.events import TurnResult, log_turn_ended

K = TypeVar("K", bound=Hashable)

#: A pending turn whose owner cannot be checked directly (another host) counts as interrupted
#: when its heartbeat is older than this.
STALE_AFTER = timedelta(seconds=60)
#: How many of a session's newest turns are looked at for pending ones.
RECENT_TURNS = 50
INTERRUPTED = (
    "interrupted: the app stopped before the reply was stored. Retry to answer this message."
)


async def recover_interrupted(
    db: DatabaseInterface,
    *,
    session_id: str | None = None,
    running: set[tuple[str, int]] | frozenset[tuple[str, int]] = frozenset(),
    abandoned: set[tuple[str, int]] | frozenset[tuple[str, int]] = frozenset(),
) -> list[TurnSummary]:
    """Mark the pending turns whose process is gone as failed ("interrupted"), so they can be
    retried, and log their end. A turn whose process still runs is never marked
    (``process.is_orphaned``).

    Args:
        session_id: only this session's pending turns (a page opening it); default: every
            session's (the app or the CLI opening the database).
        running: ``(session_id, seq)`` of the turns the caller runs itself.
        abandoned: ``(session_id, seq)`` of turns the caller ran and no longer runs: marked
            although their owner (the caller's process) is alive.

    Returns:
        The turns marked.
    """
    marked: list[TurnSummary] = []
    now = utcnow()
    for turn in await _pending_turns(db, session_id):
        if not to_recover(
            turn, (turn.session_id, turn.seq or 0), running=running, abandoned=abandoned, now=now
        ):
            continue
        stored = await db.get_turn(turn.session_id, turn.seq or 0)
        if stored is None:
            continue
        failed = stored.model_copy(update={"status": TurnStatus.FAILED, "error": INTERRUPTED})
        try:
            await db.commit_turn(TurnCommit(turn=failed))
        except ConcurrencyError:
            continue  # it finished meanwhile
        marked.append(failed.summary())
        log_turn_ended(
            TurnResult.from_turn(failed, None), provider=failed.provider, model=failed.model
        )
    return marked


def to_recover(
    work: Owned, key: K, *, running: Collection[K], abandoned: Collection[K], now: datetime
) -> bool:
    """Whether stored work left running (a pending turn, an experiment, a fork or replay) is
    to be ended "interrupted": the caller does not run it (``running``), and either gave it up
    (``abandoned``) or its process is gone (``process.is_orphaned``)."""
    if key in running:
        return False
    return key in abandoned or is_orphaned(work, now=now, stale_after=STALE_AFTER)


async def _pending_turns(db: DatabaseInterface, session_id: str | None) -> list[TurnSummary]:
    if session_id is None:
        return await db.list_pending_turns(limit=MAX_PAGE_SIZE)
    summary = await db.get_session(session_id)
    if summary is None:
        return []
    # A session's pending turns are its newest: its turns end one at a time, in order.
    after = max(0, summary.turn_count - RECENT_TURNS)
    turns = await db.list_turns(session_id, after_seq=after, limit=RECENT_TURNS)
    return [t for t in turns if t.status is TurnStatus.PENDING]
