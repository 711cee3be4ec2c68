"""Read-only views for the CLI: stored articles, stories and outbox rows. Each is one read
transaction; none writes. Rows are plain dicts or frozen rows with stable keys, for tables and
JSON alike."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from monitor.adapters.db import article_store, outbox_store, story_store
from monitor.adapters.db.outbox_store import DeliveryRow


def list_articles(
    engine: Engine,
    *,
    since: datetime | None = None,
    limit: int | None = None,
    feed: str | None = None,
    watchlist: str | None = None,
) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return article_store.list_articles(
            connection, since=since, limit=limit, feed=feed, watchlist=watchlist
        )


def list_stories(engine: Engine, *, since: datetime | None = None) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return story_store.list_stories(connection, since)


def list_deliveries(
    engine: Engine, *, statuses: Collection[str] | None = None, limit: int = 500
) -> list[DeliveryRow]:
    with engine.connect() as connection:
        return outbox_store.list_deliveries(connection, statuses=statuses, limit=limit)
