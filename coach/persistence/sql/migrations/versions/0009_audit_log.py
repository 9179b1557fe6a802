"""The audit log, and the failed turns of every session.

- ``audit_log``: one row per authoring or destructive action or sign-in, appended and never
  changed; it names ids only and has no foreign key to what it names, so it outlives deleted
  sessions and users. Indexed newest first, whole and by actor and by action.
- ``audit_targets``: each distinct id an entry names, to find an id's entries by index.
- A partial index finds the newest failed turns of every session (the Admin page) without
  reading every turn.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = sa.String().with_variant(sa.String(collation="C"), "postgresql")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
WHEN = sa.DateTime(timezone=True)
FAILED = "ix_turns_failed_created_at_session_id_seq"
#: The audit log's indexes: newest first, whole, by actor and by action.
AUDIT_INDEXES = {
    "ix_audit_log_at_id": ["at", "id"],
    "ix_audit_log_actor_at_id": ["actor", "at", "id"],
    "ix_audit_log_action_at_id": ["action", "at", "id"],
}


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", KEY, nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("target_ids", JSON, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    for name, columns in AUDIT_INDEXES.items():
        op.create_index(name, "audit_log", columns)
    op.create_table(
        "audit_targets",
        sa.Column("entry_id", KEY, nullable=False),
        sa.Column("target_id", KEY, nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["audit_log.id"],
            name="fk_audit_targets_entry_id_audit_log",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_id", "target_id", name="pk_audit_targets"),
    )
    op.create_index(
        "ix_audit_targets_target_id_entry_id", "audit_targets", ["target_id", "entry_id"]
    )
    op.create_index(
        FAILED,
        "turns",
        ["created_at", "session_id", "seq"],
        sqlite_where=sa.text("status = 'failed'"),
        postgresql_where=sa.text("status = 'failed'"),
    )


def downgrade() -> None:
    op.drop_index(FAILED, table_name="turns")
    op.drop_index("ix_audit_targets_target_id_entry_id", table_name="audit_targets")
    op.drop_table("audit_targets")
    for name in AUDIT_INDEXES:
        op.drop_index(name, table_name="audit_log")
    op.drop_table("audit_log")
