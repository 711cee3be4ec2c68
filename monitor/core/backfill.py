"""Backfill decisions: which watchlists need one, and which stored articles it records.

When a watchlist appears, changes or becomes valid again, the stored articles of the backfill
window are scored against the new version (core.backtest's replay) and the matches that are
new for it are recorded for its next digest: never an alert, never an article that already
has a match for it, never a story already delivered for it. Pure: plain values in and out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from monitor.core.backtest import StoredArticle
from monitor.core.scoring import Score
from monitor.core.watchlist import Watchlist
from monitor.core.watchlist.versions import watchlist_version


@dataclass(frozen=True, slots=True)
class VersionChange:
    """A watchlist in force whose version differs from the one recorded (or none was)."""

    watchlist: Watchlist
    version: str
    new: bool  # nothing was recorded for it: the watchlist appeared


def changed_versions(
    in_force: Iterable[Watchlist], recorded: Mapping[str, str]
) -> list[VersionChange]:
    """The watchlists whose version is not the recorded one (`recorded`: id -> version)."""
    changes = []
    for watchlist in sorted(in_force, key=lambda w: w.id):
        version = watchlist_version(watchlist)
        if recorded.get(watchlist.id) != version:
            changes.append(VersionChange(watchlist, version, watchlist.id not in recorded))
    return changes


@dataclass(frozen=True, slots=True)
class BackfillPlan:
    record: tuple[tuple[StoredArticle, Score], ...]  # matches to store, for the next digest
    already_matched: int  # matching articles that have a match for the watchlist already
    delivered: int  # matching articles whose story was delivered for the watchlist


def plan_backfill(
    matching: Sequence[tuple[StoredArticle, Score]],
    *,
    matched_articles: Collection[int],
    delivered_stories: Collection[int],
) -> BackfillPlan:
    """Of the stored articles the new version matches, those to record."""
    record = []
    already = delivered = 0
    for article, score in matching:
        if article.article_id in matched_articles:
            already += 1
        elif article.story_id is not None and article.story_id in delivered_stories:
            delivered += 1
        else:
            record.append((article, score))
    return BackfillPlan(tuple(record), already, delivered)
