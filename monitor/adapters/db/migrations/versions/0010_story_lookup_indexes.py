"""story lookup indexes: (canonical_url, story_id) and (content_hash, story_id) (issue 16)

Story assignment's exact-signal lookups read the story of every stored article with the
same canonical URL or content hash; with story_id in the index they read the index alone
instead of each article's row (whose story_id lies behind the text, in its overflow pages).
Each replaces the single-column index of the same column, which it serves as well.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_articles_canonical_url_story", "articles", ["canonical_url", "story_id"], unique=False
    )
    op.create_index(
        "ix_articles_content_hash_story", "articles", ["content_hash", "story_id"], unique=False
    )
    op.drop_index(op.f("ix_articles_canonical_url"), table_name="articles")
    op.drop_index(op.f("ix_articles_content_hash"), table_name="articles")


def downgrade() -> None:
    op.create_index(op.f("ix_articles_content_hash"), "articles", ["content_hash"], unique=False)
    op.create_index(op.f("ix_articles_canonical_url"), "articles", ["canonical_url"], unique=False)
    op.drop_index("ix_articles_content_hash_story", table_name="articles")
    op.drop_index("ix_articles_canonical_url_story", table_name="articles")
