"""adapters/db/story_store: assigning stories through the shared LSH index, on SQLite and, when
MONITOR_TEST_DATABASE_URL is set, on PostgreSQL (in a schema of its own, dropped afterwards).
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, func, insert, select, text, update
from sqlalchemy.engine import make_url

from monitor.adapters.db import story_store
from monitor.adapters.db.schema import Article, Feed, Story, StoryBand, metadata
from monitor.adapters.db.story_store import NewArticle
from monitor.core import dedup

PG_ENV = "MONITOR_TEST_DATABASE_URL"
NOW = datetime(2026, 2, 17, 12, 0, tzinfo=UTC)
WINDOW = timedelta(days=7)

COPY_A = (
    "Peru's Congress removes interim President Jerí as he faces corruption allegations",
    "Peru's Congress has voted to remove interim President José Jerí from office as he faces "
    "corruption allegations",
)
COPY_B = (
    "Peru's Congress removes interim President Jerí as he faces a corruption probe",
    "Peru's Congress on Tuesday voted to remove interim President José Jerí from office as he "
    "faces corruption allegations, triggering a fresh wave of political instability just weeks "
    "before…",
)
OTHER = (
    "Kenya's main airport resumes operations after 2-day strike",
    "Kenya's main airport in Nairobi is restarting normal operations after workers agreed to end "
    "a two-day strike",
)


@pytest.fixture(scope="session")
def _postgres_engine() -> Iterator[Engine]:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"PostgreSQL story tests need {PG_ENV}, e.g. postgresql+psycopg://...")
    schema = f"stories_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(make_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(make_url(url), connect_args={"options": f"-csearch_path={schema}"})
    try:
        metadata.create_all(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # create_all costs a few fsyncs per table; copying the empty file is far cheaper per test.
    path = tmp_path_factory.mktemp("stories") / "template.db"
    engine = create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    engine.dispose()
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def story_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        path = tmp_path / "stories.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        engine = create_engine(f"sqlite:///{path}")
        yield engine
        engine.dispose()
        return
    engine = request.getfixturevalue("_postgres_engine")
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())
    yield engine


class Articles:
    """Inserts feeds and articles the way the pipeline does before it assigns stories."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.feeds: dict[str, int] = {}
        self.next_id = 1

    def add(
        self,
        title: str,
        body: str,
        *,
        feed: str = "abc-news",
        url: str | None = None,
        content_hash: str | None = None,
        published_at: datetime = NOW,
        fetched_at: datetime = NOW,
    ) -> NewArticle:
        if feed not in self.feeds:
            self.feeds[feed] = len(self.feeds) + 1
            self.conn.execute(
                insert(Feed.__table__).values(
                    id=self.feeds[feed], name=feed, url=feed, configured_url=feed, created_at=NOW
                )
            )
        article_id, self.next_id = self.next_id, self.next_id + 1
        digest = content_hash or f"hash-{article_id}"
        self.conn.execute(
            insert(Article.__table__).values(
                id=article_id,
                feed_id=self.feeds[feed],
                identity_key=str(article_id),
                title=title,
                text=body,
                url=url,
                canonical_url=url,
                published_at=published_at,
                fetched_at=fetched_at,
                updated_at=fetched_at,
                content_hash=digest,
            )
        )
        return NewArticle(article_id, title, body, url, digest, published_at)


def assign(conn: Connection, *articles: NewArticle, now: datetime = NOW) -> list[int]:
    return story_store.assign_stories(conn, list(articles), now=now, window=WINDOW)


def test_a_syndicated_copy_joins_the_story_of_the_first(story_engine: Engine) -> None:
    with story_engine.begin() as conn:
        articles = Articles(conn)
        first = articles.add(*COPY_A, feed="abc-news")
        [story] = assign(conn, first)
        copy = articles.add(*COPY_B, feed="japan-today")
        other = articles.add(*OTHER, feed="japan-today")
        assert assign(conn, copy, other) == [story, story + 1]
        row = conn.execute(select(Story.__table__).where(Story.__table__.c.id == story)).one()
        assert row.article_count == 2
        assert row.title == COPY_A[0]


@pytest.mark.parametrize("size", [3, story_store.CHUNK + 1], ids=["feed", "over-one-lookup"])
def test_exact_signals_join_stored_stories_in_a_batch_of_any_size(
    story_engine: Engine, size: int
) -> None:
    """The same page and the same content join their stored stories whether the batch's
    URL and hash lookups go in one statement (a feed) or in several (a huge one)."""
    with story_engine.begin() as conn:
        articles = Articles(conn)
        by_url = articles.add(*COPY_A, url="https://example.org/peru")
        by_hash = articles.add(*OTHER, content_hash="kenya")
        stored = assign(conn, by_url, by_hash)
        batch = [
            articles.add(
                f"Unrelated report {n} on topic {n * 7919 % 1000}", f"Body {n} " * (n % 5 + 1)
            )
            for n in range(size - 2)
        ]
        # Re-headlined, so only the exact signal can join them.
        batch.append(articles.add("Edited headline", "Edited", url="https://example.org/peru"))
        batch.append(articles.add("Another headline", "Other", content_hash="kenya"))
        decided = assign(conn, *batch)
    assert decided[-2:] == stored
    assert not set(decided[:-2]) & set(stored)


def test_one_call_assigns_the_whole_batch_in_order(story_engine: Engine) -> None:
    with story_engine.begin() as conn:
        articles = Articles(conn)
        a, b, c = (articles.add(*COPY_A), articles.add(*OTHER), articles.add(*COPY_B))
        first, second, third = assign(conn, a, b, c)
        assert first == third != second


def test_single_article_entry_point_returns_the_story(story_engine: Engine) -> None:
    with story_engine.begin() as conn:
        article = Articles(conn).add(*COPY_A)
        story = story_store.assign_story(
            conn,
            article_id=article.article_id,
            title=article.title,
            text=article.text,
            canonical_url=None,
            content_hash=article.content_hash,
            published_at=NOW,
            now=NOW,
            window=WINDOW,
        )
        stored = conn.execute(select(Article.__table__.c.story_id, Article.__table__.c.signature))
        story_id, signature = stored.one()
        assert story_id == story
        assert dedup.same_story(dedup.signature_from_bytes(signature), dedup.minhash(*COPY_A))
        bands = conn.execute(select(func.count()).select_from(StoryBand.__table__)).scalar()
        assert bands == dedup.BANDS


@pytest.mark.parametrize("signal", ["canonical_url", "content_hash"])
def test_exact_signals_join_whatever_the_text(story_engine: Engine, signal: str) -> None:
    same = {"url": "https://example.org/a"} if signal == "canonical_url" else {"content_hash": "h"}
    with story_engine.begin() as conn:
        articles = Articles(conn)
        [story] = assign(conn, articles.add(*COPY_A, **same))
        assert assign(conn, articles.add(*OTHER, **same)) == [story]


def test_copies_outside_the_window_open_a_new_story(story_engine: Engine) -> None:
    with story_engine.begin() as conn:
        articles = Articles(conn)
        [old] = assign(conn, articles.add(*COPY_A, url="u", content_hash="h"), now=NOW - WINDOW)
        late = articles.add(*COPY_B, url="u", content_hash="h")
        assert assign(conn, late, now=NOW + timedelta(minutes=1)) != [old]


def test_last_seen_never_moves_back(story_engine: Engine) -> None:
    with story_engine.begin() as conn:
        articles = Articles(conn)
        assign(conn, articles.add(*COPY_A))
        assign(conn, articles.add(*COPY_B), now=NOW - timedelta(hours=1))
        row = conn.execute(select(Story.__table__)).one()
        assert (row.last_seen_at, row.article_count) == (NOW, 2)


def test_prune_bands_keeps_the_index_to_the_window(story_engine: Engine) -> None:
    with story_engine.begin() as conn:
        articles = Articles(conn)
        assign(conn, articles.add(*COPY_A), now=NOW - timedelta(days=8))
        assign(conn, articles.add(*OTHER), now=NOW)
        assert story_store.prune_bands(conn, NOW - WINDOW) == dedup.BANDS
        left = conn.execute(select(func.count()).select_from(StoryBand.__table__)).scalar()
        assert left == dedup.BANDS


def _band_rows(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(StoryBand.__table__)).scalar() or 0)


def test_an_exact_copy_joins_its_story_without_band_rows_of_its_own(
    story_engine: Engine,
) -> None:
    later = NOW + timedelta(minutes=10)
    with story_engine.begin() as conn:
        articles = Articles(conn)
        [story] = assign(conn, articles.add(*COPY_A, feed="abc-news", content_hash="h"))
        copies = [
            articles.add(*COPY_A, feed=feed, content_hash="h", fetched_at=later)
            for feed in ("npr", "npr-world")  # one batch, then another feed's
        ]
        assert assign(conn, copies[0], copies[1], now=later) == [story, story]
        again = articles.add(*COPY_A, feed="japan-today", content_hash="h", fetched_at=later)
        assert assign(conn, again, now=later) == [story]
        assert _band_rows(conn) == dedup.BANDS  # the first report's, once
        # Each copy keeps its signature, and a near copy still finds the story.
        signatures = conn.execute(select(Article.__table__.c.signature)).scalars().all()
        assert all(signatures)
        near = articles.add(*COPY_B, feed="reuters", fetched_at=later)
        assert assign(conn, near, now=later) == [story]


def test_a_near_copy_adds_only_the_band_values_its_story_lacks(story_engine: Engine) -> None:
    later = NOW + timedelta(minutes=10)
    with story_engine.begin() as conn:
        articles = Articles(conn)
        [story] = assign(conn, articles.add(*COPY_A, feed="abc-news"))
        near = articles.add(*COPY_B, feed="japan-today", fetched_at=later)
        assert assign(conn, near, now=later) == [story]
        shared = set(dedup.band_hashes(dedup.minhash(*COPY_A))) & set(
            dedup.band_hashes(dedup.minhash(*COPY_B))
        )
        assert 0 < len(shared) < dedup.BANDS  # the case: some values shared, some not
        assert _band_rows(conn) == 2 * dedup.BANDS - len(shared)
        # The next near copy is found through either article's rows.
        third = articles.add(*COPY_B[:1], COPY_B[1] + " Officials said.", feed="npr")
        assert assign(conn, third, now=later) == [story]


def test_near_copies_of_an_older_story_write_its_values_once_per_hour(
    story_engine: Engine,
) -> None:
    now = NOW + 2 * story_store.BAND_REFRESH
    with story_engine.begin() as conn:
        articles = Articles(conn)
        [story] = assign(conn, articles.add(*COPY_A))  # two hours ago
        near = articles.add(*COPY_B, feed="japan-today", fetched_at=now)
        assert assign(conn, near, now=now) == [story]
        assert _band_rows(conn) == 2 * dedup.BANDS  # the old rows are not this hour's
        # COPY_A's text under another hash: closest to the old report, and its values that
        # the near copy wrote this hour are not written again.
        again = articles.add(*COPY_A, feed="npr", content_hash="other", fetched_at=now)
        assert assign(conn, again, now=now) == [story]
        shared = set(dedup.band_hashes(dedup.minhash(*COPY_A))) & set(
            dedup.band_hashes(dedup.minhash(*COPY_B))
        )
        assert _band_rows(conn) == 3 * dedup.BANDS - len(shared)


def test_an_exact_copy_in_a_later_hour_indexes_the_story_again(story_engine: Engine) -> None:
    later = NOW + story_store.BAND_REFRESH + timedelta(minutes=5)
    with story_engine.begin() as conn:
        articles = Articles(conn)
        [story] = assign(conn, articles.add(*COPY_A, content_hash="h"))
        copy = articles.add(*COPY_A, feed="npr", content_hash="h", fetched_at=later)
        assert assign(conn, copy, now=later) == [story]
        assert _band_rows(conn) == 2 * dedup.BANDS


def test_a_story_kept_alive_by_copies_stays_findable_after_its_first_rows_expire(
    story_engine: Engine,
) -> None:
    first, copied = NOW - timedelta(days=6), NOW - timedelta(days=1)
    with story_engine.begin() as conn:
        articles = Articles(conn)
        original = articles.add(*COPY_A, content_hash="h", fetched_at=first)
        [story] = assign(conn, original, now=first)
        copy = articles.add(*COPY_A, feed="npr", content_hash="h", fetched_at=copied)
        assert assign(conn, copy, now=copied) == [story]
        # The first report's rows are out of the window now; the copy's are not.
        late = NOW + timedelta(days=2)
        near = articles.add(*COPY_B, feed="reuters", fetched_at=late)
        assert assign(conn, near, now=late) == [story]


def _title_feed(conn: Connection, name: str, title: str) -> None:
    conn.execute(update(Feed.__table__).where(Feed.__table__.c.name == name).values(title=title))


def test_list_stories_gives_articles_and_outlets(story_engine: Engine) -> None:
    with story_engine.begin() as conn:
        articles = Articles(conn)
        assign(conn, articles.add(*COPY_A, feed="abc-news"), now=NOW - timedelta(days=3))
        assign(conn, articles.add(*OTHER, feed="npr"))
        assign(conn, articles.add(*COPY_B, feed="japan-today"), now=NOW + timedelta(hours=1))
        _title_feed(conn, "japan-today", "Japan Today")
        listed = story_store.list_stories(conn, NOW - timedelta(days=1))
    assert [story["title"] for story in listed] == [COPY_A[0], OTHER[0]]
    peru = listed[0]
    # Outlets as digests name them (the configured title, else the feed's name); the feed
    # names beside them, as `--feed` takes them.
    assert peru["outlets"] == ["Japan Today", "abc-news"]
    assert peru["feeds"] == ["abc-news", "japan-today"]
    assert peru["article_count"] == 2
    assert [(a["feed"], a["outlet"]) for a in peru["articles"]] == [
        ("abc-news", "abc-news"),
        ("japan-today", "Japan Today"),
    ]
    assert set(peru["articles"][0]) == {"id", "title", "url", "published_at", "feed", "outlet"}
    assert peru["first_seen_at"] == NOW - timedelta(days=3)


def test_two_feeds_of_one_outlet_are_one_outlet_of_the_story(story_engine: Engine) -> None:
    with story_engine.begin() as conn:
        articles = Articles(conn)
        assign(conn, articles.add(*COPY_A, feed="sabah-politics"), now=NOW - timedelta(hours=2))
        assign(conn, articles.add(*COPY_B, feed="sabah-world"))
        _title_feed(conn, "sabah-politics", "Daily Sabah")
        _title_feed(conn, "sabah-world", "Daily Sabah")
        [story] = story_store.list_stories(conn, NOW - timedelta(days=1))
    assert story["article_count"] == 2
    assert story["outlets"] == ["Daily Sabah"]
    assert story["feeds"] == ["sabah-politics", "sabah-world"]


def test_band_lookup_is_one_index_seek_per_band(story_engine: Engine) -> None:
    # The window is never read whole: every band value is a seek on the table's own key
    # (value, created, article), read newest first from the key alone: on SQLite one seek
    # per arm of a UNION, on PostgreSQL one per element of the array (LATERAL).
    with story_engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            compiled = story_store._band_rows_statement(dedup.BANDS).compile(dialect=conn.dialect)
            query = "EXPLAIN QUERY PLAN " + str(compiled)
            params: tuple[object, ...] | dict[str, object] = tuple(
                0 for _ in compiled.positiontup or ()
            )
            seek = "SEARCH story_bands USING PRIMARY KEY (band_hash=? AND created>?)"
            seeks, scan = dedup.BANDS, "SCAN story_bands"
            plan = "\n".join(str(row[-1]) for row in conn.exec_driver_sql(query, params))
        else:
            # An empty table: without these PostgreSQL would rightly read it whole, or sort.
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            conn.execute(text("SET LOCAL enable_bitmapscan = off"))
            statement = story_store._LATERAL_BAND_ROWS.text
            rows = conn.execute(
                text("EXPLAIN " + statement), {"values": list(range(dedup.BANDS)), "since": 0}
            )
            plan = "\n".join(str(row[0]) for row in rows)
            # One scan node, run once per element of the array.
            seek, seeks = "Index Only Scan Backward using pk_story_bands", 1
            scan = "Seq Scan on story_bands"
    assert plan.count(seek) == seeks, plan
    assert scan not in plan, plan


def _index(
    conn: Connection, article: NewArticle, bands: dict[int, int], created_at: datetime
) -> int:
    """Give `article` a story of its own and exactly the stored band values of `bands`
    (band: value)."""
    story = conn.execute(
        insert(Story.__table__)
        .values(title=article.title, first_seen_at=created_at, last_seen_at=created_at)
        .returning(Story.__table__.c.id)
    ).scalar_one()
    signature = dedup.signature_to_bytes(dedup.minhash(article.title, article.text))
    conn.execute(
        Article.__table__.update()
        .where(Article.__table__.c.id == article.article_id)
        .values(story_id=story, signature=signature)
    )
    conn.execute(
        insert(StoryBand.__table__),
        [
            {
                "band_hash": value,
                "created": int(created_at.timestamp()),
                "article_id": article.article_id,
            }
            for value in bands.values()
        ],
    )
    return int(story)


def _offered(conn: Connection, bands: dict[int, int], *, exclude: int = 0) -> list[int]:
    query = [bands.get(band, 10**15 + band) for band in range(dedup.BANDS)]
    return story_store._offered(conn, query, exclude, NOW - WINDOW)


def test_a_common_band_value_offers_only_its_newest_rows(
    story_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(story_store, "ROWS_PER_BAND", 2)
    with story_engine.begin() as conn:
        articles = Articles(conn)
        carriers = [articles.add(f"carrier {i}", "text") for i in range(4)]
        for hours, carrier in enumerate(carriers):
            _index(conn, carrier, {5: 555}, NOW - timedelta(days=2) + timedelta(hours=hours))
        rare = articles.add("rare", "text")
        _index(conn, rare, {9: 999}, NOW - timedelta(days=6))  # the oldest of all
        offered = _offered(conn, {5: 555, 9: 999})
    assert offered == sorted([carriers[2].article_id, carriers[3].article_id, rare.article_id])


def test_band_rows_outside_the_window_are_not_offered(story_engine: Engine) -> None:
    with story_engine.begin() as conn:
        articles = Articles(conn)
        old, recent, itself = (articles.add(name, "text") for name in ("old", "recent", "self"))
        _index(conn, old, {5: 555}, NOW - WINDOW - timedelta(minutes=1))
        _index(conn, recent, {5: 555}, NOW - WINDOW + timedelta(minutes=1))
        _index(conn, itself, {5: 555}, NOW)
        offered = _offered(conn, {5: 555}, exclude=itself.article_id)
    assert offered == [recent.article_id]


def test_candidates_agreeing_on_more_bands_come_first(
    story_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(story_store, "MAX_CANDIDATES", 1)
    with story_engine.begin() as conn:
        articles = Articles(conn)
        copy, noise = articles.add("copy", "text"), articles.add("noise", "text")
        _index(conn, copy, {1: 111, 2: 222, 3: 333}, NOW - timedelta(days=3))
        _index(conn, noise, {1: 111}, NOW)  # newer, a higher id: it would win a tie
        offered = _offered(conn, {1: 111, 2: 222, 3: 333})
    assert offered == [copy.article_id]


def test_a_copy_is_found_through_its_other_bands_when_one_is_common(
    story_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(story_store, "ROWS_PER_BAND", 2)
    first_bands = story_store.stored_band_hashes(dedup.band_hashes(dedup.minhash(*COPY_A)))
    copy_bands = story_store.stored_band_hashes(dedup.band_hashes(dedup.minhash(*COPY_B)))
    shared = [band for band in range(dedup.BANDS) if first_bands[band] == copy_bands[band]]
    with story_engine.begin() as conn:
        articles = Articles(conn)
        first = articles.add(*COPY_A)
        [story] = assign(conn, first, now=NOW - timedelta(days=1))
        # Newer unrelated articles carry the value of one of the shared bands, more of them
        # than are read: the first article is no longer offered through that band.
        for i in range(4):
            noise = articles.add(f"{OTHER[0]} {i}", OTHER[1])
            _index(conn, noise, {shared[0]: first_bands[shared[0]]}, NOW - timedelta(hours=i))
        copy = articles.add(*COPY_B, feed="japan-today")
        assert story_store.find_story(conn, copy, since=NOW - WINDOW) == story


def test_two_workers_with_copies_at_once_make_one_story(request: pytest.FixtureRequest) -> None:
    engine: Engine = request.getfixturevalue("_postgres_engine")
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
        articles = Articles(conn)
        first, second = articles.add(*COPY_A), articles.add(*COPY_B, feed="japan-today")
    stories: list[int] = []
    with engine.connect() as worker_a:
        with worker_a.begin():
            stories += assign(worker_a, first)
            # Worker B starts while A still holds its transaction open.
            worker_b = threading.Thread(target=lambda: _assign_in_own_transaction(engine, second))
            worker_b.start()
            worker_b.join(timeout=0.3)
            assert worker_b.is_alive(), "worker B should wait for A's story lock"
        worker_b.join(timeout=10)
    with engine.connect() as conn:
        stored = conn.execute(select(Article.__table__.c.story_id).order_by("id")).scalars().all()
    assert stored == [stories[0], stories[0]]


def _assign_in_own_transaction(engine: Engine, article: NewArticle) -> None:
    with engine.begin() as conn:
        assign(conn, article)


def test_a_recurring_headline_a_day_later_is_a_story_of_its_own(story_engine: Engine) -> None:
    """The daily "Business Highlights": the same headline, no text, the same content hash;
    the next day's is the next edition. The same headline hours later, or the same page a
    day later, is the same report."""
    with story_engine.begin() as conn:
        articles = Articles(conn)
        day = NOW - timedelta(hours=60)
        [monday] = assign(conn, articles.add("Business Highlights", "", content_hash="bh",
                                             published_at=day))  # fmt: skip
        hours_later = articles.add("Business Highlights", "", feed="japan-today",
                                   content_hash="bh", published_at=day + timedelta(hours=4))  # fmt: skip
        tuesday = articles.add("Business Highlights", "", feed="japan-today", content_hash="bh",
                               published_at=day + timedelta(hours=30))  # fmt: skip
        copy, new = assign(conn, hours_later, tuesday)
        assert copy == monday and new != monday
        # Its own copy an hour later joins the new edition, in the same batch or the next.
        assert assign(conn, articles.add("Business Highlights", "", content_hash="bh",
                                         published_at=day + timedelta(hours=31))) == [new]  # fmt: skip
        # A report with a text is left to its text (here: the same content hash, a join).
        texted = articles.add("Business Highlights", "Stocks rose; oil fell.", content_hash="bh",
                              published_at=day + timedelta(hours=55))  # fmt: skip
        assert assign(conn, texted) == [new]
        # The same page is the same report, re-dated or not.
        page = articles.add("Weekly roundup", "", url="https://example.org/r", content_hash="r1",
                            published_at=day)  # fmt: skip
        [paged] = assign(conn, page)
        again = articles.add("Weekly roundup", "", url="https://example.org/r", content_hash="r2",
                             published_at=day + timedelta(hours=40))  # fmt: skip
        assert assign(conn, again) == [paged]
