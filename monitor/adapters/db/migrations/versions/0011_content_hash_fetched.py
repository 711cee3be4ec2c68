"""the content-hash lookup index also holds fetched_at (issue 16)

Story assignment writes an exact copy's band rows once per story and hour (story_store.py,
BAND_REFRESH): it asks when the newest article of each (content hash, story) pair was
fetched. With fetched_at in the key that answer comes from the index alone, like the rest of
the exact-signal lookup (migration 0010).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_articles_content_hash_story_fetched",
        "articles",
        ["content_hash", "story_id", "fetched_at"],
        unique=False,
    )
    op.drop_index("ix_articles_content_hash_story", table_name="articles")


def downgrade() -> None:
    op.create_index(
        "ix_articles_content_hash_story", "articles", ["content_hash", "story_id"], unique=False
    )
    op.drop_index("ix_articles_content_hash_story_fetched", table_name="articles")
