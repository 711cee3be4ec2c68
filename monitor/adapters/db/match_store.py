"""Matches in the database: one row per (watchlist, article) that scored at or above the
watchlist's threshold, with its explanation. Takes a Connection, never commits; whether an
article matches is core.scoring's decision."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from monitor.adapters.db.dialect import insert_ignoring_conflicts
from monitor.adapters.db.schema import matches
from monitor.core.scoring import Score


@dataclass(frozen=True, slots=True)
class NewMatch:
    watchlist_id: str
    article_id: int
    story_id: int | None
    score: Score
    matched_at: datetime


def record_matches(connection: Connection, found: Sequence[NewMatch]) -> None:
    """Insert the matches; one already stored for the same (watchlist, article) stays."""
    if not found:
        return
    connection.execute(
        insert_ignoring_conflicts(connection, matches),
        [
            {
                "watchlist_id": m.watchlist_id,
                "article_id": m.article_id,
                "story_id": m.story_id,
                "score": m.score.score,
                "explanation": m.score.explanation(),
                "matched_at": m.matched_at,
            }
            for m in found
        ],
    )
