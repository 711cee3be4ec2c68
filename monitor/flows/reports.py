"""Read-only views for the CLI: stored articles, stories and outbox rows. Each is one read
transaction; none writes. Rows are plain dicts or frozen rows with stable keys, for tables and
JSON alike."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from monitor.adapters.db import (
    article_store,
    digest_store,
    feed_store,
    match_store,
    outbox_store,
    story_store,
)
from monitor.adapters.db.outbox_store import DeliveryRow


def list_articles(
    engine: Engine,
    *,
    since: datetime | None = None,
    limit: int | None = None,
    feed: str | None = None,
    watchlist: str | None = None,
    text_chars: int = 500,
) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return article_store.list_articles(
            connection,
            since=since,
            limit=limit,
            feed=feed,
            watchlist=watchlist,
            text_chars=text_chars,
        )


def known_names(engine: Engine) -> tuple[set[str], set[str]]:
    """(stored feed names, watchlist ids with stored matches): what `--feed` and
    `--watchlist` may name beyond the watchlist folder."""
    with engine.connect() as connection:
        return feed_store.feed_names(connection), match_store.watchlist_ids(connection)


def list_stories(engine: Engine, *, since: datetime | None = None) -> list[dict[str, Any]]:
    """Stories seen since `since`, newest first, each with its developments in order (the
    articles decided to be news of the story after it was delivered: issue 9)."""
    with engine.connect() as connection:
        found = story_store.list_stories(connection, since)
        developments = digest_store.story_developments(connection, [s["id"] for s in found])
    return [{**story, "developments": developments.get(story["id"], [])} for story in found]


def list_deliveries(
    engine: Engine, *, statuses: Collection[str] | None = None, limit: int = 500
) -> list[DeliveryRow]:
    with engine.connect() as connection:
        return outbox_store.list_deliveries(connection, statuses=statuses, limit=limit)
