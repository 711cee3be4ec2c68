"""the analyst's workbench: stored match form, match origin and hold reason, watchlist versions

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.adapters.db.schema

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows stored before this revision have no match form; backtest folds them on the fly.
    op.add_column("articles", sa.Column("match_text", sa.Text(), nullable=True))
    op.add_column(
        "matches",
        sa.Column("origin", sa.String(length=20), server_default="poll", nullable=False),
    )
    op.add_column("matches", sa.Column("held_reason", sa.String(length=40), nullable=True))
    op.create_table(
        "watchlist_versions",
        sa.Column("watchlist_id", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("recorded_at", monitor.adapters.db.schema.UTCDateTime(), nullable=False),
        sa.Column("backfilled_at", monitor.adapters.db.schema.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("watchlist_id", name=op.f("pk_watchlist_versions")),
    )


def downgrade() -> None:
    op.drop_table("watchlist_versions")
    with op.batch_alter_table("matches") as batch:
        batch.drop_column("held_reason")
        batch.drop_column("origin")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("match_text")
