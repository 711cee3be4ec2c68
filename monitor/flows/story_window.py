"""The window statistics of the copy-or-development decision, kept up to date per process.

`window_terms(connection)` returns core.developments.WindowTerms over the stories seen last
(`RecentStoryTerms`): built once from the stored articles of those stories, then fed only
the articles stored since (by id), so a digest or an alert reads a few new rows, never the
window's 100,000 articles (bench/developments_pipeline.py prints both costs). One cache per
database, shared by the process's threads under a lock.

Approximate by design, as statistics may be: an article committed out of id order by another
worker after a later one was read is not counted, and a merge of two stories is not seen.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import Connection

from monitor.adapters.db import digest_store
from monitor.core.developments import RECENT_STORIES, RecentStoryTerms, WindowTerms

# Rows read per refresh; more new articles than this since the last refresh (a first poll
# of many feeds) are read on the next refresh, and the statistics catch up.
REFRESH_ROWS = 20_000


@dataclass
class _Cache:
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: RecentStoryTerms = field(default_factory=RecentStoryTerms)
    last_id: int | None = None


_caches: dict[str, _Cache] = {}
_caches_lock = threading.Lock()


def _cache_for(connection: Connection) -> _Cache:
    key = connection.engine.url.render_as_string(hide_password=True)
    with _caches_lock:
        return _caches.setdefault(key, _Cache())


def window_terms(connection: Connection, *, recent_stories: int = RECENT_STORIES) -> WindowTerms:
    """WindowTerms over the `recent_stories` stories seen last, refreshed with what was
    stored since the previous call in this process."""
    cache = _cache_for(connection)
    with cache.lock:
        newest = digest_store.last_article_id(connection)
        if cache.last_id is not None and (newest is None or newest < cache.last_id):
            # A database rebuilt under the same URL (tests, a restore): start again.
            cache.counter, cache.last_id = RecentStoryTerms(recent_stories), None
        if cache.counter.capacity != recent_stories:
            cache.counter, cache.last_id = RecentStoryTerms(recent_stories), None
        rows = digest_store.window_articles(
            connection, after_id=cache.last_id, recent_stories=recent_stories, limit=REFRESH_ROWS
        )
        for article_id, story_id, title, text in rows:
            # An article without a story yet is a story of its own.
            cache.counter.add(story_id if story_id is not None else ("article", article_id),
                              title, text)  # fmt: skip
        if rows:
            cache.last_id = max(cache.last_id or 0, rows[-1][0])
        elif cache.last_id is None:
            cache.last_id = newest or 0
        return cache.counter.terms()


def forget() -> None:
    """Drop every cached window (tests and benchmarks that rebuild databases)."""
    with _caches_lock:
        _caches.clear()
