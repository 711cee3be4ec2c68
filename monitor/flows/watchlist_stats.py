"""`monitor watchlists stats`: gather a watchlist's stored matches, its labels in force and the
labelled articles, and let core/feedback_stats.py decide. Read-only: one read transaction,
nothing written."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Engine

from monitor.adapters.db import article_store, feedback_store, match_store
from monitor.core.feedback_stats import StoryLabel, WatchlistStats, watchlist_stats
from monitor.core.label_replay import LabelledArticle
from monitor.core.states import FeedbackLabel
from monitor.core.watchlist import Watchlist


def stats_of_watchlist(
    engine: Engine, watchlist: Watchlist, *, since: datetime, now: datetime
) -> WatchlistStats:
    """The stats of `watchlist` (as its file is now: the edits are suggested against it) over
    the matches stored since `since`."""
    with engine.connect() as connection:
        matches = match_store.matches_since(connection, watchlist.id, since)
        labels = stored_labels(connection, watchlist.id)
        articles = article_store.articles_by_id(connection, [label.article_id for label in labels])
        matched = article_store.articles_by_id(connection, [m.article_id for m in matches])
        connection.rollback()
    return watchlist_stats(
        watchlist, matches, labels, articles, since=since, now=now, matched=matched
    )


def labelled_articles(engine: Engine, watchlist_id: str) -> list[LabelledArticle]:
    """Every article labelled for the watchlist (the label in force for its story) whose text
    is still stored: what `monitor backtest` replays for precision before and after."""
    with engine.connect() as connection:
        labels = stored_labels(connection, watchlist_id)
        articles = article_store.articles_by_id(connection, [label.article_id for label in labels])
        connection.rollback()
    label_of = {label.article_id: label.label for label in labels}
    return [LabelledArticle(article, label_of[article.article_id]) for article in articles]


def stored_labels(connection: Connection, watchlist_id: str) -> list[StoryLabel]:
    rows = feedback_store.current_labels(connection, watchlist_id=watchlist_id)
    return [StoryLabel(r.article_id, r.story_id, FeedbackLabel(r.label)) for r in rows]
