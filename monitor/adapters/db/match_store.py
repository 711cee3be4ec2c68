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
from monitor.core.feedback_stats import StoredMatch
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


def matches_since(connection: Connection, watchlist_id: str, since: datetime) -> list[StoredMatch]:
    """The watchlist's matches stored at or after `since`, oldest first, with the terms their
    stored explanations name (what `watchlists stats` counts)."""
    query = (
        select(
            matches.c.article_id,
            matches.c.story_id,
            matches.c.matched_at,
            matches.c.alert_digest_id,
            matches.c.explanation,
        )
        .where(matches.c.watchlist_id == watchlist_id, matches.c.matched_at >= since)
        .order_by(matches.c.matched_at, matches.c.id)
    )
    return [
        StoredMatch(
            article_id=row.article_id,
            story_id=row.story_id,
            matched_at=row.matched_at,
            alerted=row.alert_digest_id is not None,
            terms=tuple(str(t["term"]) for t in (row.explanation or {}).get("terms", ())),
        )
        for row in connection.execute(query)
    ]
