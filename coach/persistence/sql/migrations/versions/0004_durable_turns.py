"""Durable turns: a turn is stored ``pending`` before the model is called.

- ``turns.owner`` names the process running a pending turn (host, process id and start time),
  ``turns.heartbeat_at`` when it last said it still runs it: a pending turn whose process died
  is marked failed ("interrupted") by the next engine that looks, never one that still runs.
- A user message has at most one live turn: the partial unique index now covers ``pending`` as
  well as ``ok`` turns, so two tabs cannot start the same message twice.
- A partial index finds the pending turns of every session.
- ``messages.reply_to``: the user message a coach reply answers. Two tabs sending at once
  store both user messages before either reply, so the order of the rows alone cannot say.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = sa.String().with_variant(sa.String(collation="C"), "postgresql")
UNIQUE = "uq_turns_session_id_user_message_id"
PENDING = "ix_turns_pending_created_at"


def _unique(where: str) -> None:
    op.create_index(
        UNIQUE,
        "turns",
        ["session_id", "user_message_id"],
        unique=True,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("owner", sa.String(), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("reply_to", KEY, nullable=True))
    op.drop_index(UNIQUE, table_name="turns")
    _unique("status IN ('ok', 'pending')")
    op.create_index(
        PENDING,
        "turns",
        ["created_at"],
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index(PENDING, table_name="turns")
    op.drop_index(UNIQUE, table_name="turns")
    _unique("status = 'ok'")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("reply_to")
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("owner")
