"""Digests and alerts in the database: SQLAlchemy Core, SQLite and PostgreSQL.

Creating a digest or an alert is one transaction per watchlist: gather its pending matches,
let core.digest decide, insert the digest under its unique (watchlist, kind, window_key),
assign every match to it, record late story copies, and add one outbox row per channel. Two
workers creating the same digest serialize on a per-watchlist lock (a transaction-scoped
advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite); the second finds the first's digest
and creates nothing. The outbox rows it creates are delivered through outbox_store.
Decisions live in core.digest; this module must not render, send, or read the clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    bindparam,
    func,
    or_,
    select,
    update,
)

from monitor.adapters.db.schema import (
    Article,
    Delivery,
    DeliveryStatus,
    Digest,
    DigestKind,
    Feed,
    Match,
)
from monitor.adapters.db.transactions import chunks, write_transaction
from monitor.core.digest import (
    Candidate,
    DigestContent,
    DigestPlan,
    alert_window_key,
    plan_alerts,
    plan_digest,
    should_send,
)

matches = Match.__table__
articles = Article.__table__
feeds = Feed.__table__
digests = Digest.__table__
deliveries = Delivery.__table__


class DigestPolicy(Protocol):
    """The watchlist settings a digest needs (monitor.core.watchlist.Watchlist has them)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def max_items(self) -> int: ...
    @property
    def send_empty(self) -> bool: ...
    @property
    def repeat_alerts_in_digest(self) -> bool: ...


class AlertPolicy(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def alert_threshold(self) -> float | None: ...
    @property
    def max_alerts_per_hour(self) -> int: ...


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


def _candidate(row: Row[Any]) -> Candidate:
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
            feeds.c.name.label("source"),
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


def story_outlets(connection: Connection, story_ids: Collection[int]) -> dict[int, set[str]]:
    """Every outlet (feed name) known to have carried each story, matched or not."""
    outlets: dict[int, set[str]] = {}
    for chunk in chunks(sorted(story_ids)):
        query = (
            select(articles.c.story_id, feeds.c.name)
            .select_from(articles.join(feeds, feeds.c.id == articles.c.feed_id))
            .where(articles.c.story_id.in_(chunk))
            .distinct()
        )
        for story, name in connection.execute(query):
            outlets.setdefault(story, set()).add(name)
    return outlets


def last_window_end(connection: Connection, watchlist_id: str) -> datetime | None:
    """Where the watchlist's previous scheduled digest ended; None before the first one."""
    return connection.execute(
        select(func.max(digests.c.window_end)).where(
            digests.c.watchlist_id == watchlist_id, digests.c.kind == DigestKind.DIGEST.value
        )
    ).scalar_one_or_none()


def last_digest_window(engine: Engine, watchlist_id: str) -> datetime | None:
    """For the scheduler: the end of the watchlist's latest digest window, if any."""
    with engine.connect() as connection:
        return last_window_end(connection, watchlist_id)


def _story_ids(candidates: Sequence[Candidate]) -> set[int]:
    return {c.story_id for c in candidates if c.story_id is not None}


def _plan(
    connection: Connection, watchlist: DigestPolicy, *, now: datetime, window_end: datetime
) -> tuple[DigestContent, DigestPlan]:
    candidates = pending_candidates(connection, watchlist.id)
    stories = _story_ids(candidates)
    plan = plan_digest(
        candidates,
        delivered_stories=delivered_stories(connection, watchlist.id, stories),
        story_outlets=story_outlets(connection, stories),
        max_items=watchlist.max_items,
        repeat_alerts=watchlist.repeat_alerts_in_digest,
    )
    content = plan.content(
        kind=DigestKind.DIGEST,
        watchlist_id=watchlist.id,
        watchlist_name=watchlist.name,
        generated_at=now,
        window_start=last_window_end(connection, watchlist.id),
        window_end=window_end,
    )
    return content, plan


def preview_digest(
    engine: Engine, watchlist: DigestPolicy, *, now: datetime, window_end: datetime | None = None
) -> DigestContent:
    """What the watchlist's next digest would hold; changes nothing."""
    with engine.connect() as connection:
        content, _ = _plan(connection, watchlist, now=now, window_end=window_end or now)
        connection.rollback()
    return content


# ---- creating digests and alerts -----------------------------------------------------------


def _existing(
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


def _insert_digest(
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


def create_digest(
    engine: Engine,
    watchlist: DigestPolicy,
    *,
    channels: Sequence[str],
    window_key: str,
    window_end: datetime,
    now: datetime,
) -> CreatedDigest:
    """Create the digest of `watchlist` for `window_key`, or return the one that exists.

    One transaction: every pending match is assigned to it (shown, "and N more", or recorded
    as a copy of a story delivered before), and one outbox row per channel is added unless
    the digest is empty and the watchlist does not `send_empty`.
    """
    with write_transaction(engine, lock=f"watchlist:{watchlist.id}") as connection:
        existing = _existing(connection, watchlist.id, DigestKind.DIGEST, window_key)
        if existing is not None:
            return existing
        content, plan = _plan(connection, watchlist, now=now, window_end=window_end)
        created = _insert_digest(
            connection,
            content,
            window_key=window_key,
            channels=channels,
            send=should_send(content, send_empty=watchlist.send_empty),
            now=now,
        )
        for chunk in chunks(plan.consumed):
            connection.execute(
                update(matches)
                .where(matches.c.id.in_(chunk), matches.c.digest_id.is_(None))
                .values(digest_id=created.digest_id)
            )
        if plan.duplicates:
            connection.execute(
                update(matches)
                .where(matches.c.id == bindparam("match_id"))
                .values(duplicate_of_match_id=bindparam("original_id")),
                [
                    {"match_id": match_id, "original_id": original}
                    for match_id, original in sorted(plan.duplicates.items())
                ],
            )
        return created


def create_alerts(
    engine: Engine,
    watchlist: AlertPolicy,
    *,
    channels: Sequence[str],
    found_since: datetime,
    now: datetime,
) -> list[CreatedDigest]:
    """Create immediate alerts for the watchlist's strong matches found since `found_since`.

    One alert (kind "alert", window_key per story) per story not yet delivered to this
    watchlist, at most `max_alerts_per_hour` in any hour; the rest wait for the digest.
    """
    threshold = watchlist.alert_threshold
    if threshold is None or not channels:
        return []
    with write_transaction(engine, lock=f"watchlist:{watchlist.id}") as connection:
        candidates = pending_candidates(
            connection,
            watchlist.id,
            extra=(
                matches.c.score >= threshold,
                matches.c.matched_at >= found_since,
                matches.c.alert_digest_id.is_(None),
                matches.c.duplicate_of_match_id.is_(None),
            ),
        )
        if not candidates:
            return []
        stories = _story_ids(candidates)
        recent = connection.execute(
            select(digests.c.created_at).where(
                digests.c.watchlist_id == watchlist.id,
                digests.c.kind == DigestKind.ALERT.value,
                digests.c.created_at > now - timedelta(hours=1),
            )
        ).scalars()
        plan = plan_alerts(
            candidates,
            alert_threshold=threshold,
            max_per_hour=watchlist.max_alerts_per_hour,
            recent_alerts=list(recent),
            now=now,
            delivered_stories=delivered_stories(connection, watchlist.id, stories),
            story_outlets=story_outlets(connection, stories),
        )
        created = []
        for item in plan.alerts:
            key = alert_window_key(item)
            if _existing(connection, watchlist.id, DigestKind.ALERT, key) is not None:
                continue
            content = DigestContent(
                kind=DigestKind.ALERT,
                watchlist_id=watchlist.id,
                watchlist_name=watchlist.name,
                generated_at=now,
                window_start=None,
                window_end=now,
                items=(item,),
                total=1,
            )
            alert = _insert_digest(
                connection, content, window_key=key, channels=channels, send=True, now=now
            )
            connection.execute(
                update(matches)
                .where(matches.c.id == item.match_id)
                .values(alert_digest_id=alert.digest_id)
            )
            created.append(alert)
        return created
