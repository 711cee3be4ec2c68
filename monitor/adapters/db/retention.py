"""Retention in the database: one batch of old article text pruned, leaving tombstones.

A pruned article keeps its row and identity key (so core.ingest never lets it be ingested or
alerted again) and loses its text; `pruned_at` marks it. Its MinHash signature (1 KB) stays:
the story index may still compare against it while its band rows live, and those are pruned
by story_store.prune_bands on the story window.

Takes the caller's Connection and never commits: flows.retention loops over the batches, one
transaction each. Decides nothing about when to prune (the scheduler does) and never deletes
rows: matches, digests and "already seen" all keep pointing at the tombstone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from monitor.adapters.db.schema import articles


@dataclass(frozen=True, slots=True)
class PrunedBatch:
    """What one batch did: the rows it found to prune, and those it pruned itself (another
    worker may have pruned some of them meanwhile)."""

    selected: int
    pruned: int


def prune_article_text_batch(
    connection: Connection, *, cutoff: datetime, now: datetime, batch: int
) -> PrunedBatch:
    """Prune the text of at most `batch` articles fetched before `cutoff`, oldest ids first.

    `fetched_at`, not `published_at`: a feed may (re)publish an old date, and an article must
    live its full retention period here.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    ids = list(
        connection.execute(
            select(articles.c.id)
            .where(articles.c.pruned_at.is_(None))
            .where(articles.c.fetched_at < cutoff)
            .order_by(articles.c.id)
            .limit(batch)
        ).scalars()
    )
    if not ids:
        return PrunedBatch(0, 0)
    result = connection.execute(
        update(articles)
        .where(articles.c.id.in_(ids))
        # pruned_at IS NULL again: another worker may have pruned these meanwhile
        .where(articles.c.pruned_at.is_(None))
        .values(text=None, match_text=None, semantic_features=None, pruned_at=now)
    )
    return PrunedBatch(selected=len(ids), pruned=result.rowcount)
