"""Prompt versions and labels (the prompt lab).

- ``prompt_versions``: each prompt part's immutable versions, numbered from 1 per part, each
  content at most once per part; ``prompt_parts`` keeps each part's newest number (one upsert
  numbers a new version).
- ``prompt_labels``: names pointing at a version of a part (``active`` is what the coach uses),
  with a revision counting their moves, so that of two coaches moving one label at once the
  later is refused.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = sa.String().with_variant(sa.String(collation="C"), "postgresql")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "prompt_parts",
        sa.Column("part", KEY, nullable=False),
        sa.Column("last_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("part", name="pk_prompt_parts"),
    )
    op.create_table(
        "prompt_versions",
        sa.Column("part", KEY, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("front_matter", JSON, nullable=False),
        sa.Column("author", sa.String(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("part", "version", name="pk_prompt_versions"),
    )
    op.create_index(
        "uq_prompt_versions_part_content_hash",
        "prompt_versions",
        ["part", "content_hash"],
        unique=True,
    )
    op.create_table(
        "prompt_labels",
        sa.Column("part", KEY, nullable=False),
        sa.Column("label", KEY, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["part", "version"],
            ["prompt_versions.part", "prompt_versions.version"],
            name="fk_prompt_labels_part_prompt_versions",
        ),
        sa.PrimaryKeyConstraint("part", "label", name="pk_prompt_labels"),
    )


def downgrade() -> None:
    op.drop_table("prompt_labels")
    op.drop_table("prompt_versions")
    op.drop_table("prompt_parts")
