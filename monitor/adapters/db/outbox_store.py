"""The outbox in the database: one row per (digest or alert, channel), claimed with a lease
(`FOR UPDATE SKIP LOCKED` on PostgreSQL), marked delivered only after the channel accepted
it, retried with backoff and dead-lettered with its error after the last attempt. The rows
are created with their digest, in digest_store. Every function takes a Connection and never
commits: flows/outbox.py opens the transactions. This module must not send or read the clock.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, or_, select, update

from monitor.adapters.db.dialect import for_update_skip_locked
from monitor.adapters.db.schema import DeliveryStatus, deliveries, digests
from monitor.adapters.db.transactions import chunks
from monitor.core.digest import DigestContent

STALE_ATTEMPT_ERROR = (
    "the worker stopped during the last attempt, so whether the channel accepted it is "
    "unknown; `monitor deliveries retry` sends it again with the same Idempotency-Key"
)


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """An outbox row this worker holds the lease on, with the frozen digest to send."""

    id: int
    digest_id: int
    channel: str
    idempotency_key: str
    attempts: int  # including the attempt being made now
    content: DigestContent
    delivered_parts: frozenset[str] = frozenset()  # targets that accepted an earlier attempt


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One outbox row as `monitor deliveries list` shows it."""

    id: int
    digest_id: int
    watchlist_id: str
    kind: str
    channel: str
    status: str
    attempts: int
    next_attempt_at: datetime | None  # None once delivered or dead
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class RetryResult:
    scheduled: tuple[int, ...]  # pending again, due now
    delivered: tuple[int, ...]  # already delivered: nothing to retry
    in_flight: tuple[int, ...]  # another worker holds a live lease on it
    missing: tuple[int, ...]  # no such delivery


def _free_lease(now: datetime) -> ColumnElement[bool]:
    return or_(deliveries.c.lease_expires_at.is_(None), deliveries.c.lease_expires_at <= now)


def claim_due(
    connection: Connection,
    *,
    now: datetime,
    owner: str,
    lease: timedelta,
    max_attempts: int,
    limit: int = 50,
    digest_ids: Collection[int] | None = None,
    delivery_ids: Collection[int] | None = None,
    due_by: datetime | None = None,
    per_channel: int | None = None,
) -> list[ClaimedDelivery]:
    """Lease up to `limit` due pending rows to `owner` and count the attempt being made.

    Due: pending, next attempt at or before `due_by` (default `now`; a drain passes its
    start, so a row that fails during the drain waits for the next one), no live lease.
    Rows locked by another worker are skipped, not waited for. A row whose lease expired
    after its last allowed attempt (its worker died mid-send) is dead-lettered instead,
    with that said.

    With `per_channel` (sends in flight per channel), the lease is `lease` times the rounds
    the busiest channel of the batch needs, since its last row starts only after the others.
    """
    conditions = [
        deliveries.c.status == DeliveryStatus.PENDING.value,
        deliveries.c.next_attempt_at <= (now if due_by is None else due_by),
        _free_lease(now),
    ]
    if digest_ids is not None:
        conditions.append(deliveries.c.digest_id.in_(list(digest_ids)))
    if delivery_ids is not None:
        conditions.append(deliveries.c.id.in_(list(delivery_ids)))
    due = (
        select(
            deliveries.c.id, deliveries.c.channel, deliveries.c.attempts, deliveries.c.lease_owner
        )
        .where(*conditions)
        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
        .limit(limit)
    )
    rows = connection.execute(for_update_skip_locked(connection, due)).all()
    stale = [r.id for r in rows if r.lease_owner is not None and r.attempts >= max_attempts]
    if stale:
        connection.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(stale))
            .values(
                status=DeliveryStatus.DEAD.value,
                last_error=STALE_ATTEMPT_ERROR,
                lease_owner=None,
                lease_expires_at=None,
            )
        )
    claimed = [r.id for r in rows if r.id not in stale]
    if not claimed:
        return []
    if per_channel is not None:
        busiest = max(Counter(r.channel for r in rows if r.id not in stale).values())
        lease = lease * math.ceil(busiest / per_channel)
    connection.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(claimed))
        .values(
            lease_owner=owner,
            lease_expires_at=now + lease,
            attempts=deliveries.c.attempts + 1,
        )
    )
    result = connection.execute(
        select(
            deliveries.c.id,
            deliveries.c.digest_id,
            deliveries.c.channel,
            deliveries.c.idempotency_key,
            deliveries.c.attempts,
            deliveries.c.delivered_parts,
            digests.c.payload,
        )
        .select_from(deliveries.join(digests, digests.c.id == deliveries.c.digest_id))
        .where(deliveries.c.id.in_(claimed))
        .order_by(deliveries.c.id)
    )
    return [
        ClaimedDelivery(
            id=row.id,
            digest_id=row.digest_id,
            channel=row.channel,
            idempotency_key=row.idempotency_key,
            attempts=row.attempts,
            content=DigestContent.from_dict(row.payload),
            delivered_parts=frozenset(row.delivered_parts or ()),
        )
        for row in result
    ]


def mark_delivered(connection: Connection, delivery_id: int, *, now: datetime) -> bool:
    """Record that the channel accepted the row. False if it was no longer pending.

    Deliberately not conditional on still holding the lease: the message did go out, and
    leaving the row pending would send it again.
    """
    result = connection.execute(
        update(deliveries)
        .where(
            deliveries.c.id == delivery_id,
            deliveries.c.status == DeliveryStatus.PENDING.value,
        )
        .values(
            status=DeliveryStatus.DELIVERED.value,
            delivered_at=now,
            last_error=None,
            lease_owner=None,
            lease_expires_at=None,
        )
    )
    return result.rowcount == 1


def record_failure(
    connection: Connection,
    delivery_id: int,
    *,
    owner: str,
    now: datetime,
    error: str,
    permanent: bool,
    max_attempts: int,
    delay: timedelta,
    delivered_parts: Collection[str] = (),
) -> DeliveryStatus | None:
    """Record a failed attempt: pending again after `delay`, or dead with the error kept.

    Dead when the failure is permanent or this was attempt number `max_attempts` or later.
    `delivered_parts` (targets that accepted this attempt) join those of earlier attempts.
    Returns the new status, or None if this worker no longer held the row's lease.
    """
    row = connection.execute(
        select(deliveries.c.attempts, deliveries.c.delivered_parts)
        .where(
            deliveries.c.id == delivery_id,
            deliveries.c.status == DeliveryStatus.PENDING.value,
            deliveries.c.lease_owner == owner,
        )
        .with_for_update()
    ).one_or_none()
    if row is None:
        return None
    dead = permanent or row.attempts >= max_attempts
    values: dict[str, Any] = {
        "last_error": error,
        "lease_owner": None,
        "lease_expires_at": None,
        "status": (DeliveryStatus.DEAD if dead else DeliveryStatus.PENDING).value,
    }
    if delivered_parts:
        values["delivered_parts"] = sorted(set(row.delivered_parts or ()) | set(delivered_parts))
    if not dead:
        values["next_attempt_at"] = now + delay
    connection.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(**values))
    return DeliveryStatus.DEAD if dead else DeliveryStatus.PENDING


def list_deliveries(
    connection: Connection, *, statuses: Collection[str] | None = None, limit: int = 500
) -> list[DeliveryRow]:
    """Outbox rows, newest first: status, attempts, last error and next attempt."""
    query = (
        select(
            deliveries.c.id,
            deliveries.c.digest_id,
            digests.c.watchlist_id,
            digests.c.kind,
            deliveries.c.channel,
            deliveries.c.status,
            deliveries.c.attempts,
            deliveries.c.next_attempt_at,
            deliveries.c.last_error,
            deliveries.c.created_at,
            deliveries.c.delivered_at,
        )
        .select_from(deliveries.join(digests, digests.c.id == deliveries.c.digest_id))
        .order_by(deliveries.c.id.desc())
        .limit(limit)
    )
    if statuses:
        query = query.where(deliveries.c.status.in_(list(statuses)))
    rows = connection.execute(query).all()
    return [
        DeliveryRow(
            id=row.id,
            digest_id=row.digest_id,
            watchlist_id=row.watchlist_id,
            kind=row.kind,
            channel=row.channel,
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=(
                row.next_attempt_at if row.status == DeliveryStatus.PENDING.value else None
            ),
            last_error=row.last_error,
            created_at=row.created_at,
            delivered_at=row.delivered_at,
        )
        for row in rows
    ]


def schedule_retry(
    connection: Connection, *, ids: Sequence[int] | None, now: datetime
) -> RetryResult:
    """Make pending and dead rows due now, ignoring backoff; `ids=None` means all of them.

    Attempts are kept, not reset: a retried dead row gets one more attempt, and if that
    fails it is dead again with the new error. Rows another worker is sending are left alone.
    """
    retryable = deliveries.c.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.DEAD.value])
    query = select(
        deliveries.c.id, deliveries.c.status, deliveries.c.lease_expires_at
    ).with_for_update()
    query = (
        query.where(deliveries.c.id.in_(list(ids))) if ids is not None else query.where(retryable)
    )
    rows = {row.id: row for row in connection.execute(query)}
    delivered = tuple(i for i, r in rows.items() if r.status == DeliveryStatus.DELIVERED.value)
    in_flight = tuple(
        i
        for i, r in rows.items()
        if r.status != DeliveryStatus.DELIVERED.value
        and r.lease_expires_at is not None
        and r.lease_expires_at > now
    )
    scheduled = tuple(sorted(set(rows) - set(delivered) - set(in_flight)))
    for chunk in chunks(scheduled):
        connection.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(chunk), retryable)
            .values(
                status=DeliveryStatus.PENDING.value,
                next_attempt_at=now,
                lease_owner=None,
                lease_expires_at=None,
            )
        )
    missing = tuple(sorted(set(ids) - set(rows))) if ids is not None else ()
    return RetryResult(scheduled, tuple(sorted(delivered)), tuple(sorted(in_flight)), missing)
