"""What happens to a feed's new articles inside that feed's transaction: they are scored
against every watchlist that covers the feed, grouped into stories, and their matches stored.

The decisions are the core's (core.scoring, core.dedup); this module gathers the current
watchlists and applies the results. Scoring needs no database and runs first; story
assignment holds a lock on PostgreSQL until the transaction commits, so only the match rows
come after it. Immediate alerts and their outbox rows are created in the same transaction as
the matches they alert (the transactional outbox): whatever happens after the commit, a match
above `alert_threshold` has its alert, and a crash before it leaves neither.

The semantic part (watchlists with examples) comes from the same index `monitor score` and
`backtest` use (adapters/embed.SemanticIndex), built once per set of watchlists in force; the
article's words were hashed by the parse worker (NormalizedEntry.semantic_features), so
what runs here is the lookup and the products, for all of a feed's new articles at once.
While the writer is behind, a parse worker scores the entries itself against a snapshot of
the watchlists in force (adapters/worker_scoring.py, `for_parse_worker`), and scores made
against the set still in force are taken as they are; the others are scored here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection

from monitor.adapters.db import match_store
from monitor.adapters.db.article_store import StoredEntry
from monitor.adapters.db.feed_store import FeedRow
from monitor.adapters.db.match_store import NewMatch
from monitor.adapters.db.story_store import NewArticle, assign_stories
from monitor.adapters.embed import SemanticIndex
from monitor.adapters.worker_scoring import FeedScoring, Snapshots, matched_scores
from monitor.core.matcher import Matcher, compile_matcher
from monitor.core.scoring import Score
from monitor.core.watchlist import Watchlist
from monitor.flows.digests import AlertPolicy, alerts_in_transaction

log = logging.getLogger(__name__)


WatchlistSource = Callable[[], Collection[Watchlist]]
AlertChannels = Callable[[AlertPolicy], Sequence[str]]
# The semantic index for the watchlists in force (adapters/embed.SemanticIndexes), or None.
SemanticSource = Callable[[Sequence[Watchlist]], SemanticIndex | None]


class MatchNewArticles:
    """The Poller's `match_articles`: scores, stories, matches for one feed's new articles.

    `watchlists` is asked for the watchlists in force at every feed, so a hot reload takes
    effect at the next feed; the matcher is recompiled only when that set changed.
    """

    def __init__(
        self,
        watchlists: WatchlistSource,
        *,
        story_window: timedelta,
        on_match: Callable[[str, Score], None] | None = None,
        alert_channels: AlertChannels | None = None,
        semantic: SemanticSource | None = None,
        worker_snapshots: Snapshots | None = None,
    ) -> None:
        self._watchlists = watchlists
        self._semantic = semantic
        self._alert_channels = alert_channels
        self._story_window = story_window
        self._on_match = on_match
        self._compiled: tuple[tuple[Watchlist, ...], Matcher] | None = None
        # The parse workers score too, while the writer is behind (adapters/worker_scoring):
        # the event loop asks for the snapshot, the writer thread scores, both compile.
        self._snapshots = worker_snapshots
        self._lock = threading.Lock()

    def _in_force(self) -> tuple[tuple[Watchlist, ...], Matcher | None, SemanticIndex | None]:
        """The watchlists in force, their compiled matcher and their semantic index."""
        with self._lock:
            current = tuple(sorted(self._watchlists(), key=lambda w: w.id))
            if not current:
                return (), None, None
            if self._compiled is None or self._compiled[0] != current:
                self._compiled = (current, compile_matcher(current))
            index = self._semantic(current) if self._semantic is not None else None
            return current, self._compiled[1], index

    def for_parse_worker(self, feed: FeedRow) -> FeedScoring | None:
        """What a parse job needs to score `feed`'s entries against the watchlists in force
        now (the Poller's `worker_scoring`); None: the writer scores them."""
        if self._snapshots is None:
            return None
        _, matcher, index = self._in_force()
        snapshot = self._snapshots.current(matcher, index) if matcher is not None else None
        if snapshot is None:
            return None
        token, path = snapshot
        return FeedScoring(token, path, feed.name, tuple(feed.tags))

    def __call__(
        self,
        connection: Connection,
        feed: FeedRow,
        stored: Sequence[StoredEntry],
        now: datetime,
    ) -> int:
        in_force, matcher, index = self._in_force()
        found: list[tuple[int, str, Score]] = []
        if matcher is not None:
            token = self._snapshots.token_of(matcher, index) if self._snapshots else None
            # Scored by a parse worker against these very watchlists: the same scores.
            ready = {i.article_id for i in stored if token and i.entry.scored_with == token}
            unscored = [item for item in stored if item.article_id not in ready]
            log.debug(
                "%d of %d new articles were scored in a parse worker",
                len(ready),
                len(stored),
                extra={"feed": feed.name},
            )
            made = iter(
                matched_scores(matcher, index, [i.entry for i in unscored], feed.name, feed.tags)
            )
            for item in stored:
                scores = item.entry.matches if item.article_id in ready else next(made)
                found += [(item.article_id, wid, s) for wid, s in scores]
        story_ids = assign_stories(
            connection,
            [
                NewArticle(
                    article_id=item.article_id,
                    title=item.entry.title,
                    text=item.entry.text,
                    canonical_url=item.entry.canonical_url,
                    content_hash=item.entry.content_hash,
                    published_at=item.entry.published_at,
                    signature=item.entry.story_signature,
                    bands=item.entry.story_bands,
                )
                for item in stored
            ],
            now=now,
            window=self._story_window,
        )
        story_of = {item.article_id: story for item, story in zip(stored, story_ids, strict=True)}
        if found:
            match_store.record_matches(
                connection,
                [
                    NewMatch(watchlist_id, article_id, story_of[article_id], score, now)
                    for article_id, watchlist_id, score in found
                ],
            )
            for article_id, watchlist_id, score in found:
                log.debug(
                    "match %.1f: article %d",
                    score.score,
                    article_id,
                    extra={"feed": feed.name, "watchlist": watchlist_id, "article_id": article_id},
                )
                if self._on_match:
                    self._on_match(watchlist_id, score)
            self._alert(connection, in_force, found, now)
        return len(found)

    def _alert(
        self,
        connection: Connection,
        watchlists: Sequence[Watchlist],
        found: Sequence[tuple[int, str, Score]],
        now: datetime,
    ) -> None:
        if self._alert_channels is None:
            return
        # Sorted by id (as `watchlists` is), so two feeds' transactions on PostgreSQL take
        # the watchlist locks in the same order and never deadlock.
        for watchlist in watchlists:
            threshold = watchlist.alert_threshold
            if threshold is None:
                continue
            strong = {a for a, wid, s in found if wid == watchlist.id and s.score >= threshold}
            if not strong:
                continue
            channels = self._alert_channels(watchlist)
            for alert in alerts_in_transaction(
                connection, watchlist, channels=channels, article_ids=strong, now=now
            ):
                log.info(
                    "alert created: %s",
                    alert.content.items[0].title,
                    extra={"watchlist": watchlist.id, "digest_id": alert.digest_id},
                )
