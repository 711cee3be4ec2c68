"""the story band index narrowed to one covering key: (band value, second, article)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

The old table (id, band, 63-bit hash, article, story, text timestamp) and its two indexes
took 45 MB per 10,000 articles on SQLite; the new one is its own primary key, WITHOUT ROWID
on SQLite: the top 31 bits of the hash, the second it was written, the article. Rows in the
window are carried over, so stories keep being found across the upgrade.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.adapters.db.schema

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.rename_table("story_bands", "story_bands_0001")
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:  # the old key's index keeps its name on PostgreSQL: make room for the new
        op.execute("ALTER TABLE story_bands_0001 RENAME CONSTRAINT pk_story_bands TO pk_0001")
    op.create_table(
        "story_bands",
        sa.Column("band_hash", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("created", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("article_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("band_hash", "created", "article_id", name=op.f("pk_story_bands")),
        sqlite_with_rowid=False,
    )
    if postgresql:
        seconds = "CAST(EXTRACT(EPOCH FROM created_at) AS BIGINT)"
    else:
        seconds = "CAST(strftime('%s', created_at) AS INTEGER)"
    op.execute(
        "INSERT INTO story_bands (band_hash, created, article_id) "
        f"SELECT DISTINCT band_hash >> 32, {seconds}, article_id FROM story_bands_0001"
    )
    with op.batch_alter_table("story_bands_0001", schema=None) as batch_op:
        batch_op.drop_index("ix_story_bands_lookup")
        batch_op.drop_index("ix_story_bands_created_at")
    op.drop_table("story_bands_0001")


def downgrade() -> None:
    # The old rows need each value's band number, which the new ones do not keep: the old
    # index starts empty and fills again as articles arrive (copies of stories older than
    # the downgrade are found by URL and content hash only).
    op.drop_table("story_bands")
    op.create_table(
        "story_bands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("band", sa.Integer(), nullable=False),
        sa.Column("band_hash", sa.BigInteger(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("created_at", monitor.adapters.db.schema.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_story_bands_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["stories.id"],
            name=op.f("fk_story_bands_story_id_stories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_story_bands")),
    )
    with op.batch_alter_table("story_bands", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_story_bands_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            "ix_story_bands_lookup", ["band", "band_hash", "created_at", "article_id"], unique=False
        )
