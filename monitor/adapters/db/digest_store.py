"""Digests and alerts in the database: SQLAlchemy Core, SQLite and PostgreSQL.

The statements flows/digests.py composes into one transaction per watchlist: gather its
pending matches, insert a digest under its unique (watchlist, kind, window_key) with one
outbox row per channel, assign matches to it, record late story copies. Every function takes
a Connection and never commits. Decisions live in core.digest; this module must not decide,
render, send, or read the clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    bindparam,
    func,
    or_,
    select,
    update,
)

from monitor.adapters.db import feed_store
from monitor.adapters.db.schema import (
    DeliveryStatus,
    DigestKind,
    articles,
    deliveries,
    digests,
    feeds,
    matches,
)
from monitor.adapters.db.transactions import chunks
from monitor.core.digest import (
    Candidate,
    Copy,
    DigestContent,
)
from monitor.core.states import HeldReason, MatchOrigin


@dataclass(frozen=True, slots=True)
class CreatedDigest:
    """A digest or alert row and its outbox rows; `created` is False when it already existed."""

    digest_id: int
    created: bool
    content: DigestContent
    delivery_ids: tuple[int, ...]


# ---- gathering -----------------------------------------------------------------------------

# The article's story is the current one: clustering may have merged stories since the match
# was stored.
_story = func.coalesce(articles.c.story_id, matches.c.story_id)


def _candidate(row: Row[*tuple[Any, ...]]) -> Candidate:
    return Candidate(
        match_id=row.id,
        story_id=row.story_id,
        score=row.score,
        explanation=row.explanation or {},
        title=row.title,
        url=row.url,
        source=row.source,
        published_at=row.published_at,
        alerted=row.alert_digest_id is not None,
    )


def pending_candidates(
    connection: Connection, watchlist_id: str, *, extra: Sequence[ColumnElement[bool]] = ()
) -> list[Candidate]:
    """The watchlist's matches that no digest has taken yet, with article and outlet."""
    query = (
        select(
            matches.c.id,
            _story.label("story_id"),
            matches.c.score,
            matches.c.explanation,
            matches.c.alert_digest_id,
            articles.c.title,
            articles.c.url,
            articles.c.published_at,
            feed_store.outlet_name().label("source"),
        )
        .select_from(
            matches.join(articles, articles.c.id == matches.c.article_id).join(
                feeds, feeds.c.id == articles.c.feed_id
            )
        )
        .where(matches.c.watchlist_id == watchlist_id, matches.c.digest_id.is_(None), *extra)
        .order_by(matches.c.id)
    )
    return [_candidate(row) for row in connection.execute(query)]


def pending_alert_candidates(
    connection: Connection,
    watchlist_id: str,
    *,
    threshold: float,
    article_ids: Collection[int],
) -> list[Candidate]:
    """Pending matches strong enough to alert, not yet alerted and not a recorded copy, of
    `article_ids` (the articles a feed's transaction has just stored)."""
    extra: list[ColumnElement[bool]] = [
        matches.c.score >= threshold,
        matches.c.alert_digest_id.is_(None),
        matches.c.duplicate_of_match_id.is_(None),
    ]
    # A backfilled match is old news for the next digest, never an alert.
    extra.append(matches.c.origin == MatchOrigin.POLL.value)
    extra.append(matches.c.article_id.in_(sorted(article_ids)))
    return pending_candidates(connection, watchlist_id, extra=extra)


def delivered_stories(
    connection: Connection, watchlist_id: str, story_ids: Collection[int]
) -> dict[int, int]:
    """Story id -> the match that carried it to this watchlist in a digest or an alert."""
    found: dict[int, int] = {}
    for chunk in chunks(sorted(story_ids)):
        query = (
            select(_story, func.min(matches.c.id))
            .select_from(matches.join(articles, articles.c.id == matches.c.article_id))
            .where(
                matches.c.watchlist_id == watchlist_id,
                # Both columns are indexed; the coalesced story is not.
                or_(matches.c.story_id.in_(chunk), articles.c.story_id.in_(chunk)),
                matches.c.duplicate_of_match_id.is_(None),
                or_(matches.c.digest_id.is_not(None), matches.c.alert_digest_id.is_not(None)),
            )
            .group_by(_story)
        )
        wanted = set(chunk)
        found.update(
            (story, match) for story, match in connection.execute(query) if story in wanted
        )
    return found


def story_outlets(connection: Connection, story_ids: Collection[int]) -> dict[int, list[Copy]]:
    """Every copy known of each story, matched or not: its outlet (the feed's title, else its
    name), its link and its title, so "also reported by" can link each outlet's copy."""
    outlets: dict[int, list[Copy]] = {}
    for chunk in chunks(sorted(story_ids)):
        query = (
            select(
                articles.c.story_id,
                feed_store.outlet_name().label("outlet"),
                articles.c.url,
                articles.c.title,
            )
            .select_from(articles.join(feeds, feeds.c.id == articles.c.feed_id))
            .where(articles.c.story_id.in_(chunk))
            .order_by(articles.c.id)
        )
        for row in connection.execute(query):
            outlets.setdefault(row.story_id, []).append(Copy(row.outlet, row.url, row.title))
    return outlets


def last_window_end(connection: Connection, watchlist_id: str) -> datetime | None:
    """Where the watchlist's previous scheduled digest ended; None before the first one."""
    return connection.execute(
        select(func.max(digests.c.window_end)).where(
            digests.c.watchlist_id == watchlist_id, digests.c.kind == DigestKind.DIGEST.value
        )
    ).scalar_one_or_none()


def recent_alert_times(
    connection: Connection, watchlist_id: str, since: datetime
) -> list[datetime]:
    """When the watchlist's alerts created after `since` were made (the hourly budget)."""
    return list(
        connection.execute(
            select(digests.c.created_at).where(
                digests.c.watchlist_id == watchlist_id,
                digests.c.kind == DigestKind.ALERT.value,
                digests.c.created_at > since,
            )
        ).scalars()
    )


# ---- creating digests and alerts -----------------------------------------------------------


def find_digest(
    connection: Connection, watchlist_id: str, kind: DigestKind, window_key: str
) -> CreatedDigest | None:
    row = connection.execute(
        select(digests.c.id, digests.c.payload).where(
            digests.c.watchlist_id == watchlist_id,
            digests.c.kind == kind.value,
            digests.c.window_key == window_key,
        )
    ).one_or_none()
    if row is None:
        return None
    delivery_ids = connection.execute(
        select(deliveries.c.id).where(deliveries.c.digest_id == row.id).order_by(deliveries.c.id)
    ).scalars()
    return CreatedDigest(row.id, False, DigestContent.from_dict(row.payload), tuple(delivery_ids))


def stored_digest(connection: Connection, digest_id: int) -> DigestContent | None:
    """The content frozen into a digest or alert row, every story of it; None if no row."""
    payload = connection.execute(
        select(digests.c.payload).where(digests.c.id == digest_id)
    ).scalar_one_or_none()
    return None if payload is None else DigestContent.from_dict(payload)


def insert_digest(
    connection: Connection,
    content: DigestContent,
    *,
    window_key: str,
    channels: Sequence[str],
    send: bool,
    now: datetime,
) -> CreatedDigest:
    digest_id = connection.execute(
        digests.insert()
        .values(
            watchlist_id=content.watchlist_id,
            kind=content.kind.value,
            window_key=window_key,
            window_start=content.window_start,
            window_end=content.window_end,
            created_at=now,
            item_count=content.total,
            payload=content.to_dict(),
        )
        .returning(digests.c.id)
    ).scalar_one()
    delivery_ids: list[int] = []
    for channel in channels if send else ():
        delivery_ids.append(
            connection.execute(
                deliveries.insert()
                .values(
                    digest_id=digest_id,
                    channel=channel,
                    status=DeliveryStatus.PENDING.value,
                    attempts=0,
                    next_attempt_at=now,
                    # Random, not derived from ids: a rebuilt database must not reuse keys
                    # that receivers have already seen.
                    idempotency_key=f"monitor-{uuid.uuid4().hex}",
                    created_at=now,
                )
                .returning(deliveries.c.id)
            ).scalar_one()
        )
    return CreatedDigest(digest_id, True, content, tuple(delivery_ids))


def assign_matches(connection: Connection, digest_id: int, match_ids: Sequence[int]) -> None:
    """Give the matches to the digest; a match already in another digest keeps that one."""
    for chunk in chunks(match_ids):
        connection.execute(
            update(matches)
            .where(matches.c.id.in_(chunk), matches.c.digest_id.is_(None))
            .values(digest_id=digest_id)
        )


def mark_duplicates(connection: Connection, duplicates: Mapping[int, int]) -> None:
    """Record late copies: match id -> the match that represents its story."""
    if not duplicates:
        return
    connection.execute(
        update(matches)
        .where(matches.c.id == bindparam("match_id"))
        .values(duplicate_of_match_id=bindparam("original_id")),
        [
            {"match_id": match_id, "original_id": original}
            for match_id, original in sorted(duplicates.items())
        ],
    )


def mark_held(connection: Connection, match_ids: Sequence[int], reason: HeldReason) -> None:
    """Record why these strong matches got no immediate alert (they wait for the digest)."""
    for chunk in chunks(match_ids):
        connection.execute(
            update(matches)
            .where(matches.c.id.in_(chunk), matches.c.alert_digest_id.is_(None))
            .values(held_reason=reason.value)
        )


def mark_alerted(connection: Connection, match_id: int, alert_digest_id: int) -> None:
    connection.execute(
        update(matches).where(matches.c.id == match_id).values(alert_digest_id=alert_digest_id)
    )
