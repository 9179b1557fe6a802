"""Reading stored records back in tests."""

from __future__ import annotations

from coach.persistence import DatabaseInterface, TurnRecord
from coach.persistence.base import MAX_PAGE_SIZE


async def stored_turns(db: DatabaseInterface, session_id: str) -> list[TurnRecord]:
    """Every turn of the session, whole (with prompt, raw output and details), in order."""
    turns = []
    for summary in await db.list_turns(session_id, limit=MAX_PAGE_SIZE):
        turn = await db.get_turn(session_id, summary.seq or 0)
        assert turn is not None, f"turn {summary.seq} is listed but cannot be read"
        turns.append(turn)
    return turns
