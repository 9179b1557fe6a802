"""Session origins: where a forked or replayed session came from, and how far making it got.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = sa.String().with_variant(sa.String(collation="C"), "postgresql")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "session_origins",
        sa.Column("session_id", KEY, nullable=False),
        sa.Column("source_session_id", KEY, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at_turn", sa.Integer(), nullable=True),
        sa.Column("pin", JSON, nullable=True),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("turns_done", sa.Integer(), nullable=False),
        sa.Column("turns_total", sa.Integer(), nullable=False),
        sa.Column("differences", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=True),
        sa.Column("heartbeat_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("ended_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name="fk_session_origins_session_id_sessions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", name="pk_session_origins"),
    )
    op.create_index(
        "ix_session_origins_source_session_id_created_at",
        "session_origins",
        ["source_session_id", "created_at"],
    )
    op.create_index("ix_session_origins_created_at", "session_origins", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_session_origins_created_at", table_name="session_origins")
    op.drop_index("ix_session_origins_source_session_id_created_at", table_name="session_origins")
    op.drop_table("session_origins")
