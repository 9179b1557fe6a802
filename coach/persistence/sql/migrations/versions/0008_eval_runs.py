"""Eval runs: scenarios played by simulated clients, and their conversations.

- ``eval_runs``: one row per run, kept when its sessions are deleted.
- ``eval_conversations``: one row per played session (deleted with it), stored as it starts
  and replaced when it ends.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = sa.String().with_variant(sa.String(collation="C"), "postgresql")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "eval_runs",
        sa.Column("id", KEY, nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("scenarios", JSON, nullable=False),
        sa.Column("repeats", sa.Integer(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("pin", JSON, nullable=True),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("client_model", sa.String(), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=True),
        sa.Column("heartbeat_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("ended_at", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_eval_runs"),
    )
    op.create_index("ix_eval_runs_created_at_id", "eval_runs", ["created_at", "id"])
    op.create_index(
        "ix_eval_runs_status_created_at_id", "eval_runs", ["status", "created_at", "id"]
    )
    op.create_table(
        "eval_conversations",
        sa.Column("session_id", KEY, nullable=False),
        sa.Column("run_id", KEY, nullable=False),
        sa.Column("scenario", sa.String(), nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("user_id", KEY, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("checks", JSON, nullable=False),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("latencies_ms", JSON, nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("prompt_version", sa.String(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("ended_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name="fk_eval_conversations_session_id_sessions",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["eval_runs.id"],
            name="fk_eval_conversations_run_id_eval_runs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", name="pk_eval_conversations"),
    )
    op.create_index("ix_eval_conversations_run_id", "eval_conversations", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_eval_conversations_run_id", table_name="eval_conversations")
    op.drop_table("eval_conversations")
    op.drop_index("ix_eval_runs_status_created_at_id", table_name="eval_runs")
    op.drop_index("ix_eval_runs_created_at_id", table_name="eval_runs")
    op.drop_table("eval_runs")
