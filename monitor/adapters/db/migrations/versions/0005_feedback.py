"""feedback: analysts' relevant / irrelevant labels, with their history and one-click tokens

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.adapters.db.schema

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("watchlist_id", sa.String(length=200), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(length=20), nullable=False),
        sa.Column("who", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("labelled_at", monitor.adapters.db.schema.UTCDateTime(), nullable=False),
        sa.Column("token_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_feedback_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        sa.UniqueConstraint("token_id", name=op.f("uq_feedback_token_id")),
    )
    op.create_index("ix_feedback_watchlist", "feedback", ["watchlist_id", "labelled_at"])
    op.create_index(op.f("ix_feedback_story_id"), "feedback", ["story_id"])
    op.create_index(op.f("ix_feedback_labelled_at"), "feedback", ["labelled_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_feedback_labelled_at"), table_name="feedback")
    op.drop_index(op.f("ix_feedback_story_id"), table_name="feedback")
    op.drop_index("ix_feedback_watchlist", table_name="feedback")
    op.drop_table("feedback")
