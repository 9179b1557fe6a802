"""The persistence layer: ``DatabaseInterface``, its records, and the backends behind it."""

from coach.persistence.base import DatabaseInterface
from coach.persistence.factory import DatabaseType, create_database, create_database_from_url
from coach.persistence.records import (
    ActionItemRecord,
    ActionResultRecord,
    CommitResult,
    ContextRecord,
    IdentityRecord,
    MessageRecord,
    Page,
    PromptLabel,
    PromptVersion,
    SessionSummary,
    StateRecord,
    TurnCommit,
    TurnOutline,
    TurnRecord,
    TurnSummary,
    UserRecord,
    UserSummary,
)
from coach.persistence.urls import mask_url

__all__ = [
    "ActionItemRecord",
    "ActionResultRecord",
    "CommitResult",
    "ContextRecord",
    "DatabaseInterface",
    "DatabaseType",
    "IdentityRecord",
    "MessageRecord",
    "Page",
    "PromptLabel",
    "PromptVersion",
    "SessionSummary",
    "StateRecord",
    "TurnCommit",
    "TurnOutline",
    "TurnRecord",
    "TurnSummary",
    "UserRecord",
    "UserSummary",
    "create_database",
    "create_database_from_url",
    "mask_url",
]
