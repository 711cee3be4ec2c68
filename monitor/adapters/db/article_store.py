"""Articles in the database: storing a feed's entries (new rows inserted, edited rows updated)
and listing them. Every function takes the caller's Connection and never commits.

Identity is decided when an entry is parsed (core.identity) and which entries are new, edited
or dropped (tombstones, an item listed twice) by core.ingest; this module only gathers the
stored rows and applies that plan. The database enforces identity with the unique
(feed_id, identity_key) index.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from monitor.adapters.db.dialect import insert_new_rows
from monitor.adapters.db.feed_store import outlet_name
from monitor.adapters.db.schema import articles, feeds, matches
from monitor.adapters.db.transactions import chunks
from monitor.core.backtest import StoredArticle
from monitor.core.ingest import EditedEntry, KnownArticle, classify_entries, distinct_identity_keys
from monitor.core.match_form import article_match_form
from monitor.core.model import NormalizedEntry

KEYS_PER_QUERY = 500  # identity keys per IN (...) list: under SQLite's bound-parameter limit


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """A newly stored article: its row id and the entry it came from."""

    article_id: int
    entry: NormalizedEntry


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What storing a feed's entries did; duplicates within the feed are in no count."""

    new: list[StoredEntry]
    updated: int
    unchanged: int


def store_entries(
    connection: Connection, feed_id: int, entries: Sequence[NormalizedEntry], fetched_at: datetime
) -> StoreResult:
    """Insert entries not seen before and update edited ones, in the caller's transaction.

    Gather (the feed's rows for the entries' identity keys), decide (core.ingest), apply.
    `unchanged` counts the tombstoned entries too: nothing is written for either.
    """
    keys = distinct_identity_keys(entries)
    if not keys:
        return StoreResult([], 0, 0)
    known = known_articles(connection, feed_id, keys)
    unknown = [e.content_hash for e in entries if e.identity_key not in known]
    plan = classify_entries(entries, known, same_content(connection, feed_id, unknown))
    new = _insert(connection, feed_id, plan.new, fetched_at)
    _update_edited(connection, plan.edited, fetched_at)
    return StoreResult(new, len(plan.edited), len(plan.unchanged) + len(plan.tombstoned))


def known_articles(
    connection: Connection, feed_id: int, identity_keys: Sequence[str]
) -> dict[str, KnownArticle]:
    """The feed's stored rows (tombstones included) for these identity keys."""
    known: dict[str, KnownArticle] = {}
    for start in range(0, len(identity_keys), KEYS_PER_QUERY):
        chunk = list(identity_keys[start : start + KEYS_PER_QUERY])
        rows = connection.execute(_KNOWN, {"feed_id": feed_id, "values": chunk})
        for row in rows:
            known[row.identity_key] = KnownArticle(
                article_id=row.id, content_hash=row.content_hash, pruned=row.pruned_at is not None
            )
    return known


def same_content(
    connection: Connection, feed_id: int, content_hashes: Sequence[str]
) -> dict[str, KnownArticle]:
    """The feed's stored rows with these content hashes (for entries under new keys)."""
    found: dict[str, KnownArticle] = {}
    hashes = list(dict.fromkeys(content_hashes))
    for start in range(0, len(hashes), KEYS_PER_QUERY):
        chunk = hashes[start : start + KEYS_PER_QUERY]
        rows = connection.execute(_SAME_CONTENT, {"feed_id": feed_id, "values": chunk})
        for row in rows:
            found.setdefault(
                row.content_hash,
                KnownArticle(row.id, row.content_hash, pruned=row.pruned_at is not None),
            )
    return found


def _of_feed(column: Any) -> Any:
    """The feed's rows whose `column` is one of `values`. Built once, at import: building a
    statement costs more than SQLAlchemy's compiled cache saves, run once per feed."""
    return (
        select(
            articles.c.id, articles.c.identity_key, articles.c.content_hash, articles.c.pruned_at
        )
        .where(articles.c.feed_id == bindparam("feed_id"))
        .where(column.in_(bindparam("values", expanding=True)))
    )


_KNOWN = _of_feed(articles.c.identity_key)
_SAME_CONTENT = _of_feed(articles.c.content_hash)


def _update_edited(
    connection: Connection, edited: Sequence[EditedEntry], fetched_at: datetime
) -> None:
    if not edited:
        return
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
            match_text=bindparam("match_text"),
            semantic_features=bindparam("semantic_features"),
        ),
        [
            {
                "row_id": edit.article_id,
                "title": edit.entry.title,
                "text": edit.entry.text,
                "url": edit.entry.url,
                "canonical_url": edit.entry.canonical_url,
                "author": edit.entry.author,
                "content_hash": edit.entry.content_hash,
                "updated_at": fetched_at,
                "match_text": _match_text(edit.entry),
                "semantic_features": edit.entry.semantic_features,
            }
            for edit in edited
        ],
    )


def _match_text(entry: NormalizedEntry) -> str:
    return entry.match_text or article_match_form(entry.title, entry.text)


def _insert(
    connection: Connection, feed_id: int, entries: Sequence[NormalizedEntry], fetched_at: datetime
) -> list[StoredEntry]:
    if not entries:
        return []
    rows = [
        (
            feed_id,
            e.identity_key,
            e.guid,
            e.url,
            e.canonical_url,
            e.title,
            e.text,
            e.author,
            e.published_at,
            fetched_at,
            fetched_at,
            e.content_hash,
            _match_text(e),
            e.semantic_features,
        )
        for e in entries
    ]
    # ON CONFLICT DO NOTHING: another worker may have stored the same entry a moment ago;
    # RETURNING tells us which rows are ours to score and alert.
    inserted = insert_new_rows(connection, articles, _INSERTED, rows, ("id", "identity_key"))
    ids = {key: int(article_id) for article_id, key in inserted}
    # In the entries' order (stories are assigned in it), one per stored row.
    return [StoredEntry(i, e) for e in entries if (i := ids.pop(e.identity_key, None)) is not None]


_INSERTED = (
    "feed_id",
    "identity_key",
    "guid",
    "url",
    "canonical_url",
    "title",
    "text",
    "author",
    "published_at",
    "fetched_at",
    "updated_at",
    "content_hash",
    "match_text",
    "semantic_features",
)


def list_articles(
    connection: Connection,
    *,
    since: datetime | None = None,
    limit: int | None = None,
    feed: str | None = None,
    watchlist: str | None = None,
    text_chars: int = 500,
) -> list[dict[str, Any]]:
    """Stored articles, newest first, for `articles list`: each with `summary`, its stored
    plain text cut to `text_chars` characters (None once pruned), and with `watchlist`, the
    watchlist's matches only, each with its stored `score` and `matched`."""
    query = (
        select(articles, feeds.c.name.label("feed"), outlet_name().label("outlet"))
        .join(feeds, feeds.c.id == articles.c.feed_id)
        .order_by(articles.c.published_at.desc(), articles.c.id.desc())
    )
    if since is not None:
        # Fetch time, as `stories list --since`: an article published last week but first
        # seen in this poll counts as new (README, "Command line").
        query = query.where(articles.c.fetched_at >= since)
    if feed is not None:
        query = query.where(feeds.c.name == feed)
    if watchlist is not None:
        query = query.add_columns(matches.c.score).join(
            matches,
            (matches.c.article_id == articles.c.id) & (matches.c.watchlist_id == watchlist),
        )
    if limit is not None:
        query = query.limit(limit)
    return [
        {
            "id": row.id,
            "feed": row.feed,
            "outlet": row.outlet,
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
            "summary": row.text[:text_chars] if row.text is not None else None,
            **({"score": row.score, "matched": True} if watchlist is not None else {}),
        }
        for row in connection.execute(query)
    ]


def articles_for_replay(
    connection: Connection, *, since: datetime, batch: int = 1000
) -> Iterator[StoredArticle]:
    """Stored articles fetched since `since` that still have their text, oldest first, with
    their feed: what backtest and backfill replay. Streamed `batch` rows at a time."""
    query = _replay_query().where(articles.c.fetched_at >= since).order_by(articles.c.id)
    yield from _replayed(connection.execution_options(yield_per=batch).execute(query))


def articles_by_id(connection: Connection, article_ids: Sequence[int]) -> list[StoredArticle]:
    """These stored articles as a replay needs them, by id; pruned ones are left out."""
    found: list[StoredArticle] = []
    for chunk in chunks(sorted(set(article_ids))):
        query = _replay_query().where(articles.c.id.in_(chunk)).order_by(articles.c.id)
        found += _replayed(connection.execute(query))
    return found


def _replay_query() -> Any:
    return (
        select(
            articles.c.id,
            articles.c.story_id,
            articles.c.url,
            articles.c.title,
            articles.c.text,
            articles.c.match_text,
            articles.c.semantic_features,
            feeds.c.name.label("feed"),
            feeds.c.tags,
        )
        .join(feeds, feeds.c.id == articles.c.feed_id)
        .where(articles.c.text.is_not(None))
    )


def _replayed(rows: Iterable[Any]) -> Iterator[StoredArticle]:
    tags_of: dict[str, tuple[str, ...]] = {}
    for row in rows:
        tags = tags_of.get(row.feed)
        if tags is None:
            tags = tags_of[row.feed] = tuple(row.tags or ())
        yield StoredArticle(
            article_id=row.id,
            story_id=row.story_id,
            url=row.url,
            title=row.title,
            text=row.text,
            match_text=row.match_text,
            semantic_features=row.semantic_features,
            feed_name=row.feed,
            feed_tags=tags,
        )
