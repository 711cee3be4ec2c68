"""Digests, alerts and the outbox sender: the shell that gathers, lets the core decide, applies.

What the pipeline, the scheduler and the CLI call:

- `create_digest(engine, settings, watchlist, now=..., window_end=...)`: the digest of one
  watchlist for one window (created once, whoever asks), with its outbox rows.
- `send_alerts(engine, settings, watchlists, now=..., found_since=...)`: at the end of a poll
  cycle, immediate alerts for the strong matches found in it, delivered right away.
- `deliver_pending(engine, settings, now=...)`: claim due outbox rows and deliver them
  concurrently; one failing or slow channel never holds up another, and every send is
  bounded by its channel's timeout.

Database work is sync SQLAlchemy; it runs in worker threads from the async functions so a
slow commit never stalls a send in flight. Log lines name the channel and the digest.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

import httpx
from sqlalchemy import Engine

from monitor.adapters.channels import Outgoing, Sender, SenderDeps, build_sender
from monitor.adapters.db import digest_store, outbox_store
from monitor.adapters.db.digest_store import AlertPolicy, CreatedDigest, DigestPolicy
from monitor.adapters.db.outbox_store import ClaimedDelivery
from monitor.adapters.render import utc_iso
from monitor.config import Settings
from monitor.core.backoff import backoff_delay
from monitor.core.states import DeliveryStatus
from monitor.errors import DeliveryError, PermanentDeliveryError
from monitor.flows.poll import worker_id

log = logging.getLogger(__name__)

LEASE_MARGIN = timedelta(minutes=1)  # beyond the slowest channel's timeout


class DeliveryWatchlist(DigestPolicy, AlertPolicy, Protocol):
    """What delivery needs of a watchlist (monitor.core.watchlist.Watchlist has it all)."""

    @property
    def channels(self) -> Sequence[str]: ...


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What one attempt at one outbox row came to."""

    delivery_id: int
    digest_id: int
    watchlist_id: str
    channel: str
    status: DeliveryStatus  # delivered, pending (retried later) or dead
    attempts: int
    error: str | None = None
    next_attempt_at: datetime | None = None


def known_channels(settings: Settings, watchlist: DeliveryWatchlist) -> list[str]:
    """The watchlist's channels that config.toml defines; the others are logged and skipped."""
    names = []
    for name in watchlist.channels:
        if name in settings.channels:
            names.append(name)
        else:
            log.error(
                "watchlist names channel %r, which config.toml does not define; "
                "`monitor watchlists check` reports it",
                name,
                extra={"watchlist": watchlist.id, "channel": name},
            )
    return names


def window_key(now: datetime, window_end: datetime | None) -> str:
    """Scheduled digests are keyed by their window end, so every worker agrees on it; a
    digest asked for by hand is a window of its own."""
    return utc_iso(window_end) if window_end is not None else f"manual:{utc_iso(now)}"


def create_digest(
    engine: Engine,
    settings: Settings,
    watchlist: DeliveryWatchlist,
    *,
    now: datetime,
    window_end: datetime | None = None,
) -> CreatedDigest:
    """The digest of `watchlist` for the window ending at `window_end` (the scheduled fire
    time), or a manual one when None. Created once: a second call returns the first's."""
    created = digest_store.create_digest(
        engine,
        watchlist,
        channels=known_channels(settings, watchlist),
        window_key=window_key(now, window_end),
        window_end=window_end or now,
        now=now,
    )
    extra = {"watchlist": watchlist.id, "digest_id": created.digest_id}
    if created.created:
        log.info(
            "digest created: %d stories, %d deliveries",
            created.content.total,
            len(created.delivery_ids),
            extra=extra,
        )
    else:
        log.info("digest for this window exists already", extra=extra)
    return created


def create_alerts(
    engine: Engine,
    settings: Settings,
    watchlists: Sequence[DeliveryWatchlist],
    *,
    now: datetime,
    found_since: datetime,
) -> list[CreatedDigest]:
    """Alert rows (and their outbox rows) for matches found since `found_since`."""
    created: list[CreatedDigest] = []
    for watchlist in watchlists:
        if watchlist.alert_threshold is None:
            continue
        alerts = digest_store.create_alerts(
            engine,
            watchlist,
            channels=known_channels(settings, watchlist),
            found_since=found_since,
            now=now,
        )
        for alert in alerts:
            log.info(
                "alert created: %s",
                alert.content.items[0].title,
                extra={"watchlist": watchlist.id, "digest_id": alert.digest_id},
            )
        created.extend(alerts)
    return created


async def send_alerts(
    engine: Engine,
    settings: Settings,
    watchlists: Sequence[DeliveryWatchlist],
    *,
    now: datetime,
    found_since: datetime,
    deps: SenderDeps | None = None,
    senders: Mapping[str, Sender] | None = None,
    owner: str | None = None,
) -> list[DeliveryOutcome]:
    """End of a poll cycle: alert the strong matches found since `found_since` (the cycle's
    start) and deliver those alerts now. Matches over the hourly budget wait for the digest."""
    created = await asyncio.to_thread(
        create_alerts, engine, settings, watchlists, now=now, found_since=found_since
    )
    if not created:
        return []
    return await deliver_pending(
        engine,
        settings,
        now=now,
        deps=deps,
        senders=senders,
        owner=owner,
        digest_ids=[alert.digest_id for alert in created],
    )


def delivery_lease(settings: Settings) -> timedelta:
    """How long a claim holds: longer than any send may take, so no two workers send a row
    at once, yet short enough that a dead worker's rows soon go out."""
    timeouts = [settings.delivery.timeout]
    timeouts += [c.timeout for c in settings.channels.values() if hasattr(c, "timeout")]
    return max(timeouts) + LEASE_MARGIN


def send_timeout(settings: Settings, channel: str) -> float:
    config = settings.channels.get(channel)
    timeout = getattr(config, "timeout", None) or settings.delivery.timeout
    return float(timeout.total_seconds())


@asynccontextmanager
async def sender_deps(settings: Settings, deps: SenderDeps | None) -> AsyncIterator[SenderDeps]:
    """The caller's deps, or production ones with an HTTP client for this call."""
    if deps is not None:
        yield deps if deps.base_dir is not None else replace(deps, base_dir=settings.base_dir)
        return
    async with httpx.AsyncClient() as client:
        yield SenderDeps(http_client=client, environ=os.environ, base_dir=settings.base_dir)


async def deliver_pending(
    engine: Engine,
    settings: Settings,
    *,
    now: datetime,
    deps: SenderDeps | None = None,
    senders: Mapping[str, Sender] | None = None,
    owner: str | None = None,
    limit: int = 100,
    digest_ids: Collection[int] | None = None,
    delivery_ids: Collection[int] | None = None,
    jitter: Callable[[], float] = random.random,
) -> list[DeliveryOutcome]:
    """Claim the due outbox rows (optionally only those of `digest_ids` or `delivery_ids`)
    and deliver them concurrently. `senders` replaces the sender of a channel by name."""
    owner = owner or worker_id()
    claimed = await asyncio.to_thread(
        outbox_store.claim_due,
        engine,
        now=now,
        owner=owner,
        lease=delivery_lease(settings),
        max_attempts=settings.delivery.max_attempts,
        limit=limit,
        digest_ids=digest_ids,
        delivery_ids=delivery_ids,
    )
    if not claimed:
        return []
    async with sender_deps(settings, deps) as ready:
        attempts = [
            _deliver_one(engine, settings, row, ready, senders or {}, owner, now, jitter)
            for row in claimed
        ]
        return list(await asyncio.gather(*attempts))


def _sender_for(
    settings: Settings, channel: str, deps: SenderDeps, senders: Mapping[str, Sender]
) -> Sender:
    if channel in senders:
        return senders[channel]
    config = settings.channels.get(channel)
    if config is None:
        raise PermanentDeliveryError(
            f"channel {channel} is no longer defined in config.toml; add it back and run "
            f"`monitor deliveries retry`"
        )
    return build_sender(channel, config, deps)


async def _deliver_one(
    engine: Engine,
    settings: Settings,
    row: ClaimedDelivery,
    deps: SenderDeps,
    senders: Mapping[str, Sender],
    owner: str,
    now: datetime,
    jitter: Callable[[], float],
) -> DeliveryOutcome:
    extra = {
        "channel": row.channel,
        "digest_id": row.digest_id,
        "delivery_id": row.id,
        "watchlist": row.content.watchlist_id,
    }
    message = Outgoing(row.id, row.digest_id, row.channel, row.idempotency_key, row.content)
    timeout = send_timeout(settings, row.channel)
    try:
        sender = _sender_for(settings, row.channel, deps, senders)
        await asyncio.wait_for(sender.send(message), timeout=timeout)
    except DeliveryError as exc:
        return await _failed(engine, settings, row, owner, now, jitter, exc, extra)
    except TimeoutError:
        error = DeliveryError(f"channel {row.channel}: no answer within {timeout:g}s")
        return await _failed(engine, settings, row, owner, now, jitter, error, extra)
    except Exception as exc:  # a bug in a sender must not stop the other channels
        log.exception("unexpected error while sending", extra=extra)
        error = DeliveryError(f"channel {row.channel}: {type(exc).__name__}: {exc}")
        return await _failed(engine, settings, row, owner, now, jitter, error, extra)
    await asyncio.to_thread(outbox_store.mark_delivered, engine, row.id, now=now)
    log.info("delivered (attempt %d)", row.attempts, extra=extra)
    return DeliveryOutcome(
        row.id,
        row.digest_id,
        row.content.watchlist_id,
        row.channel,
        DeliveryStatus.DELIVERED,
        row.attempts,
    )


async def _failed(
    engine: Engine,
    settings: Settings,
    row: ClaimedDelivery,
    owner: str,
    now: datetime,
    jitter: Callable[[], float],
    error: DeliveryError,
    extra: Mapping[str, object],
) -> DeliveryOutcome:
    policy = settings.delivery
    delay = backoff_delay(
        row.attempts, base=policy.base_delay, cap=policy.max_delay, jitter=jitter()
    )
    status = await asyncio.to_thread(
        outbox_store.record_failure,
        engine,
        row.id,
        owner=owner,
        now=now,
        error=str(error),
        permanent=isinstance(error, PermanentDeliveryError),
        max_attempts=policy.max_attempts,
        delay=delay,
    )
    if status is DeliveryStatus.DEAD:
        log.error("dead-lettered after attempt %d: %s", row.attempts, error, extra=extra)
    else:
        log.warning(
            "attempt %d failed, retrying in %s: %s", row.attempts, delay, error, extra=extra
        )
    return DeliveryOutcome(
        row.id,
        row.digest_id,
        row.content.watchlist_id,
        row.channel,
        status or DeliveryStatus.PENDING,
        row.attempts,
        str(error),
        now + delay if status is DeliveryStatus.PENDING else None,
    )
