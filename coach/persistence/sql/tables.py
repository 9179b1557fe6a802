"""The SQL schema as SQLAlchemy ORM declarations (one schema for SQLite and PostgreSQL).

The tables are denormalized for the inspector and the hot path:

- ``sessions`` carries the phase, message and turn counts and the last activity, updated by
  every write to the session, so ``list_sessions`` reads one indexed table and never aggregates
  over messages.
- ``messages`` holds one row per message keyed by ``(session_id, position)``: appending a
  message is one insert, whatever the length of the conversation.
- ``users.id_key`` / ``users.name_key`` and ``sessions.id_key`` / ``sessions.user_key`` hold
  case-folded ids and names for the case-insensitive prefix searches (see ``types.KEY``).

The migrations in ``migrations/versions`` create exactly this schema; a test compares them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, cast

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from coach.persistence.sql.types import JSON_TYPE, KEY, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Short enum-like values (phases, roles, states) are stored as their text value.
ENUM_TEXT = String(32)
#: The turns that count as a user message's live turn (see ``rules.check_turn``).
LIVE_TURN = "status IN ('ok', 'pending')"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON_TYPE,
    }


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(KEY, primary_key=True)
    id_key: Mapped[str] = mapped_column(KEY)
    name: Mapped[str | None] = mapped_column(String)
    name_key: Mapped[str | None] = mapped_column(KEY)
    data: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_users_created_at_id", "created_at", "id"),
        Index("ix_users_id_key", "id_key"),
        Index("ix_users_name_key", "name_key"),
    )


class SessionRow(Base):
    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(KEY, primary_key=True)
    user_id: Mapped[str] = mapped_column(KEY, ForeignKey("users.id", ondelete="CASCADE"))
    id_key: Mapped[str] = mapped_column(KEY)
    user_key: Mapped[str] = mapped_column(KEY)
    state: Mapped[str | None] = mapped_column(ENUM_TEXT)
    message_count: Mapped[int] = mapped_column(Integer)
    turn_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    last_activity_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_sessions_last_activity_at_id", "last_activity_at", "id"),
        Index("ix_sessions_user_id_last_activity_at_id", "user_id", "last_activity_at", "id"),
        Index("ix_sessions_state_last_activity_at_id", "state", "last_activity_at", "id"),
        Index("ix_sessions_id_key", "id_key"),
        Index("ix_sessions_user_key", "user_key"),
    )


class StateRow(Base):
    __tablename__ = "states"

    session_id: Mapped[str] = mapped_column(
        KEY, ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(KEY)
    state: Mapped[str] = mapped_column(ENUM_TEXT)
    focus_identity_id: Mapped[str | None] = mapped_column(KEY)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ContextRow(Base):
    __tablename__ = "contexts"

    session_id: Mapped[str] = mapped_column(
        KEY, ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(KEY)
    user_data: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(Integer)
    message_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class MessageRow(Base):
    __tablename__ = "messages"

    # Messages hang off their context: deleting the context deletes them.
    session_id: Mapped[str] = mapped_column(
        KEY, ForeignKey("contexts.session_id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(KEY, unique=True)
    role: Mapped[str] = mapped_column(ENUM_TEXT)
    content: Mapped[str] = mapped_column(Text)
    reply_to: Mapped[str | None] = mapped_column(KEY)
    created_at: Mapped[datetime]


class IdentityRow(Base):
    __tablename__ = "identities"

    id: Mapped[str] = mapped_column(KEY, primary_key=True)
    user_id: Mapped[str] = mapped_column(KEY, ForeignKey("users.id", ondelete="CASCADE"))
    session_id: Mapped[str | None] = mapped_column(
        KEY, ForeignKey("sessions.id", ondelete="SET NULL")
    )
    label: Mapped[str] = mapped_column(String)
    label_key: Mapped[str] = mapped_column(KEY)
    category: Mapped[str] = mapped_column(ENUM_TEXT)
    description: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(ENUM_TEXT)
    affirmation: Mapped[str | None] = mapped_column(Text)
    visualization: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[list[Any]] = mapped_column(JSON_TYPE)
    action_items: Mapped[list[Any]] = mapped_column(JSON_TYPE)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_identities_user_id_created_at", "user_id", "created_at"),
        Index("ix_identities_session_id", "session_id"),
        Index(
            "uq_identities_user_id_label_key",
            "user_id",
            "label_key",
            unique=True,
            sqlite_where=text("state <> 'dismissed'"),
            postgresql_where=text("state <> 'dismissed'"),
        ),
    )


class TurnRow(Base):
    __tablename__ = "turns"

    session_id: Mapped[str] = mapped_column(
        KEY, ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    user_id: Mapped[str] = mapped_column(KEY)
    user_message_id: Mapped[str] = mapped_column(KEY)
    coach_message_id: Mapped[str | None] = mapped_column(KEY)
    status: Mapped[str] = mapped_column(ENUM_TEXT)
    state_before: Mapped[str] = mapped_column(ENUM_TEXT)
    state_after: Mapped[str] = mapped_column(ENUM_TEXT)
    requested_transition: Mapped[str | None] = mapped_column(ENUM_TEXT)
    transition_refused_reason: Mapped[str | None] = mapped_column(Text)
    prompt_name: Mapped[str] = mapped_column(String)
    prompt_version: Mapped[str] = mapped_column(String)
    prompt_hash: Mapped[str] = mapped_column(String)
    system_prompt: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String)
    provider: Mapped[str] = mapped_column(String)
    raw_output: Mapped[str] = mapped_column(Text)
    actions: Mapped[list[Any]] = mapped_column(JSON_TYPE)
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]]
    owner: Mapped[str | None] = mapped_column(String)
    heartbeat_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_turns_session_id_user_message_id_seq", "session_id", "user_message_id", "seq"),
        # A user message has at most one live turn: answered, or being answered.
        Index(
            "uq_turns_session_id_user_message_id",
            "session_id",
            "user_message_id",
            unique=True,
            sqlite_where=text(LIVE_TURN),
            postgresql_where=text(LIVE_TURN),
        ),
        # The pending turns of every session, for recovery after a crash.
        Index(
            "ix_turns_pending_created_at",
            "created_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        # The newest failed turns of every session, for the Admin page. Failed turns pile up
        # (an outage fails thousands), unlike pending ones: the index holds the whole order,
        # so a page never sorts them.
        Index(
            "ix_turns_failed_created_at_session_id_seq",
            "created_at",
            "session_id",
            "seq",
            sqlite_where=text("status = 'failed'"),
            postgresql_where=text("status = 'failed'"),
        ),
    )


class PromptPartRow(Base):
    """Each prompt part's newest version number: saving a version bumps it with one upsert,
    whose row lock numbers two writers of one part one after the other."""

    __tablename__ = "prompt_parts"

    part: Mapped[str] = mapped_column(KEY, primary_key=True)
    last_version: Mapped[int] = mapped_column(Integer)


class PromptVersionRow(Base):
    """A prompt part's versions: immutable, numbered from 1 per part."""

    __tablename__ = "prompt_versions"

    part: Mapped[str] = mapped_column(KEY, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    front_matter: Mapped[dict[str, Any]]
    author: Mapped[str] = mapped_column(String)
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    #: ``PromptVersion.content_hash``: a part never holds the same content twice.
    content_hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("uq_prompt_versions_part_content_hash", "part", "content_hash", unique=True),
    )


class PromptLabelRow(Base):
    """Labels pointing at versions of a part (``active`` among them)."""

    __tablename__ = "prompt_labels"

    part: Mapped[str] = mapped_column(KEY, primary_key=True)
    label: Mapped[str] = mapped_column(KEY, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String)
    updated_at: Mapped[datetime]

    __table_args__ = (
        ForeignKeyConstraint(
            ["part", "version"], ["prompt_versions.part", "prompt_versions.version"]
        ),
    )


class StoredTaskColumns:
    """The columns of a task of the engine stored as it goes (``StoredTask``): an experiment,
    a session's origin, an eval run."""

    status: Mapped[str] = mapped_column(ENUM_TEXT)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String)
    owner: Mapped[str | None] = mapped_column(String)
    heartbeat_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class ExperimentRow(StoredTaskColumns, Base):
    """Stored turns tried again (``Experiment``), kept with their session."""

    __tablename__ = "experiments"

    id: Mapped[str] = mapped_column(KEY, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    session_id: Mapped[str] = mapped_column(KEY, ForeignKey("sessions.id", ondelete="CASCADE"))
    turn_seq: Mapped[int] = mapped_column(Integer)
    pin: Mapped[dict[str, Any] | None] = mapped_column(JSON_TYPE)
    prompt_version: Mapped[str] = mapped_column(String)
    model: Mapped[str] = mapped_column(String)
    runs_requested: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_experiments_created_at_id", "created_at", "id"),
        Index("ix_experiments_session_id_created_at", "session_id", "created_at"),
    )


class ExperimentRunRow(Base):
    """An experiment's runs, stored as each ends (``ExperimentRun``)."""

    __tablename__ = "experiment_runs"

    experiment_id: Mapped[str] = mapped_column(
        KEY, ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    reply: Mapped[str | None] = mapped_column(Text)
    actions: Mapped[list[Any]] = mapped_column(JSON_TYPE)
    requested_phase: Mapped[str | None] = mapped_column(ENUM_TEXT)
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class SessionOriginRow(StoredTaskColumns, Base):
    """Where a session came from (``SessionOrigin``): one row per forked or replayed session."""

    __tablename__ = "session_origins"

    session_id: Mapped[str] = mapped_column(
        KEY, ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    #: No foreign key: a copy keeps naming its source after the source is deleted.
    source_session_id: Mapped[str] = mapped_column(KEY)
    kind: Mapped[str] = mapped_column(ENUM_TEXT)
    at_turn: Mapped[int | None] = mapped_column(Integer)
    pin: Mapped[dict[str, Any] | None] = mapped_column(JSON_TYPE)
    model: Mapped[str] = mapped_column(String)
    turns_done: Mapped[int] = mapped_column(Integer)
    turns_total: Mapped[int] = mapped_column(Integer)
    differences: Mapped[list[Any]] = mapped_column(JSON_TYPE)

    __table_args__ = (
        Index("ix_session_origins_source_session_id_created_at", "source_session_id", "created_at"),
        Index("ix_session_origins_created_at", "created_at"),
    )


class EvalRunRow(StoredTaskColumns, Base):
    """Scenarios played by simulated clients (``EvalRun``); kept when its sessions go."""

    __tablename__ = "eval_runs"

    id: Mapped[str] = mapped_column(KEY, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    scenarios: Mapped[list[Any]] = mapped_column(JSON_TYPE)
    repeats: Mapped[int] = mapped_column(Integer)
    concurrency: Mapped[int] = mapped_column(Integer)
    pin: Mapped[dict[str, Any] | None] = mapped_column(JSON_TYPE)
    model: Mapped[str] = mapped_column(String)
    client_model: Mapped[str] = mapped_column(String)
    cached: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (
        Index("ix_eval_runs_created_at_id", "created_at", "id"),
        # The running ones, for recovery, newest first.
        Index("ix_eval_runs_status_created_at_id", "status", "created_at", "id"),
    )


class EvalConversationRow(Base):
    """One conversation of an eval run (``EvalConversation``): it goes with its session."""

    __tablename__ = "eval_conversations"

    session_id: Mapped[str] = mapped_column(
        KEY, ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    run_id: Mapped[str] = mapped_column(KEY, ForeignKey("eval_runs.id", ondelete="CASCADE"))
    scenario: Mapped[str] = mapped_column(String)
    repeat: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[str] = mapped_column(KEY)
    status: Mapped[str] = mapped_column(ENUM_TEXT)
    error: Mapped[str | None] = mapped_column(Text)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    checks: Mapped[list[Any]] = mapped_column(JSON_TYPE)
    turns: Mapped[int] = mapped_column(Integer)
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    latencies_ms: Mapped[list[Any]] = mapped_column(JSON_TYPE)
    model: Mapped[str] = mapped_column(String)
    prompt_version: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_eval_conversations_run_id", "run_id"),)


class AuditEntryRow(Base):
    """The audit log (``AuditEntry``): appended, never changed, kept when what it names goes."""

    __tablename__ = "audit_log"

    id: Mapped[str] = mapped_column(KEY, primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String)
    role: Mapped[str] = mapped_column(String)
    action: Mapped[str] = mapped_column(String)
    #: The ids as given (in order); ``audit_targets`` finds the entries of an id.
    target_ids: Mapped[list[Any]] = mapped_column(JSON_TYPE)
    outcome: Mapped[str] = mapped_column(ENUM_TEXT)
    detail: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        # Newest first, whole or by actor or action: each list reads its index in order.
        Index("ix_audit_log_at_id", "at", "id"),
        Index("ix_audit_log_actor_at_id", "actor", "at", "id"),
        Index("ix_audit_log_action_at_id", "action", "at", "id"),
    )


class AuditTargetRow(Base):
    """Each distinct id an audit entry names, to find an id's entries through an index.

    A child table is plain SQL on SQLite and PostgreSQL alike, and one index probe. A JSON
    containment test would need each dialect's own JSON functions (``json_each``, ``@>``), and
    a ``LIKE`` over the ids in a delimited text column can use no index: it reads the whole log.
    """

    __tablename__ = "audit_targets"

    entry_id: Mapped[str] = mapped_column(
        KEY, ForeignKey("audit_log.id", ondelete="CASCADE"), primary_key=True
    )
    target_id: Mapped[str] = mapped_column(KEY, primary_key=True)

    __table_args__ = (Index("ix_audit_targets_target_id_entry_id", "target_id", "entry_id"),)


def _table(row: type[Base]) -> Table:
    return cast(Table, row.__table__)


users = _table(UserRow)
sessions = _table(SessionRow)
states = _table(StateRow)
contexts = _table(ContextRow)
messages = _table(MessageRow)
identities = _table(IdentityRow)
turns = _table(TurnRow)
prompt_parts = _table(PromptPartRow)
prompt_versions = _table(PromptVersionRow)
prompt_labels = _table(PromptLabelRow)
experiments = _table(ExperimentRow)
experiment_runs = _table(ExperimentRunRow)
session_origins = _table(SessionOriginRow)
eval_runs = _table(EvalRunRow)
eval_conversations = _table(EvalConversationRow)
audit_log = _table(AuditEntryRow)
audit_targets = _table(AuditTargetRow)

#: The tables of the coaching records, parents first (the order ``count_records`` reports
#: them in); the prompt tables are the coaches', not the clients'.
TABLES: dict[str, Table] = {
    "users": users,
    "sessions": sessions,
    "states": states,
    "contexts": contexts,
    "messages": messages,
    "identities": identities,
    "turns": turns,
}

#: Each table's creation time, from which ``describe_storage`` counts its growth; the tables
#: without one (``prompt_parts``, ``prompt_labels``, ``audit_targets``) are not in it.
CREATED_AT: dict[str, Column[datetime]] = {
    **{t.name: t.c.created_at for t in Base.metadata.sorted_tables if "created_at" in t.c},
    audit_log.name: audit_log.c.at,
}
