"""Cheap read-only queries behind /healthz, /metrics and the daemon's start-up catch-up.

The scrape-time ones are aggregates over a small table (feeds) or an indexed column
(deliveries by status), so a scrape every 15 seconds costs nothing measurable; the catch-up
ones (newest digest window, oldest pending match, per watchlist) run once at start-up.
Nothing here writes, and nothing here decides what is healthy (server.py does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, func, select, text

from monitor.adapters.db.schema import deliveries, digests, feeds, matches
from monitor.core.states import DeliveryStatus, DigestKind, FeedState


@dataclass(frozen=True, slots=True)
class DatabaseStatus:
    """What the database says about the whole deployment (every worker's work)."""

    feeds_by_state: dict[str, int] = field(default_factory=dict)
    feeds_failing: int = 0
    last_success_at: datetime | None = None  # newest successful fetch of any feed
    # (channel, status) -> rows, for the pending and dead ones
    deliveries_by_channel_status: dict[tuple[str, str], int] = field(default_factory=dict)

    def deliveries(self, status: DeliveryStatus) -> int:
        return sum(n for (_, s), n in self.deliveries_by_channel_status.items() if s == status)


def ping(connection: Connection) -> None:
    connection.execute(text("SELECT 1"))


def database_status(connection: Connection) -> DatabaseStatus:
    by_state = {
        row.state: row.n
        for row in connection.execute(
            select(feeds.c.state, func.count().label("n")).group_by(feeds.c.state)
        )
    }
    failing = connection.execute(
        select(func.count())
        .select_from(feeds)
        .where(feeds.c.state != FeedState.STOPPED.value)
        .where(feeds.c.consecutive_failures > 0)
    ).scalar_one()
    last_success = connection.execute(select(func.max(feeds.c.last_success_at))).scalar_one()
    by_channel = {
        (row.channel, row.status): row.n
        for row in connection.execute(
            select(deliveries.c.channel, deliveries.c.status, func.count().label("n"))
            # Delivered rows pile up forever and nobody alerts on them: the status index
            # keeps this to the few rows still pending or dead.
            .where(deliveries.c.status.in_([DeliveryStatus.PENDING, DeliveryStatus.DEAD]))
            .group_by(deliveries.c.channel, deliveries.c.status)
        )
    }
    return DatabaseStatus(
        feeds_by_state=by_state,
        feeds_failing=int(failing),
        # func.max bypasses the column's type on some dialects: make it aware UTC here.
        last_success_at=_utc(last_success),
        deliveries_by_channel_status=by_channel,
    )


def last_digest_windows(connection: Connection) -> dict[str, datetime]:
    """The end of the newest scheduled-digest window of each watchlist."""
    rows = connection.execute(
        select(digests.c.watchlist_id, func.max(digests.c.window_end).label("end"))
        .where(digests.c.kind == DigestKind.DIGEST.value)
        .group_by(digests.c.watchlist_id)
    )
    return {row.watchlist_id: _utc(row.end) for row in rows if row.end is not None}  # type: ignore[misc]


def oldest_pending_matches(connection: Connection) -> dict[str, datetime]:
    """When the oldest match no digest has taken yet was found, per watchlist."""
    rows = connection.execute(
        select(matches.c.watchlist_id, func.min(matches.c.matched_at).label("oldest"))
        .where(matches.c.digest_id.is_(None))
        .group_by(matches.c.watchlist_id)
    )
    return {row.watchlist_id: _utc(row.oldest) for row in rows if row.oldest is not None}  # type: ignore[misc]


def _utc(value: datetime | str | None) -> datetime | None:
    from datetime import UTC

    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns aggregates of DateTime columns as text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
