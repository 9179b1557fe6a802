"""Initial schema: users, sessions, states, contexts, messages, identities, turns.

Revision ID: 0001
Revises:
Create Date: 2026-11-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types in coach/persistence/sql/types.py as of this revision.
KEY = sa.String().with_variant(sa.String(collation="C"), "postgresql")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ENUM_TEXT = sa.String(32)


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", KEY, nullable=False),
        sa.Column("id_key", KEY, nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("name_key", KEY, nullable=True),
        sa.Column("data", JSON, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
    )
    op.create_index("ix_users_created_at_id", "users", ["created_at", "id"])
    op.create_index("ix_users_id_key", "users", ["id_key"])
    op.create_index("ix_users_name_key", "users", ["name_key"])

    op.create_table(
        "sessions",
        sa.Column("id", KEY, nullable=False),
        sa.Column("user_id", KEY, nullable=False),
        sa.Column("id_key", KEY, nullable=False),
        sa.Column("user_key", KEY, nullable=False),
        sa.Column("state", ENUM_TEXT, nullable=True),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("turn_count", sa.Integer(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("last_activity_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_sessions_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
    )
    op.create_index("ix_sessions_last_activity_at_id", "sessions", ["last_activity_at", "id"])
    op.create_index(
        "ix_sessions_user_id_last_activity_at_id",
        "sessions",
        ["user_id", "last_activity_at", "id"],
    )
    op.create_index(
        "ix_sessions_state_last_activity_at_id", "sessions", ["state", "last_activity_at", "id"]
    )
    op.create_index("ix_sessions_id_key", "sessions", ["id_key"])
    op.create_index("ix_sessions_user_key", "sessions", ["user_key"])

    op.create_table(
        "states",
        sa.Column("session_id", KEY, nullable=False),
        sa.Column("user_id", KEY, nullable=False),
        sa.Column("state", ENUM_TEXT, nullable=False),
        sa.Column("focus_identity_id", KEY, nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name="fk_states_session_id_sessions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", name="pk_states"),
    )

    op.create_table(
        "contexts",
        sa.Column("session_id", KEY, nullable=False),
        sa.Column("user_id", KEY, nullable=False),
        sa.Column("user_data", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name="fk_contexts_session_id_sessions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", name="pk_contexts"),
    )

    op.create_table(
        "messages",
        sa.Column("session_id", KEY, nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("id", KEY, nullable=False),
        sa.Column("role", ENUM_TEXT, nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["contexts.session_id"],
            name="fk_messages_session_id_contexts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "position", name="pk_messages"),
        sa.UniqueConstraint("id", name="uq_messages_id"),
    )

    op.create_table(
        "identities",
        sa.Column("id", KEY, nullable=False),
        sa.Column("user_id", KEY, nullable=False),
        sa.Column("session_id", KEY, nullable=True),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("label_key", KEY, nullable=False),
        sa.Column("category", ENUM_TEXT, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("state", ENUM_TEXT, nullable=False),
        sa.Column("affirmation", sa.Text(), nullable=True),
        sa.Column("visualization", sa.Text(), nullable=True),
        sa.Column("notes", JSON, nullable=False),
        sa.Column("action_items", JSON, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name="fk_identities_session_id_sessions",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_identities_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_identities"),
    )
    op.create_index("ix_identities_user_id_created_at", "identities", ["user_id", "created_at"])
    op.create_index("ix_identities_session_id", "identities", ["session_id"])
    op.create_index(
        "uq_identities_user_id_label_key",
        "identities",
        ["user_id", "label_key"],
        unique=True,
        sqlite_where=sa.text("state <> 'dismissed'"),
        postgresql_where=sa.text("state <> 'dismissed'"),
    )

    op.create_table(
        "turns",
        sa.Column("session_id", KEY, nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("user_id", KEY, nullable=False),
        sa.Column("user_message_id", KEY, nullable=False),
        sa.Column("coach_message_id", KEY, nullable=True),
        sa.Column("status", ENUM_TEXT, nullable=False),
        sa.Column("state_before", ENUM_TEXT, nullable=False),
        sa.Column("state_after", ENUM_TEXT, nullable=False),
        sa.Column("requested_transition", ENUM_TEXT, nullable=True),
        sa.Column("transition_refused_reason", sa.Text(), nullable=True),
        sa.Column("prompt_name", sa.String(), nullable=False),
        sa.Column("prompt_version", sa.String(), nullable=False),
        sa.Column("prompt_hash", sa.String(), nullable=False),
        sa.Column("system_prompt", sa.Text(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("raw_output", sa.Text(), nullable=False),
        sa.Column("actions", JSON, nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=True),
        sa.Column("output_tokens", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("ttft_ms", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("details", JSON, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name="fk_turns_session_id_sessions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "seq", name="pk_turns"),
    )
    op.create_index(
        "ix_turns_session_id_user_message_id", "turns", ["session_id", "user_message_id"]
    )
    op.create_index(
        "uq_turns_session_id_user_message_id",
        "turns",
        ["session_id", "user_message_id"],
        unique=True,
        sqlite_where=sa.text("status = 'ok'"),
        postgresql_where=sa.text("status = 'ok'"),
    )


def downgrade() -> None:
    for table in ("turns", "identities", "messages", "contexts", "states", "sessions", "users"):
        op.drop_table(table)
