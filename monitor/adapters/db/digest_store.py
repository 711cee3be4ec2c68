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
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    bindparam,
    delete,
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
    stories,
    story_decisions,
)
from monitor.adapters.db.transactions import chunks
from monitor.core.developments import Kind
from monitor.core.digest import (
    Candidate,
    Copy,
    DigestContent,
)
from monitor.core.digest.updates import KnownItem, StoryHistory, UpdateDecision
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


# What the copy-or-development decision reads of a text: its lede (core.developments scans the
# first 1,500 characters). Cut in the query, so a long body never leaves the database.
_LEDE_CHARS = 2000
_lede_text = func.coalesce(func.substr(articles.c.text, 1, _LEDE_CHARS), "")


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
        text=row.text,
        article_id=row.article_id,
    )


def pending_candidates(
    connection: Connection, watchlist_id: str, *, extra: Sequence[ColumnElement[bool]] = ()
) -> list[Candidate]:
    """The watchlist's matches that no digest has taken yet, with article and outlet."""
    query = (
        select(
            matches.c.id,
            matches.c.article_id,
            _story.label("story_id"),
            matches.c.score,
            matches.c.explanation,
            matches.c.alert_digest_id,
            matches.c.article_id,
            articles.c.title,
            articles.c.url,
            articles.c.published_at,
            _lede_text.label("text"),
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


def pending_candidate(connection: Connection, watchlist_id: str, match_id: int) -> list[Candidate]:
    """The one match, if no digest has taken it yet (for explain)."""
    return pending_candidates(connection, watchlist_id, extra=[matches.c.id == match_id])


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


def story_histories(
    connection: Connection, watchlist_id: str, story_ids: Collection[int]
) -> dict[int, StoryHistory]:
    """What this watchlist was sent of each story (matches in a digest or an alert, oldest
    first) and the copies suppressed against them; stories never delivered are absent."""
    rows: list[Row[Any]] = []
    for chunk in chunks(sorted(story_ids)):
        wanted = set(chunk)
        # Both columns are indexed; the coalesced story is not.
        where = or_(matches.c.story_id.in_(chunk), articles.c.story_id.in_(chunk))
        found = _history_rows(connection, watchlist_id, where)
        rows.extend(r for r in found if r.story_id in wanted)
    return _histories(rows)


# The late-copy check's reach (core.digest.updates.LateCopies): stories sent in the last three
# days, at most this many of their items. A wire story's re-worded copies arrive within hours;
# the bound keeps a busy watchlist's digest from reading its whole history.
RECENT_DELIVERED = timedelta(days=3)
RECENT_ITEMS = 2000


def recent_histories(
    connection: Connection, watchlist_id: str, *, now: datetime
) -> list[StoryHistory]:
    """The stories this watchlist was sent in the last `RECENT_DELIVERED` (the newest
    `RECENT_ITEMS` items, with the copies suppressed against them), oldest first."""
    where = matches.c.matched_at >= now - RECENT_DELIVERED
    rows = list(_history_rows(connection, watchlist_id, where, limit=RECENT_ITEMS))
    return sorted(_histories(rows).values(), key=lambda h: h.delivered[-1].match_id)


def _history_rows(
    connection: Connection, watchlist_id: str, where: Any, *, limit: int | None = None
) -> list[Row[Any]]:
    query = (
        select(
            _story.label("story_id"),
            matches.c.id,
            matches.c.article_id,
            matches.c.digest_id,
            matches.c.alert_digest_id,
            matches.c.duplicate_of_match_id,
            articles.c.title,
            articles.c.url,
            articles.c.published_at,
            _lede_text.label("text"),
        )
        .select_from(matches.join(articles, articles.c.id == matches.c.article_id))
        .where(
            matches.c.watchlist_id == watchlist_id,
            where,
            or_(matches.c.digest_id.is_not(None), matches.c.alert_digest_id.is_not(None)),
        )
    )
    if limit is not None:
        query = query.order_by(matches.c.id.desc()).limit(limit)
    rows: list[Row[Any]] = list(connection.execute(query))
    return sorted(rows, key=lambda r: (r.published_at, r.id))


def _histories(rows: Sequence[Row[Any]]) -> dict[int, StoryHistory]:
    delivered: dict[int, list[KnownItem]] = {}
    copies: dict[int, list[KnownItem]] = {}
    # A late copy sits in a story of its own; it counts with the story it repeats.
    story_of = {r.id: r.story_id for r in rows if r.duplicate_of_match_id is None}
    for row in rows:
        story = story_of.get(row.duplicate_of_match_id, row.story_id)
        if story is None:
            continue
        known = KnownItem(
            match_id=row.id,
            article_id=row.article_id,
            title=row.title,
            text=row.text,
            url=row.url,
            published_at=row.published_at,
            # The first to carry it: an alert comes before the digest that takes it.
            digest_id=row.alert_digest_id or row.digest_id,
            copy_of=row.duplicate_of_match_id,
        )
        into = delivered if row.duplicate_of_match_id is None else copies
        into.setdefault(story, []).append(known)
    return {
        story: StoryHistory(story, tuple(items), tuple(copies.get(story, ())))
        for story, items in delivered.items()
    }


def record_decisions(
    connection: Connection, decisions: Sequence[UpdateDecision], *, now: datetime
) -> None:
    """Store copy-or-development decisions; a match decided again keeps the latest."""
    if not decisions:
        return
    for chunk in chunks([d.match_id for d in decisions]):
        connection.execute(delete(story_decisions).where(story_decisions.c.match_id.in_(chunk)))
    connection.execute(
        story_decisions.insert(),
        [
            {
                "match_id": d.match_id,
                "story_id": d.story_id,
                "kind": d.kind.value,
                "rule": d.rule.value,
                "evidence": d.evidence,
                "new_sentence": d.new_sentence,
                "probability": d.probability,
                "against_match_id": d.against,
                "decided_at": now,
            }
            for d in decisions
        ],
    )


def decisions_of_matches(
    connection: Connection, match_ids: Collection[int]
) -> dict[int, dict[str, Any]]:
    """The stored copy-or-development decision of each match that has one."""
    found: dict[int, dict[str, Any]] = {}
    for chunk in chunks(sorted(match_ids)):
        for row in connection.execute(
            select(story_decisions).where(story_decisions.c.match_id.in_(chunk))
        ):
            found[row.match_id] = dict(row._mapping)
    return found


def story_developments(
    connection: Connection, story_ids: Collection[int]
) -> dict[int, list[dict[str, Any]]]:
    """Each story's developments (decided for any watchlist), oldest first, one per article:
    its title, url, publication time, rule and new sentence."""
    found: dict[int, list[dict[str, Any]]] = {}
    seen: set[tuple[int, int]] = set()
    for chunk in chunks(sorted(story_ids)):
        query = (
            select(
                story_decisions.c.story_id,
                story_decisions.c.rule,
                story_decisions.c.new_sentence,
                matches.c.article_id,
                articles.c.title,
                articles.c.url,
                articles.c.published_at,
            )
            .select_from(
                story_decisions.join(matches, matches.c.id == story_decisions.c.match_id).join(
                    articles, articles.c.id == matches.c.article_id
                )
            )
            .where(
                story_decisions.c.story_id.in_(chunk),
                story_decisions.c.kind == Kind.DEVELOPMENT.value,
            )
            .order_by(articles.c.published_at, matches.c.article_id)
        )
        for row in connection.execute(query):
            if (row.story_id, row.article_id) in seen:
                continue  # the same article decided for two watchlists
            seen.add((row.story_id, row.article_id))
            found.setdefault(row.story_id, []).append(
                {
                    "article_id": row.article_id,
                    "title": row.title,
                    "url": row.url,
                    "published_at": row.published_at,
                    "rule": row.rule,
                    "new_sentence": row.new_sentence,
                }
            )
    return found


def window_articles(
    connection: Connection, *, after_id: int | None, recent_stories: int, limit: int
) -> list[tuple[int, int | None, str, str]]:
    """(article id, story id, title, lede text) in id order, for the window statistics:
    those stored after `after_id`, or when None the articles of the `recent_stories` stories
    seen last. At most `limit` rows."""
    query = select(articles.c.id, articles.c.story_id, articles.c.title, _lede_text)
    if after_id is None:
        recent = (
            select(stories.c.id)
            .order_by(stories.c.last_seen_at.desc(), stories.c.id.desc())
            .limit(recent_stories)
            .subquery()
        )
        query = query.where(articles.c.story_id.in_(select(recent.c.id)))
    else:
        query = query.where(articles.c.id > after_id)
    rows = connection.execute(query.order_by(articles.c.id).limit(limit))
    return [(row[0], row[1], row[2] or "", row[3] or "") for row in rows]


def last_article_id(connection: Connection) -> int | None:
    return connection.execute(select(func.max(articles.c.id))).scalar_one_or_none()


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
