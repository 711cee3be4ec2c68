"""Matches in the database: one row per (watchlist, article) that scored at or above the
watchlist's threshold, with its explanation. Takes a Connection, never commits; whether an
article matches is core.scoring's decision."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from monitor.adapters.db.dialect import insert_ignoring_conflicts
from monitor.adapters.db.schema import matches
from monitor.adapters.db.transactions import chunks
from monitor.core.scoring import Score
from monitor.core.states import MatchOrigin


@dataclass(frozen=True, slots=True)
class NewMatch:
    watchlist_id: str
    article_id: int
    story_id: int | None
    score: Score
    matched_at: datetime
    origin: MatchOrigin = MatchOrigin.POLL


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
                "origin": m.origin.value,
            }
            for m in found
        ],
    )


def watchlist_ids(connection: Connection) -> set[str]:
    """Every watchlist id that has stored matches (its file may be gone since)."""
    return set(connection.execute(select(matches.c.watchlist_id).distinct()).scalars())


def matched_articles(
    connection: Connection, watchlist_id: str, article_ids: Sequence[int]
) -> set[int]:
    """Which of these articles have a match for the watchlist already."""
    found: set[int] = set()
    for chunk in chunks(sorted(article_ids)):
        found.update(
            connection.execute(
                select(matches.c.article_id).where(
                    matches.c.watchlist_id == watchlist_id, matches.c.article_id.in_(chunk)
                )
            ).scalars()
        )
    return found
