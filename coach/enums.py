"""The coaching method's vocabularies, shared by the engine and the persistence layer.

They live apart from ``coach.models`` so that ``coach.persistence`` can validate records without
depending on the engine. ``coach.models`` re-exports them.
"""

from __future__ import annotations

from enum import StrEnum


class CoachingState(StrEnum):
    """The six phases of a coaching conversation, in their usual order."""

    INTRODUCTION = "introduction"
    IDENTITY_BRAINSTORMING = "identity_brainstorming"
    IDENTITY_REFINEMENT = "identity_refinement"
    IDENTITY_VISUALIZATION = "identity_visualization"
    ACTION_PLANNING = "action_planning"
    ACCOUNTABILITY = "accountability"


class IdentityCategory(StrEnum):
    """The nine areas of life an identity can belong to."""

    PASSIONS_AND_TALENTS = "passions_and_talents"
    MAKER_OF_MONEY = "maker_of_money"
    KEEPER_OF_MONEY = "keeper_of_money"
    SPIRITUAL = "spiritual"
    PERSONAL_APPEARANCE = "personal_appearance"
    PHYSICAL_EXPRESSION = "physical_expression"
    FAMILIAL_RELATIONS = "familial_relations"
    ROMANTIC_RELATION = "romantic_relation"
    DOER_OF_THINGS = "doer_of_things"


class IdentityState(StrEnum):
    """Lifecycle: proposed -> accepted -> refined; proposed or accepted -> dismissed."""

    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    REFINED = "refined"
    DISMISSED = "dismissed"


class MessageRole(StrEnum):
    USER = "user"
    COACH = "coach"


class TurnStatus(StrEnum):
    """A turn is stored ``pending`` before the model is called and ends ``ok`` or ``failed``."""

    PENDING = "pending"
    OK = "ok"
    FAILED = "failed"


class JobStatus(StrEnum):
    """A task of the engine that is stored as it goes (an experiment, a fork or replay) is
    ``running`` until it ends: ``done``, or ``failed`` when it could not finish (its process
    stopped, it was cancelled, say)."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class OriginKind(StrEnum):
    """How a session was made from another: forked at a turn, or replayed."""

    FORK = "fork"
    REPLAY_EXACT = "replay_exact"
    REPLAY_LIVE = "replay_live"


class ActionStatus(StrEnum):
    APPLIED = "applied"
    REJECTED = "rejected"
