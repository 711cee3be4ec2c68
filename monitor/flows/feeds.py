"""Feed management from the CLI: the configured feeds synced into the database, feed health,
and feeds added from an OPML file. One short transaction each."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from monitor.adapters.db import feed_store
from monitor.adapters.db.feed_store import FeedSpec
from monitor.config import Settings
from monitor.core.opml import OPMLFeed


def configured_feeds(settings: Settings) -> list[FeedSpec]:
    """The `[[feeds]]` of config.toml as the store takes them."""
    return [
        FeedSpec(name=f.name, url=f.url, tags=tuple(f.tags), interval=f.interval)
        for f in settings.feeds
    ]


def list_feeds(engine: Engine, settings: Settings, *, now: datetime) -> list[dict[str, Any]]:
    """Every feed with its polling health, after syncing config.toml's feeds in."""
    with engine.begin() as connection:
        feed_store.sync_feeds(connection, configured_feeds(settings), now)
        return feed_store.list_feeds(connection)


def import_feeds(
    engine: Engine, settings: Settings, found: Sequence[OPMLFeed], *, now: datetime
) -> list[str]:
    """Add the feeds read from an OPML file that are not there yet; the names added."""
    specs = [FeedSpec(f.name, f.url, f.tags, source="opml") for f in found]
    with engine.begin() as connection:
        feed_store.sync_feeds(connection, configured_feeds(settings), now)
        return feed_store.add_feeds(connection, specs, now)
