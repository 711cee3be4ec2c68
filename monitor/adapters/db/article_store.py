"""Articles in the database: storing a feed's entries in one transaction (new rows inserted,
edited rows updated, tombstones respected) and listing them.

Identity is decided when an entry is parsed (core.identity); the database only enforces it
with the unique (feed_id, identity_key) index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from monitor.adapters.db.dialect import insert_ignoring_conflicts
from monitor.adapters.db.schema import articles, feeds, matches
from monitor.core.model import NormalizedEntry


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """A newly stored article: its row id and the entry it came from."""

    article_id: int
    entry: NormalizedEntry


@dataclass(frozen=True, slots=True)
class StoreResult:
    new: list[StoredEntry]
    updated: int
    unchanged: int


def _dedupe_within_feed(entries: Sequence[NormalizedEntry]) -> list[NormalizedEntry]:
    """A feed that lists one item twice stores it once (the first occurrence wins)."""
    seen: set[str] = set()
    unique = []
    for entry in entries:
        if entry.identity_key not in seen:
            seen.add(entry.identity_key)
            unique.append(entry)
    return unique


def store_entries(
    connection: Connection, feed_id: int, entries: Sequence[NormalizedEntry], fetched_at: datetime
) -> StoreResult:
    """Insert entries not seen before and update edited ones; call inside a transaction."""
    entries = _dedupe_within_feed(entries)
    if not entries:
        return StoreResult([], 0, 0)
    known: dict[str, tuple[int, str, bool]] = {}
    keys = [entry.identity_key for entry in entries]
    for start in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
        rows = connection.execute(
            select(
                articles.c.id,
                articles.c.identity_key,
                articles.c.content_hash,
                articles.c.pruned_at,
            )
            .where(articles.c.feed_id == feed_id)
            .where(articles.c.identity_key.in_(keys[start : start + 500]))
        )
        for row in rows:
            known[row.identity_key] = (row.id, row.content_hash, row.pruned_at is not None)

    fresh = [entry for entry in entries if entry.identity_key not in known]
    edited = [
        (known[entry.identity_key][0], entry)
        for entry in entries
        if entry.identity_key in known
        and not known[entry.identity_key][2]  # a tombstone is never revived
        and known[entry.identity_key][1] != entry.content_hash
    ]
    new = _insert(connection, feed_id, fresh, fetched_at)
    if edited:
        connection.execute(
            update(articles)
            .where(articles.c.id == bindparam("row_id"))
            .values(
                title=bindparam("title"),
                text=bindparam("text"),
                url=bindparam("url"),
                canonical_url=bindparam("canonical_url"),
                author=bindparam("author"),
                content_hash=bindparam("content_hash"),
                updated_at=bindparam("updated_at"),
            ),
            [
                {
                    "row_id": row_id,
                    "title": entry.title,
                    "text": entry.text,
                    "url": entry.url,
                    "canonical_url": entry.canonical_url,
                    "author": entry.author,
                    "content_hash": entry.content_hash,
                    "updated_at": fetched_at,
                }
                for row_id, entry in edited
            ],
        )
    return StoreResult(new, len(edited), len(entries) - len(fresh) - len(edited))


def _insert(
    connection: Connection, feed_id: int, entries: list[NormalizedEntry], fetched_at: datetime
) -> list[StoredEntry]:
    if not entries:
        return []
    rows = [
        {
            "feed_id": feed_id,
            "identity_key": e.identity_key,
            "guid": e.guid,
            "url": e.url,
            "canonical_url": e.canonical_url,
            "title": e.title,
            "text": e.text,
            "author": e.author,
            "published_at": e.published_at,
            "fetched_at": fetched_at,
            "updated_at": fetched_at,
            "content_hash": e.content_hash,
        }
        for e in entries
    ]
    # ON CONFLICT DO NOTHING: another worker may have stored the same entry a moment ago;
    # RETURNING tells us which rows are ours to score and alert.
    statement = insert_ignoring_conflicts(connection, articles).returning(
        articles.c.id, articles.c.identity_key, sort_by_parameter_order=True
    )
    by_key = {entry.identity_key: entry for entry in entries}
    result = connection.execute(statement, rows)
    return [StoredEntry(row.id, by_key[row.identity_key]) for row in result]


def list_articles(
    connection: Connection,
    *,
    since: datetime | None = None,
    limit: int | None = None,
    feed: str | None = None,
    watchlist: str | None = None,
) -> list[dict[str, Any]]:
    """Stored articles, newest first, for `articles list`."""

    query = (
        select(articles, feeds.c.name.label("feed"))
        .join(feeds, feeds.c.id == articles.c.feed_id)
        .order_by(articles.c.published_at.desc(), articles.c.id.desc())
    )
    if since is not None:
        query = query.where(articles.c.published_at >= since)
    if feed is not None:
        query = query.where(feeds.c.name == feed)
    if watchlist is not None:
        query = query.where(
            articles.c.id.in_(
                select(matches.c.article_id).where(matches.c.watchlist_id == watchlist)
            )
        )
    if limit is not None:
        query = query.limit(limit)
    return [
        {
            "id": row.id,
            "feed": row.feed,
            "guid": row.guid,
            "url": row.url,
            "canonical_url": row.canonical_url,
            "title": row.title,
            "author": row.author,
            "published_at": row.published_at,
            "fetched_at": row.fetched_at,
            "updated_at": row.updated_at,
            "story_id": row.story_id,
            "pruned": row.pruned_at is not None,
        }
        for row in connection.execute(query)
    ]
