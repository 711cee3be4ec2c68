"""Feeds in the database: syncing them from config/OPML, claiming due ones with a lease, and
recording the outcome of a poll. Decisions (when to poll next) come from core.polling.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, bindparam, delete, func, or_, select, update

from monitor.adapters.db.dialect import for_update_skip_locked, insert_ignoring_conflicts
from monitor.adapters.db.schema import FeedState, articles, feeds
from monitor.core.states import NOT_POLLED

REMOVED_FROM_CONFIG = "removed from config.toml"
MAX_TITLE = 300  # the title columns' width
# Feed ids bound in one IN (...): well within SQLite's and PostgreSQL's parameter limits.
_IDS_PER_STATEMENT = 1000


def outlet_name() -> ColumnElement[str]:
    """The outlet as readers see it: the configured title, else the feed's own <title>,
    else the feed's name."""
    return func.coalesce(feeds.c.title, feeds.c.feed_title, feeds.c.name)


def stored_feed_title(title: str | None) -> str | None:
    """A feed's own <title> as the column takes it: one line, within its width."""
    if not title or not title.strip():
        return None
    line = " ".join(title.split())
    return line if len(line) <= MAX_TITLE else line[: MAX_TITLE - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A feed as configured (config.toml or an OPML import)."""

    name: str
    url: str
    tags: tuple[str, ...] = ()
    interval: timedelta | None = None
    source: str = "config"
    title: str | None = None  # the outlet's name as configured (None: the feed's <title>)


@dataclass(frozen=True, slots=True)
class FeedRow:
    """What a poll needs to know about a claimed feed."""

    id: int
    name: str
    url: str
    tags: tuple[str, ...]
    interval: timedelta | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    consecutive_failures: int
    ttl_seconds: int | None
    source: str = "config"  # config | opml: only the operator's own URLs may be private
    last_error: str | None = None  # as recorded by the previous poll


def sync_feeds(connection: Connection, specs: Sequence[FeedSpec], now: datetime) -> None:
    """Make the feeds table agree with config: add new feeds, update changed ones, and stop
    config feeds that were removed (kept, visibly, rather than deleted with their articles)."""
    existing = {row.name: row for row in connection.execute(select(feeds))}
    wanted = {spec.name for spec in specs}
    for spec in specs:
        row = existing.get(spec.name)
        values: dict[str, Any] = {
            "tags": list(spec.tags),
            "interval_seconds": int(spec.interval.total_seconds()) if spec.interval else None,
            "title": spec.title,
        }
        if row is None:
            _insert_feed(connection, spec, now)
            continue
        if row.configured_url != spec.url:
            # The operator changed the URL: it wins over any redirect we learned.
            values.update(
                url=spec.url,
                configured_url=spec.url,
                etag=None,
                last_modified=None,
                body_hash=None,
                ttl_seconds=None,
                next_poll_at=now,
            )
        if row.state == FeedState.STOPPED.value and row.last_error == REMOVED_FROM_CONFIG:
            values.update(state=FeedState.ACTIVE.value, last_error=None, next_poll_at=now)
        unchanged = {"tags": row.tags, "interval_seconds": row.interval_seconds, "title": row.title}
        if values != unchanged:
            connection.execute(update(feeds).where(feeds.c.id == row.id).values(**values))
    for name, row in existing.items():
        if row.source == "config" and name not in wanted and row.state != FeedState.STOPPED.value:
            connection.execute(
                update(feeds)
                .where(feeds.c.id == row.id)
                .values(state=FeedState.STOPPED.value, last_error=REMOVED_FROM_CONFIG)
            )


def _insert_feed(connection: Connection, spec: FeedSpec, now: datetime) -> None:
    # Several workers starting together all see a feed missing: the first insert wins and
    # the others' are no-ops.
    connection.execute(
        insert_ignoring_conflicts(connection, feeds).values(
            name=spec.name,
            url=spec.url,
            configured_url=spec.url,
            title=spec.title,
            source=spec.source,
            tags=list(spec.tags),
            interval_seconds=int(spec.interval.total_seconds()) if spec.interval else None,
            state=FeedState.ACTIVE.value,
            consecutive_failures=0,
            next_poll_at=now,
            created_at=now,
        )
    )


def add_feeds(connection: Connection, specs: Iterable[FeedSpec], now: datetime) -> list[str]:
    """Add feeds that are not there yet (by name or URL); return the names added."""
    known = connection.execute(select(feeds.c.name, feeds.c.url, feeds.c.configured_url)).all()
    names = {row.name for row in known}
    urls = {row.url for row in known} | {row.configured_url for row in known}
    added = []
    for spec in specs:
        if spec.name in names or spec.url in urls:
            continue
        _insert_feed(connection, spec, now)
        names.add(spec.name)
        urls.add(spec.url)
        added.append(spec.name)
    return added


def claim_due_feeds(
    connection: Connection,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    ignore_schedule: bool = False,
    limit: int | None = None,
    due_by: datetime | None = None,
) -> list[FeedRow]:
    """Lease the feeds that are due to `owner`, so no other worker fetches them meanwhile:
    the most overdue first, at most `limit`; due at `due_by` (default `now`: a cycle that
    claims more as it goes passes its start, so it ends when what was due then is done).

    A lease that expired (its worker died) is free again. Stopped and disabled feeds are
    never claimed.
    """
    due_by = due_by or now
    lease_free = or_(feeds.c.lease_expires_at.is_(None), feeds.c.lease_expires_at < now)
    due = or_(feeds.c.next_poll_at.is_(None), feeds.c.next_poll_at <= due_by)
    condition = and_(feeds.c.state.notin_([s.value for s in NOT_POLLED]), lease_free)
    if not ignore_schedule:
        condition = and_(condition, due)
    query = select(feeds).where(condition).order_by(feeds.c.next_poll_at, feeds.c.id)
    if limit is not None:
        query = query.limit(limit)
    rows = connection.execute(for_update_skip_locked(connection, query)).all()
    if not rows:
        return []
    for chunk in _id_chunks([row.id for row in rows]):
        connection.execute(
            update(feeds)
            .where(feeds.c.id.in_(chunk))
            .values(lease_owner=owner, lease_expires_at=now + lease)
        )
    return [
        FeedRow(
            id=row.id,
            name=row.name,
            url=row.url,
            tags=tuple(row.tags or ()),
            interval=timedelta(seconds=row.interval_seconds) if row.interval_seconds else None,
            etag=row.etag,
            last_modified=row.last_modified,
            body_hash=row.body_hash,
            consecutive_failures=row.consecutive_failures,
            ttl_seconds=row.ttl_seconds,
            source=row.source,
            last_error=row.last_error,
        )
        for row in rows
    ]


def release_feeds(connection: Connection, owner: str, feed_ids: Sequence[int] | None = None) -> int:
    """Give back leases (shutdown, or feeds a cancelled cycle did not get to)."""
    mine = feeds.c.lease_owner == owner
    conditions = (
        [mine]
        if feed_ids is None
        else [and_(mine, feeds.c.id.in_(c)) for c in _id_chunks(feed_ids)]
    )
    return sum(
        connection.execute(
            update(feeds).where(condition).values(lease_owner=None, lease_expires_at=None)
        ).rowcount
        for condition in conditions
    )


def renew_leases(
    connection: Connection, feed_ids: Sequence[int], owner: str, until: datetime
) -> int:
    """Extend `owner`'s leases on these feeds; how many it still held."""
    return sum(
        connection.execute(
            update(feeds)
            .where(feeds.c.id.in_(chunk), feeds.c.lease_owner == owner)
            .values(lease_expires_at=until)
        ).rowcount
        for chunk in _id_chunks(feed_ids)
    )


def _id_chunks(feed_ids: Sequence[int]) -> Iterator[list[int]]:
    """Ids as bound in IN (...): PostgreSQL's protocol takes at most 65,535 parameters per
    statement, so `poll --once --all` over more feeds than that is leased in parts."""
    for start in range(0, len(feed_ids), _IDS_PER_STATEMENT):
        yield list(feed_ids[start : start + _IDS_PER_STATEMENT])


def lease_owners(connection: Connection, now: datetime) -> list[str]:
    """The workers holding a live feed lease."""
    query = (
        select(feeds.c.lease_owner)
        .where(feeds.c.lease_owner.is_not(None), feeds.c.lease_expires_at >= now)
        .distinct()
    )
    return [str(owner) for owner in connection.execute(query).scalars()]


def record_poll(connection: Connection, feed_id: int, owner: str, **values: Any) -> None:
    """Store a poll's outcome and release the lease in the same statement."""
    record_polls(connection, [{"feed_id": feed_id, **values}])


def record_polls(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Many polls' outcomes in one executemany; every row must carry the same keys."""
    if not rows:
        return
    keys = tuple(key for key in rows[0] if key != "feed_id")
    connection.execute(
        _record_statement(keys),
        [{"feed_id": row["feed_id"], **{f"v_{k}": row[k] for k in keys}} for row in rows],
    )


@cache
def _record_statement(keys: tuple[str, ...]) -> Any:
    """Built once per set of columns (a poll writes one of a few): building it per feed was
    most of what recording a poll cost the writer thread (py-spy, bench/ingest.py)."""
    return (
        update(feeds)
        .where(feeds.c.id == bindparam("feed_id"))
        .values(
            lease_owner=None,
            lease_expires_at=None,
            **{key: bindparam(f"v_{key}") for key in keys},
        )
    )


def list_feeds(connection: Connection) -> list[dict[str, Any]]:
    """Every feed with its health and article count, for `feeds list` and /healthz."""
    counts = (
        select(articles.c.feed_id, func.count().label("n")).group_by(articles.c.feed_id).subquery()
    )
    query = (
        select(feeds, outlet_name().label("outlet"), func.coalesce(counts.c.n, 0).label("articles"))
        .outerjoin(counts, counts.c.feed_id == feeds.c.id)
        .order_by(feeds.c.name)
    )
    return [
        {
            "name": row.name,
            "title": row.outlet,  # what digests call the outlet
            "url": row.url,
            "configured_url": row.configured_url,
            "source": row.source,
            "tags": list(row.tags or ()),
            "state": row.state,
            "last_status": row.last_status,
            "last_error": row.last_error,
            "consecutive_failures": row.consecutive_failures,
            "last_polled_at": row.last_polled_at,
            "last_success_at": row.last_success_at,
            "next_poll_at": row.next_poll_at,
            "articles": row.articles,
        }
        for row in connection.execute(query)
    ]


def feed_names(connection: Connection) -> set[str]:
    """The name of every stored feed, stopped ones included."""
    return set(connection.execute(select(feeds.c.name)).scalars())


def feed_names_and_urls(connection: Connection) -> tuple[set[str], set[str]]:
    """Every stored name, and every URL a stored feed has (now or as configured)."""
    rows = connection.execute(select(feeds.c.name, feeds.c.url, feeds.c.configured_url)).all()
    return {r.name for r in rows}, {r.url for r in rows} | {r.configured_url for r in rows}


def find_feed(connection: Connection, name: str) -> dict[str, Any] | None:
    """One feed by name: what `feeds remove|disable|enable|reset` need to know."""
    row = connection.execute(select(feeds).where(feeds.c.name == name)).first()
    if row is None:
        return None
    return {
        "id": row.id,
        "name": row.name,
        "url": row.url,
        "source": row.source,
        "state": row.state,
    }


def set_feed_state(connection: Connection, feed_id: int, **values: Any) -> None:
    connection.execute(update(feeds).where(feeds.c.id == feed_id).values(**values))


def delete_feed(connection: Connection, feed_id: int) -> int:
    """Delete a feed and (by cascade) its articles and their matches; the articles deleted."""
    count = connection.execute(
        select(func.count()).select_from(articles).where(articles.c.feed_id == feed_id)
    ).scalar_one()
    connection.execute(delete(articles).where(articles.c.feed_id == feed_id))
    connection.execute(delete(feeds).where(feeds.c.id == feed_id))
    return int(count)
