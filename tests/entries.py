"""Test material: normalized entries, stored feeds, the corpus's real outlet feeds."""

from __future__ import annotations

from pathlib import Path

from fixed_time import NOW
from sqlalchemy import Engine, select

from monitor.adapters.db import feed_store
from monitor.adapters.db.feed_store import FeedSpec
from monitor.adapters.db.schema import Feed
from monitor.core.identity import content_hash, identity_key
from monitor.core.model import NormalizedEntry

T0 = NOW


def entry(n: int, title: str | None = None, text: str = "body") -> NormalizedEntry:
    """Entry number `n` of a feed, as the parser would produce it."""
    title = title or f"Story {n}"
    return NormalizedEntry(
        identity_key=identity_key(f"guid-{n}", None, title, text),
        guid=f"guid-{n}",
        url=f"https://example.org/{n}",
        canonical_url=f"https://example.org/{n}",
        title=title,
        text=text,
        author=None,
        published_at=T0,
        content_hash=content_hash(title, text),
    )


def add_feed(engine: Engine, name: str = "a", url: str = "https://example.org/feed") -> int:
    """A feed row (as config or OPML would add it); returns its id."""
    with engine.begin() as connection:
        feed_store.add_feeds(connection, [FeedSpec(name, url)], T0)
        return connection.execute(
            select(Feed.__table__.c.id).where(Feed.__table__.c.name == name)
        ).scalar_one()


def real_news_feeds(corpus: Path, *, max_bytes: int | None = None) -> list[Path]:
    """The corpus's 13 real outlet feeds saved at one moment (manifest kind real-news-feed)."""
    rows = [r.split("\t") for r in (corpus / "manifest.tsv").read_text("utf-8").splitlines()[1:]]
    return [
        corpus / r[0]
        for r in rows
        if r[2] == "real-news-feed" and (max_bytes is None or int(r[4]) < max_bytes)
    ]
