"""The project's errors: few, named, and each message says how to fix the problem.

Library errors are translated at the boundary (``raise PersistenceError(...) from e``), so callers
only ever catch these.
"""

from __future__ import annotations


class CoachError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigurationError(CoachError):
    """The settings are missing or inconsistent (a wrong database URL, an unknown provider)."""


class InputError(CoachError):
    """A user's input was refused (empty, too long, control characters); nothing was changed."""


class AccessDeniedError(CoachError):
    """The signed-in user's role may not do this; nothing was changed. The message names the
    role needed."""


class PersistenceError(CoachError):
    """A database operation failed. The original error is chained as ``__cause__``."""


class ConcurrencyError(PersistenceError):
    """A write was based on a stale version of a record; nothing was written.

    Reload the record and apply the change again.
    """


class DuplicateTurnError(ConcurrencyError):
    """The user message of this turn already has a completed turn; nothing was written."""


class TurnInProgressError(DuplicateTurnError):
    """The user message of this turn already has a turn in progress; nothing was written.

    Follow that turn instead of starting another.
    """


class DuplicateLabelError(PersistenceError):
    """The user already has a non-dismissed identity with this label (case-insensitive)."""


class NotFoundError(PersistenceError):
    """A record the operation refers to does not exist (a label moved to a missing version)."""


class IdsTakenError(PersistenceError):
    """Records to import have ids that are stored already; nothing was written."""


class OwnershipError(PersistenceError):
    """A record names a session or identity that belongs to another user; nothing was written."""


class SchemaOutdatedError(PersistenceError):
    """The database schema is older (or newer) than this code expects.

    The message names the command that upgrades it.
    """


class SchemaMissingError(SchemaOutdatedError):
    """The database has no schema at all yet (a new, empty database)."""


class LLMError(CoachError):
    """A model call failed. ``reason`` is a short, user-facing explanation."""

    retryable: bool = True

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LLMTimeoutError(LLMError):
    """The model did not answer within the configured timeout."""


class LLMRateLimitError(LLMError):
    """The provider refused the call because of a rate limit or quota (HTTP 429)."""


class LLMConnectionError(LLMError):
    """The provider could not be reached."""


class LLMAuthenticationError(LLMError):
    """The provider refused the API key. Retrying will not help until the key is fixed."""

    retryable = False


class LLMResponseError(LLMError):
    """The model's output could not be used: malformed JSON, wrong shape, or cut off.

    ``raw`` holds the output the model did send (for the turn log), when there was any.
    """

    def __init__(self, reason: str, *, raw: str | None = None) -> None:
        super().__init__(reason)
        self.raw = raw


class LLMRefusalError(LLMError):
    """The model refused to answer."""


class LLMLengthError(LLMResponseError):
    """The model's output was cut off by the token limit before it was complete."""


#: The settings named by errors that tell the user to change one.
MAX_OUTPUT_TOKENS_SETTING = "COACH_MAX_OUTPUT_TOKENS"
TIMEOUT_SETTING = "COACH_LLM_TIMEOUT_S"


def cut_off(who: str, limit: int | None, *, asked: bool) -> str:
    """Why a reply was cut off, and what to change: the setting, or the caller's own limit
    (``asked``: the request set it, as an eval's simulated client does)."""
    where = f"the {limit}-token output limit" if limit else "the model's output limit"
    if asked:
        fix = "this request sets its own limit; ask for a shorter reply"
    else:
        fix = f"raise {MAX_OUTPUT_TOKENS_SETTING}" + (f" (now {limit})" if limit else "")
    return f"{who} was cut off at {where} before it was complete; {fix}"
