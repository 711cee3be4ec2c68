"""Feed and article stores, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from entries import T0, add_feed, entry
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.sqlite import DATETIME

from monitor.adapters.db import article_store, feed_store
from monitor.adapters.db.feed_store import FeedSpec
from monitor.adapters.db.schema import Article, Feed, UTCDateTime
from monitor.core.identity import content_hash, identity_key


def test_entries_are_stored_once_and_edits_update_the_row(engine: Engine) -> None:
    feed_id = add_feed(engine)
    with engine.begin() as c:
        first = article_store.store_entries(c, feed_id, [entry(1), entry(2), entry(1)], T0)
    assert len(first.new) == 2
    with engine.begin() as c:
        again = article_store.store_entries(c, feed_id, [entry(1), entry(2, text="edited")], T0)
    assert again.new == [] and again.updated == 1 and again.unchanged == 1
    with engine.connect() as c:
        rows = c.execute(select(Article.__table__.c.text).order_by(Article.__table__.c.id)).all()
    assert [r.text for r in rows] == ["body", "edited"]


def test_a_tombstone_is_never_stored_again(engine: Engine) -> None:
    feed_id = add_feed(engine)
    with engine.begin() as c:
        article_store.store_entries(c, feed_id, [entry(1)], T0)
        c.execute(update(Article.__table__).values(text=None, pruned_at=T0))
    with engine.begin() as c:
        result = article_store.store_entries(c, feed_id, [entry(1, text="changed")], T0)
    assert result.new == [] and result.updated == 0
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(Article.__table__)).scalar_one() == 1


def test_a_feed_longer_than_one_lookup_is_stored_and_recognised_whole(engine: Engine) -> None:
    feed_id = add_feed(engine)
    many = [entry(n) for n in range(article_store.KEYS_PER_QUERY * 2 + 1)]
    with engine.begin() as c:
        first = article_store.store_entries(c, feed_id, many, T0)
    with engine.begin() as c:
        again = article_store.store_entries(
            c, feed_id, [*many[:-1], entry(len(many) - 1, text="x")], T0
        )
    assert len(first.new) == len(many)
    assert [s.entry for s in first.new] == many  # ids come back in the feed's order
    assert (again.new, again.updated, again.unchanged) == ([], 1, len(many) - 1)


def test_stored_values_read_back_as_given_and_a_row_stored_meanwhile_is_not_ours(
    engine: Engine,
) -> None:
    """The insert converts values as Core does (an aware time in another zone stored as UTC,
    bytes, NULLs) and skips a row another worker stored a moment ago."""
    feed_id = add_feed(engine)
    istanbul = timezone(timedelta(hours=3))
    given = replace(
        entry(1, title="Ünïcode ‘title’", text='50% off; it\'s "quoted"'),
        author="A. Writer",
        published_at=datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=istanbul),
        semantic_features=bytes(range(256)),
    )
    meanwhile = entry(2)
    with engine.begin() as c:
        article_store.store_entries(c, feed_id, [meanwhile], T0)
        # As if another worker's row had landed between our lookup and our insert.
        stored = article_store._insert(c, feed_id, [given, meanwhile, entry(3)], T0)
    assert [s.entry for s in stored] == [given, entry(3)]
    table = Article.__table__
    with engine.connect() as c:
        row = c.execute(select(table).where(table.c.id == stored[0].article_id)).one()
        count = c.execute(select(func.count()).select_from(table)).scalar_one()
    assert count == 3
    assert row.published_at == datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
    assert row.fetched_at == row.updated_at == T0
    assert (row.title, row.text, row.author) == (given.title, given.text, "A. Writer")
    assert row.semantic_features == bytes(range(256)) and row.guid == "guid-1"
    assert row.story_id is None and row.pruned_at is None and row.content_hash == given.content_hash


def test_an_entry_without_guid_is_updated_by_its_link(engine: Engine) -> None:
    feed_id = add_feed(engine)
    by_link = replace(
        entry(1),
        guid=None,
        identity_key=identity_key(None, "https://example.org/1", "Story 1", "body"),
    )
    edited = replace(by_link, text="edited", content_hash=content_hash("Story 1", "edited"))
    with engine.begin() as c:
        (stored,) = article_store.store_entries(c, feed_id, [by_link], T0).new
    with engine.begin() as c:
        result = article_store.store_entries(c, feed_id, [edited], T0 + timedelta(hours=1))
    assert (result.new, result.updated) == ([], 1)
    with engine.connect() as c:
        row = c.execute(
            select(Article.__table__).where(Article.__table__.c.id == stored.article_id)
        ).one()
    assert (row.text, row.content_hash) == ("edited", edited.content_hash)
    assert row.updated_at == T0 + timedelta(hours=1)


def test_the_same_guid_in_two_feeds_is_two_articles(engine: Engine) -> None:
    a, b = add_feed(engine, "a"), add_feed(engine, "b", "https://example.net/feed")
    with engine.begin() as c:
        assert len(article_store.store_entries(c, a, [entry(1)], T0).new) == 1
        assert len(article_store.store_entries(c, b, [entry(1)], T0).new) == 1


def test_due_feeds_are_leased_to_one_worker_until_the_lease_expires(engine: Engine) -> None:
    add_feed(engine, "a")
    add_feed(engine, "b", "https://example.net/feed")
    lease = timedelta(minutes=5)
    with engine.begin() as c:
        mine = feed_store.claim_due_feeds(c, owner="w1", now=T0, lease=lease)
    with engine.begin() as c:
        theirs = feed_store.claim_due_feeds(c, owner="w2", now=T0, lease=lease)
    assert {f.name for f in mine} == {"a", "b"} and theirs == []
    with engine.begin() as c:
        expired = feed_store.claim_due_feeds(
            c, owner="w2", now=T0 + lease + timedelta(seconds=1), lease=lease
        )
    assert {f.name for f in expired} == {"a", "b"}


def test_released_feeds_can_be_claimed_again_and_schedules_are_honoured(engine: Engine) -> None:
    feed_id = add_feed(engine)
    lease = timedelta(minutes=5)
    with engine.begin() as c:
        feed_store.claim_due_feeds(c, owner="w1", now=T0, lease=lease)
        feed_store.record_poll(c, feed_id, "w1", next_poll_at=T0 + timedelta(minutes=15))
    with engine.begin() as c:
        assert feed_store.claim_due_feeds(c, owner="w1", now=T0, lease=lease) == []
        forced = feed_store.claim_due_feeds(
            c, owner="w1", now=T0, lease=lease, ignore_schedule=True
        )
    assert [f.name for f in forced] == ["a"]
    with engine.begin() as c:
        assert feed_store.release_feeds(c, "w1") == 1


@pytest.mark.slow  # 70,000 feeds: about 5 s per database
def test_more_feeds_than_one_statement_binds_are_claimed_renewed_and_released(
    engine: Engine,
) -> None:
    """`poll --once --all` over more feeds than PostgreSQL's 65,535 parameters a statement."""
    count = 70_000
    with engine.begin() as c:
        c.execute(
            insert(Feed.__table__),
            [
                {"name": f"f{i}", "url": f"https://h{i % 64}.example/{i}", "source": "opml"}
                | {"configured_url": f"https://h{i % 64}.example/{i}", "created_at": T0}
                for i in range(count)
            ],
        )
    lease = timedelta(minutes=5)
    with engine.begin() as c:
        claimed = feed_store.claim_due_feeds(
            c, owner="w1", now=T0, lease=lease, ignore_schedule=True
        )
    ids = [f.id for f in claimed]
    with engine.begin() as c:
        renewed = feed_store.renew_leases(c, ids, "w1", T0 + 2 * lease)
        # Leased to w1 until T0 + 10 min: none is free for another worker at T0 + 6 min.
        others = feed_store.claim_due_feeds(
            c, owner="w2", now=T0 + lease + timedelta(minutes=1), lease=lease
        )
        released = feed_store.release_feeds(c, "w1", ids)
    assert (len(claimed), renewed, others, released) == (count, count, [], count)


def test_stopped_feeds_are_never_claimed(engine: Engine) -> None:
    feed_id = add_feed(engine)
    with engine.begin() as c:
        feed_store.record_poll(c, feed_id, "w", state="stopped", last_error="410 Gone")
        assert (
            feed_store.claim_due_feeds(
                c, owner="w", now=T0, lease=timedelta(minutes=1), ignore_schedule=True
            )
            == []
        )


def test_sync_follows_config_changes(engine: Engine) -> None:
    add_feed(engine, "a", "https://example.org/feed")
    with engine.begin() as c:
        c.execute(update(Feed.__table__).values(url="https://example.org/moved", etag='"x"'))
        feed_store.sync_feeds(c, [FeedSpec("a", "https://example.org/new", ("t",))], T0)
        (row,) = feed_store.list_feeds(c)
    assert row["url"] == "https://example.org/new" and row["tags"] == ["t"]
    with engine.begin() as c:
        feed_store.sync_feeds(c, [], T0)
        (row,) = feed_store.list_feeds(c)
    assert row["state"] == "stopped" and row["last_error"] == feed_store.REMOVED_FROM_CONFIG
    with engine.begin() as c:
        feed_store.sync_feeds(c, [FeedSpec("a", "https://example.org/new")], T0)
        (row,) = feed_store.list_feeds(c)
    assert row["state"] == "active" and row["last_error"] is None


def test_opml_feeds_survive_config_sync_and_duplicates_are_skipped(engine: Engine) -> None:
    with engine.begin() as c:
        added = feed_store.add_feeds(
            c,
            [
                FeedSpec("x", "https://x.example/rss", source="opml"),
                FeedSpec("y", "https://x.example/rss", source="opml"),
            ],
            T0,
        )
        feed_store.sync_feeds(c, [], T0)
        rows = feed_store.list_feeds(c)
    assert added == ["x"]
    assert [(r["name"], r["state"]) for r in rows] == [("x", "active")]


def test_list_articles_filters_and_counts(engine: Engine) -> None:
    feed_id = add_feed(engine)
    # --since is on fetch time: entry 2 was published long ago but first fetched now.
    old = replace(entry(2), published_at=T0 - timedelta(days=30))
    with engine.begin() as c:
        article_store.store_entries(c, feed_id, [entry(1)], T0 - timedelta(days=10))
        article_store.store_entries(c, feed_id, [old, entry(3)], T0)
        recent = article_store.list_articles(c, since=T0 - timedelta(days=1))
        limited = article_store.list_articles(c, limit=1)
        (feed,) = feed_store.list_feeds(c)
    assert {a["title"] for a in recent} == {"Story 2", "Story 3"}
    assert len(limited) == 1 and feed["articles"] == 3
    assert set(recent[0]) >= {
        "id",
        "feed",
        "guid",
        "url",
        "canonical_url",
        "title",
        "published_at",
        "fetched_at",
        "story_id",
    }


def test_a_feed_that_mints_new_guids_every_poll_stores_each_item_once(engine: Engine) -> None:
    """The same title and text under a new guid is the stored article again (issue 13);
    new text under a new guid, even with the same link, is a new article."""
    feed_id = add_feed(engine)

    def minted(n: int, poll: int, **changes: str) -> Any:
        e = replace(entry(n, **changes), guid=f"urn:poll-{poll}:{n}")
        return replace(e, identity_key=identity_key(e.guid, e.canonical_url, e.title, e.text))

    with engine.begin() as c:
        assert (
            len(article_store.store_entries(c, feed_id, [minted(1, 1), minted(2, 1)], T0).new) == 2
        )
    for poll in (2, 3, 4):
        with engine.begin() as c:
            again = article_store.store_entries(c, feed_id, [minted(1, poll), minted(2, poll)], T0)
        assert (again.new, again.unchanged) == ([], 2)
    with engine.begin() as c:
        fresh = article_store.store_entries(c, feed_id, [minted(1, 5, text="a new text")], T0)
    assert len(fresh.new) == 1
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(Article.__table__)).scalar_one() == 3


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1900, 1, 2),
        max_value=datetime(2200, 1, 1),
        timezones=st.timezones(),
    ),
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1)),
)
def test_a_utc_column_on_sqlite_holds_the_text_every_earlier_version_wrote(
    value: datetime, other: datetime
) -> None:
    # UTCDateTime formats for SQLite itself (schema.py says why): databases written before
    # hold SQLAlchemy's own text, and SQLite compares the text, so "fetched since" and the
    # story window read old and new rows alike only if it is the same, in the same order.
    dialect = sqlite.dialect()
    ours = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    sqlalchemys = DATETIME().bind_processor(dialect)
    assert ours is not None and sqlalchemys is not None
    naive_utc = value.astimezone(UTC).replace(tzinfo=None)
    assert ours(value) == sqlalchemys(naive_utc)
    later = other.replace(tzinfo=UTC)
    assert (ours(value) < ours(later)) == (value < later)
    with pytest.raises(ValueError, match="naive datetime"):
        ours(other)


def test_a_utc_column_reads_back_the_instant_it_was_given(engine: Engine) -> None:
    feed_id = add_feed(engine)
    istanbul = timezone(timedelta(hours=3))
    published = datetime(2026, 12, 7, 16, 47, 4, 250, tzinfo=istanbul)
    with engine.begin() as c:
        article_store.store_entries(c, feed_id, [replace(entry(1), published_at=published)], T0)
    with engine.connect() as c:
        stored = c.execute(select(Article.__table__.c.published_at)).scalar_one()
        since = c.execute(
            select(func.count()).where(Article.__table__.c.published_at >= published)
        ).scalar_one()
    assert stored == published and stored.tzinfo == UTC
    assert since == 1
