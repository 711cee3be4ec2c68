"""outlet names (each feed's title as configured and as the feed gives it), and the targets
of a delivery that accepted an earlier attempt

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("feeds", sa.Column("title", sa.String(length=300), nullable=True))
    op.add_column("feeds", sa.Column("feed_title", sa.String(length=300), nullable=True))
    op.add_column("deliveries", sa.Column("delivered_parts", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("delivered_parts")
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("feed_title")
        batch.drop_column("title")
