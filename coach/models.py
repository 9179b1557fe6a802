"""The engine's view of a coaching session: ``CoachContext``, and the phases in their order.

Identities, action items and messages are the persistence records themselves, not look-alike
copies: one model per concept, so the engine and the store cannot drift apart. ``CoachContext``
is what the engine works on during a turn; ``ContextManager`` maps it to and from the stored
``ContextRecord`` and ``StateRecord``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from coach.enums import CoachingState, IdentityState
from coach.persistence.records import IdentityRecord, JsonDict, MessageRecord, UTCDateTime, utcnow

#: The phases in their usual order, for progress displays.
PHASE_ORDER: tuple[CoachingState, ...] = tuple(CoachingState)


class CoachContext(BaseModel):
    """Everything the engine knows about one session while it runs a turn.

    ``conversation_history`` may hold only the newest messages; ``first_message_index`` is the
    position of its first message in the whole conversation. ``consolidated_summary`` covers the
    messages before ``summarized_until`` (a position in the whole conversation). ``identities``
    are all of the user's identities, whichever session found them.
    """

    model_config = ConfigDict(validate_assignment=True)

    user_id: str
    session_id: str
    current_state: CoachingState = CoachingState.INTRODUCTION
    conversation_history: list[MessageRecord] = Field(default_factory=list)
    first_message_index: int = 0
    consolidated_summary: str = ""
    summarized_until: int = 0
    user_profile: JsonDict = Field(default_factory=dict)
    #: The version of the user record ``user_profile`` was read from (0: none stored yet).
    user_version: int = 0
    metadata: JsonDict = Field(default_factory=dict)
    identities: list[IdentityRecord] = Field(default_factory=list)
    focus_identity_id: str | None = None
    version: int = 0
    created_at: UTCDateTime = Field(default_factory=utcnow)
    updated_at: UTCDateTime = Field(default_factory=utcnow)

    @property
    def total_messages(self) -> int:
        return self.first_message_index + len(self.conversation_history)

    def identity(self, identity_id: str) -> IdentityRecord | None:
        """The user's identity with this id, or ``None``."""
        return next((i for i in self.identities if i.id == identity_id), None)

    @property
    def focus_identity(self) -> IdentityRecord | None:
        return self.identity(self.focus_identity_id) if self.focus_identity_id else None

    def identities_in(self, *states: IdentityState) -> list[IdentityRecord]:
        return [i for i in self.identities if i.state in states]


__all__ = ["PHASE_ORDER", "CoachContext"]
