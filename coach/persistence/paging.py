"""Opaque keyset cursors shared by every backend.

A cursor names the last row of a page by its sort key (a timestamp and an id). The next page
starts strictly after it, so rows added while paging never shift the pages that follow, unlike
``OFFSET``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from coach.persistence.records import Page, as_utc

T = TypeVar("T")


def encode_cursor(at: datetime, key: str) -> str:
    """Make a cursor for the row sorted at (``at``, ``key``)."""
    raw = json.dumps([as_utc(at).isoformat(), key], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Read a cursor made by ``encode_cursor``.

    Raises:
        ValueError: the text is not such a cursor.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return as_utc(datetime.fromisoformat(at)), str(key)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"not a valid page cursor: {cursor!r}; start again from the first page"
        ) from e


def page_of(rows: Sequence[T], limit: int, key: Callable[[T], tuple[datetime, str]]) -> Page[T]:
    """The page of ``rows``, read in page order up to ``limit + 1``: the first ``limit``, and a
    cursor after the last of them (by its sort ``key``) when more follow."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return Page(items=items, next_cursor=encode_cursor(*key(items[-1])) if more else None)
