"""Database URLs as they may be shown: with every password masked."""

from __future__ import annotations

import re

from sqlalchemy.engine import make_url

#: Query-string keys whose values are secrets (``?password=...`` is valid for libpq and asyncpg).
SECRET_QUERY_KEYS = frozenset({"password", "passwd", "pass", "sslpassword", "secret", "token"})
_USERINFO_PASSWORD = re.compile(r"(?<=://)([^/@:]*):[^/@]*@")
_QUERY_SECRET = re.compile(
    r"([?&](?:" + "|".join(sorted(SECRET_QUERY_KEYS)) + r")=)[^&#]*", re.IGNORECASE
)


def mask_url(url: str) -> str:
    """The URL with its password (in the user part or the query string) shown as ``***``,
    safe to show and log. Text that is not a URL is masked the same way, as best it can be."""
    try:
        parsed = make_url(url)
    except Exception:  # not a SQLAlchemy URL: mask what looks like a password anyway
        return _QUERY_SECRET.sub(r"\1***", _USERINFO_PASSWORD.sub(r"\1:***@", url))
    return _QUERY_SECRET.sub(r"\1***", parsed.render_as_string(hide_password=True))
