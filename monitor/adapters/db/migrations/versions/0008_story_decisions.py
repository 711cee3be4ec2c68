"""story decisions: copy or development, per match of a story already delivered (issue 9)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.adapters.db.schema

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "story_decisions",
        sa.Column("match_id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("new_sentence", sa.Text(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("against_match_id", sa.Integer(), nullable=False),
        sa.Column("decided_at", monitor.adapters.db.schema.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["match_id"],
            ["matches.id"],
            name=op.f("fk_story_decisions_match_id_matches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("match_id", name=op.f("pk_story_decisions")),
    )
    op.create_index(
        op.f("ix_story_decisions_story_id"), "story_decisions", ["story_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_story_decisions_story_id"), table_name="story_decisions")
    op.drop_table("story_decisions")
