"""The database schema as SQLAlchemy 2 models; Alembic migrations are generated from it.

Writes on hot paths go through SQLAlchemy Core on the typed tables at the end of this module
(`feeds`, `articles`, ...); the ORM classes exist so the schema reads as one picture. Times
are stored as naive UTC and returned as aware UTC, so SQLite and PostgreSQL behave the same.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# The states are plain enums of the core; the schema stores their values.
from monitor.core.states import DeliveryStatus, DigestKind, FeedbackLabel, FeedState

__all__ = ["DeliveryStatus", "DigestKind", "FeedState", "FeedbackLabel"]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, naive UTC in the column."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # The string SQLAlchemy's SQLite DATETIME stores ("2026-12-07 13:47:04.000000"),
        # made in one C call: its own processor, behind process_bind_param, formats a dict
        # per value (4.6 -> 2.2 µs), and a first poll binds about 120 per feed (0.3 ms of
        # the writer's 7-10 ms per feed).
        def process(value: datetime | None) -> str | None:
            naive = self.process_bind_param(value, dialect)
            return None if naive is None else naive.isoformat(" ", "microseconds")

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Feed(Base):
    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(Text)  # current URL, after permanent redirects
    configured_url: Mapped[str] = mapped_column(Text)  # as written in config / OPML
    # The outlet's name as readers see it: `[[feeds]] title`, else the feed's own <title>
    # (stored when it is polled), else the feed's name. Kept apart so a poll never overwrites
    # what the operator wrote.
    title: Mapped[str | None] = mapped_column(String(300))
    feed_title: Mapped[str | None] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(20), default="config")  # config | opml
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    interval_seconds: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default=FeedState.ACTIVE.value)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    body_hash: Mapped[str | None] = mapped_column(String(64))
    # The feed's RSS <ttl>: a 304 has no body to read it from, yet it still holds.
    ttl_seconds: Mapped[int | None] = mapped_column(Integer)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_polled_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Story(Base):
    """A cluster of articles that carry the same story (syndicated copies, re-headlines)."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(Text, default="")
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    article_count: Mapped[int] = mapped_column(Integer, default=1)


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("feed_id", "identity_key"),
        Index("ix_articles_published_at", "published_at"),
        Index("ix_articles_fetched_at", "fetched_at"),
        # Story assignment looks up the stories of the stored articles with the same
        # canonical URL or content hash. With story_id in the key it reads the index alone:
        # story_id sits behind the text in the row, and reading it walked every matching
        # row's overflow pages (a copy stored 100 times cost 100 of those; migration 0009).
        Index("ix_articles_canonical_url_story", "canonical_url", "story_id"),
        # fetched_at too: an exact copy's band rows are written once per story and hour
        # (story_store.BAND_REFRESH), and the lookup asks when the pair was last fetched.
        Index("ix_articles_content_hash_story_fetched", "content_hash", "story_id", "fetched_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    # guid, else canonical link, else a hash of title and text: see core.identity
    identity_key: Mapped[str] = mapped_column(String(64))
    guid: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    canonical_url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str | None] = mapped_column(Text)  # None once pruned: the row is a tombstone
    author: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime]
    fetched_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    content_hash: Mapped[str] = mapped_column(String(64))
    story_id: Mapped[int | None] = mapped_column(
        ForeignKey("stories.id", ondelete="SET NULL"), index=True
    )
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)  # MinHash, for candidates
    pruned_at: Mapped[datetime | None]
    # Title and text in the matcher's folded match form (core.matcher.article_match_form), so
    # backtest and backfill replay stored articles without folding them again. None for rows
    # stored before migration 0003 and once pruned.
    match_text: Mapped[str | None] = mapped_column(Text)
    # The article's words as the semantic model reads them (core.semantic_features), made by
    # the parse workers: backtest, backfill and explain score the semantic part from them.
    # None for rows stored before migration 0007 and once pruned (made again from the text).
    semantic_features: Mapped[bytes | None] = mapped_column(LargeBinary)


class StoryBand(Base):
    """LSH band values of the near-duplicate index; shared by every worker through the DB.

    The table is its own covering index: the primary key (value, second created, article) is
    all there is, without a rowid on SQLite, so a lookup reads the window and the article from
    the key alone. No foreign keys: a row of a deleted article is never offered (the lookup
    joins articles) and leaves with the window (story_store.prune_bands). See story_store.py.
    """

    __tablename__ = "story_bands"
    __table_args__ = ({"sqlite_with_rowid": False},)

    band_hash: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    created: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    article_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class Digest(Base):
    """One digest or immediate alert of one watchlist; its matches point at it."""

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("watchlist_id", "kind", "window_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    watchlist_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default=DigestKind.DIGEST.value)
    # The unique key that lets several workers create a digest once: the window end for
    # scheduled digests, the story for alerts.
    window_key: Mapped[str] = mapped_column(String(100))
    window_start: Mapped[datetime | None]
    window_end: Mapped[datetime]
    created_at: Mapped[datetime]
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # the rendered-ready digest, frozen


class Match(Base):
    """An article that reached a watchlist's threshold, with the explanation of its score."""

    __tablename__ = "matches"
    __table_args__ = (
        UniqueConstraint("watchlist_id", "article_id"),
        Index("ix_matches_pending", "watchlist_id", "digest_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    watchlist_id: Mapped[str] = mapped_column(String(200))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    story_id: Mapped[int | None] = mapped_column(Integer, index=True)
    score: Mapped[float] = mapped_column(Float)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON)
    matched_at: Mapped[datetime]
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digests.id", ondelete="SET NULL"))
    alert_digest_id: Mapped[int | None] = mapped_column(
        ForeignKey("digests.id", ondelete="SET NULL")
    )
    # A later copy of a story already delivered for this watchlist: shown as "also reported
    # by", never delivered again.
    duplicate_of_match_id: Mapped[int | None] = mapped_column(Integer)
    # How the match was found (core.states.MatchOrigin): by a poll, or by a backfill, which
    # never alerts.
    origin: Mapped[str] = mapped_column(String(20), default="poll", server_default="poll")
    # Why a strong match got no immediate alert (core.states.HeldReason), for `explain`.
    held_reason: Mapped[str | None] = mapped_column(String(40))


class StoryDecision(Base):
    """Copy or development, for a match whose story the watchlist had already been sent
    (core.developments): for explain, `stories list` and the logs. One row per match; a
    later decision for the same match (the digest after an alert's) replaces it."""

    __tablename__ = "story_decisions"

    match_id: Mapped[int] = mapped_column(
        ForeignKey("matches.id", ondelete="CASCADE"), primary_key=True
    )
    story_id: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(20))  # core.developments.Kind
    rule: Mapped[str] = mapped_column(String(40))  # core.developments.Rule
    evidence: Mapped[str] = mapped_column(Text, default="")
    new_sentence: Mapped[str] = mapped_column(Text, default="")
    probability: Mapped[float] = mapped_column(Float)
    # A copy: the match it repeats; a development: the delivered match it updates.
    against_match_id: Mapped[int] = mapped_column(Integer)
    decided_at: Mapped[datetime]


class WatchlistVersion(Base):
    """The version of each watchlist last put in force, and when its backfill ran.

    `definition` is the watchlist itself (core.watchlist.versions.watchlist_to_dict), so
    `backtest` can replay the version in force while the file on disk holds an edit.
    """

    __tablename__ = "watchlist_versions"

    watchlist_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    recorded_at: Mapped[datetime]
    backfilled_at: Mapped[datetime | None]


class Delivery(Base):
    """The outbox: one row per (digest or alert, channel)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("digest_id", "channel"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    # The channel's targets that accepted an earlier attempt (keys of Apprise URLs, never the
    # URLs): a retry skips them.
    delivered_parts: Mapped[list[Any] | None] = mapped_column(JSON)


class Feedback(Base):
    """An analyst's label (core.states.FeedbackLabel) on an article for a watchlist.

    Every label is a row, so the history is kept; the current label is the newest row per
    (watchlist, story), or per (watchlist, article) for an article without a story.
    `token_id` is the one-click link's token that stored the row: unique, so a replayed link
    stores nothing. Labels typed at the command line have none.
    """

    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_watchlist", "watchlist_id", "labelled_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    watchlist_id: Mapped[str] = mapped_column(String(200))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    # The article's story when it was labelled: the label speaks for the whole story.
    story_id: Mapped[int | None] = mapped_column(Integer, index=True)
    label: Mapped[str] = mapped_column(String(20))
    who: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    labelled_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    token_id: Mapped[str | None] = mapped_column(String(64), unique=True)


metadata = Base.metadata


def _table(model: type[Base]) -> Table:
    # Declarative models always map to a Table; the ORM types `__table__` more loosely.
    table = model.__table__
    assert isinstance(table, Table)
    return table


# The tables, typed once, for the SQLAlchemy Core statements of the stores.
feeds = _table(Feed)
stories = _table(Story)
articles = _table(Article)
story_bands = _table(StoryBand)
digests = _table(Digest)
matches = _table(Match)
deliveries = _table(Delivery)
watchlist_versions = _table(WatchlistVersion)
feedback = _table(Feedback)
story_decisions = _table(StoryDecision)
