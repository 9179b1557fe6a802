"""Column types shared by the ORM tables and the migrations.

- ``UTCDateTime``: SQLite has no time zone type and returns naive datetimes; PostgreSQL keeps
  ``timestamptz``. Values are stored in UTC on both and always come back timezone-aware UTC.
- ``KEY``: ids and search keys. On PostgreSQL they use the ``"C"`` collation, so comparisons are
  plain code-point order: a prefix search becomes a range (``key >= 'ab' AND key < 'ac'``) that
  any b-tree index on the column serves, whatever the database's default collation is and with
  bound parameters (generic plans), unlike ``LIKE 'ab%'``. SQLite's default ``BINARY`` collation
  is already code-point order for UTF-8 text.
- ``JSON_TYPE``: ``JSONB`` on PostgreSQL, SQLite's JSON text elsewhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

from coach.persistence.records import as_utc


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and returned timezone-aware UTC on every dialect."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        # SQLite's DATETIME storage drops the offset; store the UTC wall time.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


KEY: TypeEngine[str] = String().with_variant(String(collation="C"), "postgresql")
JSON_TYPE: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")


def prefix_range(prefix: str) -> tuple[str, str | None]:
    """The half-open range ``[low, high)`` of code-point-ordered strings starting with ``prefix``.

    ``high`` is ``None`` when there is no upper bound (a prefix of only U+10FFFF characters).
    """
    stem = prefix.rstrip("\U0010ffff")
    if not stem:
        return prefix, None
    code = ord(stem[-1]) + 1
    if 0xD800 <= code <= 0xDFFF:  # surrogates cannot be encoded; skip past them
        code = 0xE000
    return prefix, stem[:-1] + chr(code)
