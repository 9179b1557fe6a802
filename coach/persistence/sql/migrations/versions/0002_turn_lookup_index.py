"""Find a message's latest turn through one index: (session_id, user_message_id, seq).

The old index on (session_id, user_message_id) could not give the rows in ``seq`` order, so
SQLite's planner chose the primary key (session_id, seq) for ``ORDER BY seq DESC LIMIT 1`` and
walked every turn of the session: the lookup the engine makes before each turn grew with the
session (1 ms at turn 100, 6 ms at turn 1,000).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_turns_session_id_user_message_id_seq",
        "turns",
        ["session_id", "user_message_id", "seq"],
    )
    op.drop_index("ix_turns_session_id_user_message_id", table_name="turns")


def downgrade() -> None:
    op.create_index(
        "ix_turns_session_id_user_message_id", "turns", ["session_id", "user_message_id"]
    )
    op.drop_index("ix_turns_session_id_user_message_id_seq", table_name="turns")
