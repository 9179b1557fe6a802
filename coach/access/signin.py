"""Signing in: which role a signed-in name gets, the shared password's check, and the slowing
down of repeated failures. The app's three ways of signing in (``ui.access``) all end here."""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Iterable, Mapping

from coach.access.roles import Role

#: Seconds the attempt after a first failure waits; it doubles with each further failure.
FIRST_DELAY_S = 1.0
MAX_DELAY_S = 30.0
#: Failures older than this are forgotten.
FORGET_AFTER_S = 15 * 60.0


def role_for(
    name: str, groups: Iterable[str], roles: Mapping[str, Role], default: Role | None
) -> Role | None:
    """The role of a signed-in ``name`` (an e-mail) in ``groups`` (OIDC groups): the highest
    role ``roles`` gives the name or any of the groups (compared case-insensitively), else
    ``default``; ``None``: no access."""
    by_key = {key.casefold(): role for key, role in roles.items()}
    found = [by_key[key.casefold()] for key in (name, *groups) if key.casefold() in by_key]
    return max(found, key=lambda role: role.rank) if found else default


def password_matches(given: str, expected: str) -> bool:
    """Compare in constant time (the time taken says nothing about how much matched)."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class SignInThrottle:
    """Repeated failed sign-ins from one place (a client address) are slowed down: after ``n``
    failures in a row, the next attempt waits ``FIRST_DELAY_S * 2**(n-1)`` seconds (at most
    ``MAX_DELAY_S``) before it is checked. Shared by every session of the process."""

    def __init__(
        self,
        *,
        first_delay_s: float = FIRST_DELAY_S,
        max_delay_s: float = MAX_DELAY_S,
        forget_after_s: float = FORGET_AFTER_S,
    ) -> None:
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.forget_after_s = forget_after_s
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def delay_s(self, key: str) -> float:
        """Seconds the next attempt from ``key`` waits before it is checked."""
        with self._lock:
            count, last = self._failures.get(key, (0, 0.0))
            if count == 0 or time.monotonic() - last > self.forget_after_s:
                return 0.0
            return min(self.first_delay_s * 2.0 ** (count - 1), self.max_delay_s)

    def failed(self, key: str) -> None:
        with self._lock:
            count, last = self._failures.get(key, (0, 0.0))
            if time.monotonic() - last > self.forget_after_s:
                count = 0
            self._failures[key] = (count + 1, time.monotonic())

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
