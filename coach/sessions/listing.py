"""Every session matching a filter, read page by page (``list_sessions`` pages at most
``MAX_PAGE_SIZE``)."""

from __future__ import annotations

from datetime import datetime

from coach.persistence.base import MAX_PAGE_SIZE, DatabaseInterface
from coach.persistence.records import SessionSummary


async def all_sessions(
    db: DatabaseInterface, *, user_id: str | None = None, active_before: datetime | None = None
) -> list[SessionSummary]:
    """The sessions of ``user_id`` and/or last active before ``active_before``, most recently
    active first."""
    found: list[SessionSummary] = []
    cursor = None
    while True:
        page = await db.list_sessions(
            user_id=user_id, active_before=active_before, limit=MAX_PAGE_SIZE, cursor=cursor
        )
        found += page.items
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor
