"""Backfill: a watchlist that appears, changes or becomes valid again gets the matches of the
stored articles of `[watchlists] backfill` (default 3 days) for its next digest.

`apply_watchlists` is what `monitor run` does on start and on every reload, and `monitor poll`
on start: it compares each watchlist in force with the version recorded in the database,
backfills the changed ones and records their versions (so `backtest` knows what is in force).
`backfill_watchlist` is `monitor watchlists apply ID`, whatever the recorded version.

Gather (stored articles, outside any write), decide (core.backtest scores, core.backfill
picks), apply (one write transaction per watchlist, under the watchlist's lock, so a digest
being made at the same moment sees all of the backfill or none of it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from monitor.adapters.db import article_store, digest_store, match_store, watchlist_store
from monitor.adapters.db.match_store import NewMatch
from monitor.adapters.db.transactions import write_transaction
from monitor.adapters.embed import SemanticIndex
from monitor.core.backfill import changed_versions, plan_backfill
from monitor.core.backtest import Replay
from monitor.core.states import MatchOrigin
from monitor.core.watchlist import Watchlist
from monitor.core.watchlist.versions import watchlist_to_dict, watchlist_version
from monitor.flows.backtest import semantic_of

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BackfillResult:
    watchlist_id: str
    scanned: int
    matched: int  # stored articles the version matches
    recorded: int  # new matches, waiting for the next digest
    already_matched: int
    delivered: int  # skipped: their story was delivered for the watchlist


def backfill_watchlist(
    engine: Engine,
    watchlist: Watchlist,
    *,
    since: datetime,
    now: datetime,
    semantic: SemanticIndex | None = None,
) -> BackfillResult:
    """Score the articles stored since `since` against `watchlist`; record the new matches
    for its next digest and record this version as the one in force. `semantic`: the index
    of the watchlists in force, for the semantic part (as in a poll)."""
    replay = Replay(None, watchlist)
    similar = semantic_of(semantic, replay.ids) if semantic is not None else None
    scanned = 0
    matching = []
    with engine.connect() as connection:
        stored = article_store.articles_for_replay(connection, since=since)
        for article, semantic_scores in replay.scored(stored, similar):
            scanned += 1
            score = replay.score(article, semantic_scores).after
            if score is not None and score.matched:
                matching.append((article, score))
        connection.rollback()
    with write_transaction(engine, lock=f"watchlist:{watchlist.id}") as connection:
        ids = [article.article_id for article, _ in matching]
        stories = {a.story_id for a, _ in matching if a.story_id is not None}
        plan = plan_backfill(
            matching,
            matched_articles=match_store.matched_articles(connection, watchlist.id, ids),
            delivered_stories=digest_store.delivered_stories(connection, watchlist.id, stories),
        )
        match_store.record_matches(
            connection,
            [
                NewMatch(watchlist.id, a.article_id, a.story_id, s, now, MatchOrigin.BACKFILL)
                for a, s in plan.record
            ],
        )
        _record_version(connection, watchlist, now=now, backfilled=True)
    result = BackfillResult(
        watchlist.id, scanned, len(matching), len(plan.record), plan.already_matched, plan.delivered
    )
    log.info(
        "backfill: %d stored articles scanned, %d match, %d recorded for the next digest "
        "(%d matched already, %d of stories delivered before)",
        result.scanned,
        result.matched,
        result.recorded,
        result.already_matched,
        result.delivered,
        extra={"watchlist": watchlist.id},
    )
    return result


def apply_watchlists(
    engine: Engine,
    watchlists: Iterable[Watchlist],
    *,
    window: timedelta,
    now: datetime,
    semantic: SemanticIndex | None = None,
) -> list[BackfillResult]:
    """Backfill every watchlist in force whose version changed since it was last recorded
    (`window` zero: record the versions only)."""
    with engine.connect() as connection:
        recorded = {
            wid: r.version for wid, r in watchlist_store.recorded_versions(connection).items()
        }
    results = []
    for change in changed_versions(watchlists, recorded):
        if window > timedelta(0):
            results.append(
                backfill_watchlist(
                    engine, change.watchlist, since=now - window, now=now, semantic=semantic
                )
            )
        else:
            with write_transaction(engine, lock=f"watchlist:{change.watchlist.id}") as connection:
                _record_version(connection, change.watchlist, now=now, backfilled=False)
    return results


def _record_version(
    connection: Connection, watchlist: Watchlist, *, now: datetime, backfilled: bool
) -> None:
    watchlist_store.record_version(
        connection,
        watchlist.id,
        version=watchlist_version(watchlist),
        definition=watchlist_to_dict(watchlist),
        now=now,
        backfilled_at=now if backfilled else None,
    )
