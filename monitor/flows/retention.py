"""The retention job: prune old article text in batches, then the story index's old bands.

What the daemon's scheduler calls (`prune`). Opens one short transaction per batch, so polls
and digests (and SQLite's single write lock) interleave with a large first prune, and stops
between batches when asked to. The statements are adapters.db.retention's and
story_store.prune_bands'; when to run is the scheduler's; the clock comes in as `now`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from monitor.adapters.db import story_store
from monitor.adapters.db.retention import prune_article_text_batch

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionResult:
    """What a retention run did: articles pruned (tombstones made), in how many batches (each
    its own transaction), and story band rows dropped."""

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
    """Prune articles fetched before `cutoff`, `batch` rows per transaction, until none is
    left, `max_batches` ran, or `should_stop()` says so (asked before each batch)."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    pruned = batches = 0
    while max_batches is None or batches < max_batches:
        if should_stop is not None and should_stop():
            break
        with engine.begin() as connection:
            done = prune_article_text_batch(connection, cutoff=cutoff, now=now, batch=batch)
        if not done.selected:
            break
        pruned += done.pruned
        batches += 1
        if done.selected < batch:
            break
    if pruned:
        log.info("pruned the text of %d articles fetched before %s", pruned, cutoff.isoformat())
    return RetentionResult(articles_pruned=pruned, batches=batches)
