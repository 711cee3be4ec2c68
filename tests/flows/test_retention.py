"""Retention on SQLite and (when configured) PostgreSQL: old article text is pruned in batches
(the flow commits each batch; the adapter's batch never commits), and the tombstones it leaves
keep pruned entries from being ingested or alerted again."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from entries import add_feed, entry
from fixed_time import NOW
from sqlalchemy import Engine, func, select

from monitor.adapters.db import article_store
from monitor.adapters.db.retention import PrunedBatch, prune_article_text_batch
from monitor.adapters.db.schema import Article, StoryBand
from monitor.core.model import NormalizedEntry
from monitor.flows.retention import prune, prune_article_text

articles = Article.__table__


def stored_feed(engine: Engine) -> int:
    return add_feed(engine)


def store(engine: Engine, feed_id: int, entries: list[NormalizedEntry], fetched_at: datetime):  # type: ignore[no-untyped-def]
    with engine.begin() as connection:
        return article_store.store_entries(connection, feed_id, entries, fetched_at)


def texts(engine: Engine) -> dict[str, str | None]:
    with engine.connect() as connection:
        rows = connection.execute(select(articles.c.guid, articles.c.text, articles.c.pruned_at))
        return {row.guid: row.text for row in rows}


def test_old_text_is_pruned_in_batches_and_recent_text_kept(engine: Engine) -> None:
    feed_id = stored_feed(engine)
    store(engine, feed_id, [entry(n) for n in range(7)], NOW - timedelta(days=100))
    store(engine, feed_id, [entry(n) for n in range(7, 10)], NOW - timedelta(days=10))

    result = prune_article_text(engine, cutoff=NOW - timedelta(days=90), now=NOW, batch=3)

    assert (result.articles_pruned, result.batches) == (7, 3)  # 3 + 3 + 1
    after = texts(engine)
    assert [guid for guid, text in sorted(after.items()) if text is None] == [
        f"guid-{n}" for n in range(7)
    ]
    assert all(after[f"guid-{n}"] == "body" for n in range(7, 10))
    with engine.connect() as connection:
        pruned_at = connection.execute(
            select(func.min(articles.c.pruned_at), func.count()).where(
                articles.c.pruned_at.is_not(None)
            )
        ).one()
        identity_kept = connection.execute(
            select(func.count()).where(articles.c.identity_key.is_not(None))
        ).scalar_one()
    assert pruned_at[1] == 7 and pruned_at[0] == NOW
    assert identity_kept == 10
    # A second run finds nothing left to do.
    assert prune_article_text(engine, cutoff=NOW - timedelta(days=90), now=NOW, batch=3) == (
        type(result)(0, 0)
    )


def test_a_full_last_batch_stops_at_the_next_empty_one(engine: Engine) -> None:
    feed_id = stored_feed(engine)
    store(engine, feed_id, [entry(n) for n in range(4)], NOW - timedelta(days=100))
    result = prune_article_text(engine, cutoff=NOW - timedelta(days=90), now=NOW, batch=2)
    assert (result.articles_pruned, result.batches) == (4, 2)


def test_should_stop_ends_pruning_between_batches(engine: Engine) -> None:
    feed_id = stored_feed(engine)
    store(engine, feed_id, [entry(n) for n in range(6)], NOW - timedelta(days=100))
    calls = 0

    def stop_after_one_batch() -> bool:
        nonlocal calls
        calls += 1
        return calls > 1

    result = prune_article_text(
        engine, cutoff=NOW, now=NOW, batch=2, should_stop=stop_after_one_batch
    )
    assert result.articles_pruned == 2
    # The batch that ran before the stop is committed on its own.
    assert sum(text is None for text in texts(engine).values()) == 2


def test_a_batch_is_the_callers_transaction_and_never_commits(engine: Engine) -> None:
    feed_id = stored_feed(engine)
    store(engine, feed_id, [entry(n) for n in range(3)], NOW - timedelta(days=100))
    cutoff = NOW - timedelta(days=90)
    with engine.connect() as connection:
        assert prune_article_text_batch(connection, cutoff=cutoff, now=NOW, batch=2) == PrunedBatch(
            selected=2, pruned=2
        )
        connection.rollback()
    assert all(text == "body" for text in texts(engine).values())
    with engine.begin() as connection:
        assert prune_article_text_batch(connection, cutoff=cutoff, now=NOW, batch=5) == PrunedBatch(
            selected=3, pruned=3
        )
        assert prune_article_text_batch(connection, cutoff=cutoff, now=NOW, batch=5) == PrunedBatch(
            0, 0
        )


@pytest.mark.parametrize("batch", [0, -1])
def test_a_batch_below_one_row_is_refused(engine: Engine, batch: int) -> None:
    with pytest.raises(ValueError, match="batch must be at least 1"):
        prune_article_text(engine, cutoff=NOW, now=NOW, batch=batch)
    with engine.connect() as connection, pytest.raises(ValueError):
        prune_article_text_batch(connection, cutoff=NOW, now=NOW, batch=batch)


@pytest.mark.parametrize("edited", [False, True], ids=["same entry", "edited entry"])
def test_tombstones_block_reingest(engine: Engine, edited: bool) -> None:
    feed_id = stored_feed(engine)
    store(engine, feed_id, [entry(1), entry(2)], NOW - timedelta(days=100))
    prune(engine, now=NOW, days=90, batch=1000, story_window=timedelta(days=7))

    # The feed still lists the pruned items (maybe edited since): nothing is new, nothing is
    # revived, so nothing can be scored or alerted again.
    again = [entry(1, "edited body") if edited else entry(1), entry(2), entry(3)]
    result = store(engine, feed_id, again, NOW)

    assert [stored.entry.guid for stored in result.new] == ["guid-3"]
    assert result.updated == 0
    after = texts(engine)
    assert after["guid-1"] is None and after["guid-2"] is None and after["guid-3"] == "body"


def test_prune_drops_story_bands_outside_the_story_window(engine: Engine) -> None:
    feed_id = stored_feed(engine)
    new = store(engine, feed_id, [entry(1)], NOW).new
    bands = StoryBand.__table__
    with engine.begin() as connection:
        for age, value in ((timedelta(days=8), 0), (timedelta(days=1), 1)):
            connection.execute(
                bands.insert().values(
                    band_hash=value,
                    article_id=new[0].article_id,
                    created=int((NOW - age).timestamp()),
                )
            )
    result = prune(engine, now=NOW, days=90, batch=10, story_window=timedelta(days=7))
    assert result.story_bands_pruned == 1
    with engine.connect() as connection:
        assert connection.execute(select(bands.c.band_hash)).scalars().all() == [1]
