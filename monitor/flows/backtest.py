"""`monitor backtest`: replay the stored articles of a window through the watchlist in force
and through an edit of it, and report what the edit changes. Read-only: one read transaction,
nothing written.

Gather: the version in force (what the daemon or the last poll recorded in
watchlist_versions; a caller may pass another), the stored articles of the window with their
stored match form, and the articles labelled for the watchlist (whenever they were stored: a
label is worth replaying however old). Decide: core.backtest, and core.label_replay for the
precision before and after on the labelled articles. The throughput (articles/s) is measured
here, on the same code path the CLI runs, so bench/backtest.py prints what a user gets.

The semantic part comes from the same index as a poll's (adapters/embed.SemanticIndex,
fitted on every watchlist of the folder), with both versions in it, and each article's words
as stored by the parse workers (made from the text for articles stored before they were).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from monitor.adapters.db import article_store, watchlist_store
from monitor.adapters.embed import SemanticIndex, build_index, folder_sources
from monitor.core.backtest import BEFORE_SUFFIX, BacktestDiff, Replay, SemanticOf, StoredArticle
from monitor.core.label_replay import LabelReplay, replay_labels
from monitor.core.semantic import SemanticScore
from monitor.core.semantic_features import features_or_text
from monitor.core.watchlist import Watchlist
from monitor.core.watchlist.versions import watchlist_from_dict
from monitor.flows.watchlist_stats import labelled_articles


@dataclass(frozen=True, slots=True)
class BacktestReport:
    watchlist_id: str
    since: datetime
    diff: BacktestDiff
    before_source: str  # where the version in force came from: "recorded", "file", "none"
    seconds: float
    labels: LabelReplay | None = None  # None: nothing is labelled for the watchlist

    @property
    def articles_per_second(self) -> float:
        return self.diff.scanned / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of `monitor backtest --format json` (stable keys)."""
        diff = self.diff
        return {
            "watchlist": self.watchlist_id,
            "since": self.since,
            "before_version": self.before_source,
            "scanned": diff.scanned,
            "before": diff.before.as_dict(),
            "after": diff.after.as_dict(),
            "added": [item.as_dict() for item in diff.added],
            "removed": [item.as_dict() for item in diff.removed],
            "labels": self.labels.as_dict() if self.labels is not None else None,
            "seconds": round(self.seconds, 4),
            "articles_per_second": round(self.articles_per_second, 1),
        }


def watchlist_in_force(engine: Engine, watchlist_id: str) -> Watchlist | None:
    """The version of the watchlist last put in force by `monitor run` or `monitor poll`, as
    recorded in the database; None if none was."""
    with engine.connect() as connection:
        recorded = watchlist_store.recorded_version(connection, watchlist_id)
    return watchlist_from_dict(recorded.definition) if recorded is not None else None


def run_backtest(
    engine: Engine,
    *,
    before: Watchlist | None,
    after: Watchlist,
    since: datetime,
    before_source: str = "recorded",
    timer: Callable[[], float] = time.perf_counter,
    semantic: SemanticIndex | None = None,
) -> BacktestReport:
    """Replay the articles stored since `since` through `before` (None: a new watchlist) and
    `after`; the time reported covers reading and scoring, not compiling. `semantic`: the
    index with both versions (backtest_index), for watchlists with examples."""
    replay = Replay(before, after)
    similar = semantic_of(semantic, replay.ids) if semantic is not None else None
    started = timer()
    with engine.connect() as connection:
        diff = replay.diff(article_store.articles_for_replay(connection, since=since), similar)
        connection.rollback()
    seconds = timer() - started
    labelled = labelled_articles(engine, after.id)
    labels = replay_labels(before, after, labelled) if labelled else None
    return BacktestReport(after.id, since, diff, before_source, seconds, labels)


def semantic_of(index: SemanticIndex, ids: Collection[str]) -> SemanticOf:
    """The semantic scores of stored articles under the watchlists `ids` of `index`."""

    def of(batch: Sequence[StoredArticle]) -> list[Mapping[str, SemanticScore] | None]:
        features = [features_or_text(a.semantic_features, a.title, a.text) for a in batch]
        return list(index.scores(features, ids))

    return of


def backtest_index(
    in_folder: Sequence[Watchlist],
    directory: Path,
    *,
    after: Watchlist,
    after_path: Path,
    before: Watchlist | None,
) -> tuple[SemanticIndex | None, list[str]]:
    """The index a poll would use with the edit in force (the folder's other watchlists
    unchanged), with the version in force beside it under its replay id. Its examples are
    the files as they are now: a version records its patterns, not their contents."""
    sources = folder_sources([w for w in in_folder if w.id != after.id], directory)
    sources.append((after, after_path))
    if before is not None:
        renamed = dataclasses.replace(before, id=before.id + BEFORE_SUFFIX)
        sources.append((renamed, directory / f"{before.id}.toml"))
    return build_index(sources)
