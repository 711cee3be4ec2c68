"""Feed management from the CLI: the configured feeds synced into the database, feed health,
feeds added from an OPML file, and `feeds add|remove|disable|enable|test|reset`. One short
transaction each; `probe_feed` fetches and parses and stores nothing."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine

from monitor.adapters.db import feed_store
from monitor.adapters.db.feed_store import FeedSpec
from monitor.config import NAME_PATTERN, Settings
from monitor.core.model import NormalizedEntry
from monitor.core.opml import ImportPlan, OPMLFeed, free_name, is_feed_url, plan_import
from monitor.core.states import FeedState
from monitor.errors import FetchError, InputError, ParseError

if TYPE_CHECKING:
    from monitor.adapters.http import Fetcher


def configured_feeds(settings: Settings) -> list[FeedSpec]:
    """The `[[feeds]]` of config.toml as the store takes them."""
    return [
        FeedSpec(name=f.name, url=f.url, tags=tuple(f.tags), interval=f.interval, title=f.title)
        for f in settings.feeds
    ]


def list_feeds(engine: Engine, settings: Settings, *, now: datetime) -> list[dict[str, Any]]:
    """Every feed with its polling health, after syncing config.toml's feeds in."""
    with engine.begin() as connection:
        feed_store.sync_feeds(connection, configured_feeds(settings), now)
        return feed_store.list_feeds(connection)


def import_feeds(
    engine: Engine, settings: Settings, found: Sequence[OPMLFeed], *, now: datetime
) -> ImportPlan:
    """Add the feeds read from an OPML file whose URL is not there yet, renaming those whose
    name another feed has; the plan says what was added, renamed and already present."""
    with engine.begin() as connection:
        feed_store.sync_feeds(connection, configured_feeds(settings), now)
        names, urls = feed_store.feed_names_and_urls(connection)
        plan = plan_import(found, names=names, urls=urls)
        specs = [FeedSpec(f.name, f.url, f.tags, source="opml") for f in plan.add]
        feed_store.add_feeds(connection, specs, now)
        return plan


# -- feeds managed from the command line ------------------------------------------------------

READ_ONLY = "is configured in {file}: change it there (feeds from config.toml are read-only here)"


@dataclass(frozen=True, slots=True)
class FeedProbe:
    """What one fetch and parse of a URL found; `error` says why not when nothing was."""

    url: str
    status: int | None = None
    final_url: str | None = None
    title: str | None = None
    format: str | None = None
    entries: list[NormalizedEntry] = field(default_factory=list)
    warning: str | None = None  # read, but not well-formed
    error: str | None = None


async def probe_feed(fetcher: Fetcher, url: str, *, now: datetime) -> FeedProbe:
    """Fetch `url` once and parse it as `poll` would; store nothing."""
    from monitor.adapters.feed_parse import parse_feed  # feedparser: only commands that parse

    try:
        result = await fetcher.fetch(url)
    except FetchError as exc:
        return FeedProbe(url, error=str(exc))
    if not 200 <= result.status < 300:
        return FeedProbe(url, result.status, result.url, error=f"HTTP {result.status}")
    try:
        parsed = parse_feed(
            result.body or b"", url=result.url, headers=result.headers, fetched_at=now
        )
    except ParseError as exc:
        return FeedProbe(url, result.status, result.url, error=str(exc))
    return FeedProbe(
        url,
        result.status,
        result.url,
        parsed.title,
        parsed.format,
        parsed.entries,
        parsed.bozo_reason,
    )


def check_new_feed(
    engine: Engine, settings: Settings, url: str, name: str | None, *, now: datetime
) -> None:
    """Before `feeds add`: InputError when the URL is not a feed URL, is there already, or
    `name` is taken or not a valid name."""
    if not is_feed_url(url):
        raise InputError(f"{url!r}: not an http:// or https:// URL with a host")
    if name is not None and not re.fullmatch(NAME_PATTERN, name):
        raise InputError(
            f"--name {name!r}: use letters, digits, '-', '_' and '.', starting with a letter "
            "or digit"
        )
    with engine.begin() as connection:
        feed_store.sync_feeds(connection, configured_feeds(settings), now)
        names, urls = feed_store.feed_names_and_urls(connection)
    if url in urls:
        raise InputError(f"{url}: already a feed (see `monitor feeds list`)")
    if name is not None and name in names:
        raise InputError(f"--name {name!r}: another feed has this name")


def add_feed(
    engine: Engine,
    *,
    url: str,
    name: str,
    tags: Sequence[str],
    interval: timedelta | None,
    now: datetime,
) -> str:
    """Store a feed added with `feeds add`, due at once; the name it got (made free)."""
    with engine.begin() as connection:
        names, _ = feed_store.feed_names_and_urls(connection)
        name = free_name(name, names)
        spec = FeedSpec(name, url, tuple(tags), interval, source="cli")
        feed_store.add_feeds(connection, [spec], now)
    return name


def _managed(connection: Connection, settings: Settings, name: str, *, writable: bool) -> Any:
    feed = feed_store.find_feed(connection, name)
    if feed is None:
        known = sorted(feed_store.feed_names(connection))
        raise InputError(f"no feed named {name!r}; known: {', '.join(known) or 'none yet'}")
    if writable and feed["source"] == "config":
        raise InputError(f"feed {name!r} " + READ_ONLY.format(file=settings.config_file))
    return feed


def remove_feed(engine: Engine, settings: Settings, name: str, *, now: datetime) -> int:
    """Delete a feed added by import or `feeds add`, with its articles; how many articles."""
    with engine.begin() as connection:
        feed_store.sync_feeds(connection, configured_feeds(settings), now)
        feed = _managed(connection, settings, name, writable=True)
        return feed_store.delete_feed(connection, feed["id"])


def set_enabled(
    engine: Engine, settings: Settings, name: str, enabled: bool, *, now: datetime
) -> str:
    """`feeds disable|enable`: the state the feed was in."""
    with engine.begin() as connection:
        feed_store.sync_feeds(connection, configured_feeds(settings), now)
        feed = _managed(connection, settings, name, writable=True)
        if enabled and feed["state"] == FeedState.DISABLED:
            feed_store.set_feed_state(
                connection, feed["id"], state=FeedState.ACTIVE.value, next_poll_at=now
            )
        elif not enabled and feed["state"] != FeedState.DISABLED:
            feed_store.set_feed_state(connection, feed["id"], state=FeedState.DISABLED.value)
        return str(feed["state"])


def reset_feed(engine: Engine, settings: Settings, name: str, *, now: datetime) -> str:
    """`feeds reset`: clear backoff and errors (a 410 stop too), poll at the next tick.
    Allowed for config feeds as well: it changes polling state, not the feed's definition.
    A disabled feed stays disabled. Returns the state it was in."""
    with engine.begin() as connection:
        feed_store.sync_feeds(connection, configured_feeds(settings), now)
        feed = _managed(connection, settings, name, writable=False)
        values: dict[str, Any] = {
            "consecutive_failures": 0,
            "last_error": None,
            "next_poll_at": now,
        }
        if feed["state"] != FeedState.DISABLED:
            values["state"] = FeedState.ACTIVE.value
        feed_store.set_feed_state(connection, feed["id"], **values)
        return str(feed["state"])
