"""The reads `monitor explain` makes about one stored article: the article and its feed, the
articles that share its URL or text, its story's members, its matches and the digests, alerts
and deliveries they went to. Takes a Connection, never writes; the verdicts are core.explain's.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select

from monitor.adapters.db.schema import articles, deliveries, digests, feeds, matches
from monitor.core.explain import DigestFacts, Member


@dataclass(frozen=True, slots=True)
class TracedArticle:
    article_id: int
    title: str
    url: str | None
    canonical_url: str | None
    text: str | None
    published_at: datetime
    story_id: int | None
    feed: str
    feed_url: str
    feed_tags: tuple[str, ...]
    feed_last_status: int | None
    feed_last_polled_at: datetime | None
    member: Member


@dataclass(frozen=True, slots=True)
class StoredMatchRow:
    match_id: int
    watchlist_id: str
    score: float
    explanation: dict[str, Any]
    matched_at: datetime
    origin: str
    held_reason: str | None
    digest_id: int | None
    alert_digest_id: int | None
    duplicate_of_match_id: int | None


def find_article_ids(connection: Connection, *, url: str, canonical: str | None) -> list[int]:
    """Articles whose link is `url` or whose canonical URL is `canonical`, oldest first."""
    condition = articles.c.url == url
    if canonical:
        condition = or_(condition, articles.c.canonical_url == canonical)
    return list(
        connection.execute(select(articles.c.id).where(condition).order_by(articles.c.id)).scalars()
    )


def _member(row: Any) -> Member:
    return Member(
        article_id=row.id,
        feed=row.feed,
        canonical_url=row.canonical_url,
        content_hash=row.content_hash,
        signature=row.signature,
        fetched_at=row.fetched_at,
        updated_at=row.updated_at,
    )


_MEMBER_COLUMNS = (
    articles.c.id,
    articles.c.canonical_url,
    articles.c.content_hash,
    articles.c.signature,
    articles.c.fetched_at,
    articles.c.updated_at,
    feeds.c.name.label("feed"),
)


def traced_article(connection: Connection, article_id: int) -> TracedArticle | None:
    row = connection.execute(
        select(
            *_MEMBER_COLUMNS,
            articles.c.title,
            articles.c.url,
            articles.c.text,
            articles.c.published_at,
            articles.c.story_id,
            feeds.c.url.label("feed_url"),
            feeds.c.tags,
            feeds.c.last_status,
            feeds.c.last_polled_at,
        )
        .join(feeds, feeds.c.id == articles.c.feed_id)
        .where(articles.c.id == article_id)
    ).one_or_none()
    if row is None:
        return None
    return TracedArticle(
        article_id=row.id,
        title=row.title,
        url=row.url,
        canonical_url=row.canonical_url,
        text=row.text,
        published_at=row.published_at,
        story_id=row.story_id,
        feed=row.feed,
        feed_url=row.feed_url,
        feed_tags=tuple(row.tags or ()),
        feed_last_status=row.last_status,
        feed_last_polled_at=row.last_polled_at,
        member=_member(row),
    )


def same_item_candidates(
    connection: Connection, article_id: int, canonical_url: str | None, content_hash: str
) -> list[Member]:
    """Other articles with the same canonical URL or the same content hash."""
    condition = articles.c.content_hash == content_hash
    if canonical_url:
        condition = or_(condition, articles.c.canonical_url == canonical_url)
    rows = connection.execute(
        select(*_MEMBER_COLUMNS)
        .join(feeds, feeds.c.id == articles.c.feed_id)
        .where(condition, articles.c.id != article_id)
        .order_by(articles.c.id)
    )
    return [_member(row) for row in rows]


def story_members(connection: Connection, story_id: int) -> list[Member]:
    rows = connection.execute(
        select(*_MEMBER_COLUMNS)
        .join(feeds, feeds.c.id == articles.c.feed_id)
        .where(articles.c.story_id == story_id)
        .order_by(articles.c.id)
    )
    return [_member(row) for row in rows]


def matches_of_article(connection: Connection, article_id: int) -> list[StoredMatchRow]:
    rows = connection.execute(
        select(matches).where(matches.c.article_id == article_id).order_by(matches.c.watchlist_id)
    )
    return [_match_row(row) for row in rows]


def match_by_id(connection: Connection, match_id: int) -> StoredMatchRow | None:
    row = connection.execute(select(matches).where(matches.c.id == match_id)).one_or_none()
    return _match_row(row) if row is not None else None


def _match_row(row: Any) -> StoredMatchRow:
    return StoredMatchRow(
        match_id=row.id,
        watchlist_id=row.watchlist_id,
        score=row.score,
        explanation=row.explanation or {},
        matched_at=row.matched_at,
        origin=row.origin,
        held_reason=row.held_reason,
        digest_id=row.digest_id,
        alert_digest_id=row.alert_digest_id,
        duplicate_of_match_id=row.duplicate_of_match_id,
    )


def digest_facts(connection: Connection, digest_ids: Collection[int]) -> dict[int, DigestFacts]:
    """Digests and alerts by id, each with its channels' delivery status."""
    ids: Sequence[int] = sorted(set(digest_ids))
    if not ids:
        return {}
    channels: dict[int, list[tuple[str, str]]] = {}
    for digest_id, channel, status in connection.execute(
        select(deliveries.c.digest_id, deliveries.c.channel, deliveries.c.status)
        .where(deliveries.c.digest_id.in_(ids))
        .order_by(deliveries.c.channel)
    ):
        channels.setdefault(digest_id, []).append((channel, status))
    return {
        row.id: DigestFacts(row.id, row.kind, row.created_at, tuple(channels.get(row.id, ())))
        for row in connection.execute(
            select(digests.c.id, digests.c.kind, digests.c.created_at).where(digests.c.id.in_(ids))
        )
    }
