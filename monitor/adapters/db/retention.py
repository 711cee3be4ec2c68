"""Retention: prunes the text of old articles in batches, leaving tombstones.

A pruned article keeps its row and identity key (so article_store never ingests or alerts it
again) and loses its text; `pruned_at` marks it. Its MinHash signature (1 KB) stays: the
story index may still compare against it while its band rows live, and those are pruned by
story_store.prune_bands on the story window, which `prune` below calls. This module decides
nothing about when to prune (the scheduler calls it) and never deletes rows: matches,
digests and "already seen" all keep pointing at the tombstone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update

from monitor.adapters.db import story_store
from monitor.adapters.db.schema import articles

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionResult:
    articles_pruned: int
    batches: int
    story_bands_pruned: int = 0


def prune(
    engine: Engine,
    *,
    now: datetime,
    days: int,
    batch: int,
    story_window: timedelta,
    should_stop: Callable[[], bool] | None = None,
) -> RetentionResult:
    """The retention job: article text older than `days`, band rows older than the story
    window (nothing can join a story through them any more)."""
    result = prune_article_text(
        engine, cutoff=now - timedelta(days=days), now=now, batch=batch, should_stop=should_stop
    )
    with engine.begin() as connection:
        bands = story_store.prune_bands(connection, now - story_window)
    if bands:
        log.info("pruned %d story band rows older than the story window", bands)
    return RetentionResult(result.articles_pruned, result.batches, bands)


def prune_article_text(
    engine: Engine,
    *,
    cutoff: datetime,
    now: datetime,
    batch: int,
    max_batches: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RetentionResult:
    """Prune articles fetched before `cutoff`, `batch` rows per transaction.

    Batches keep each transaction (and SQLite's single write lock) short, so polls and
    digests interleave with a large first prune. `fetched_at`, not `published_at`: a feed may
    (re)publish an old date, and an article must live its full retention period here.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    pruned = batches = 0
    while max_batches is None or batches < max_batches:
        if should_stop is not None and should_stop():
            break
        with engine.begin() as connection:
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
                break
            result = connection.execute(
                update(articles)
                .where(articles.c.id.in_(ids))
                # pruned_at IS NULL again: another worker may have pruned these meanwhile
                .where(articles.c.pruned_at.is_(None))
                .values(text=None, pruned_at=now)
            )
        pruned += result.rowcount
        batches += 1
        if len(ids) < batch:
            break
    if pruned:
        log.info("pruned the text of %d articles fetched before %s", pruned, cutoff.isoformat())
    return RetentionResult(articles_pruned=pruned, batches=batches)
