"""The outbox sender: claim due (digest or alert, channel) rows, deliver them concurrently,
record each outcome. One failing or slow channel never holds up another, and every send is
bounded by its channel's timeout.

`Outbox` holds what every send needs (engine, settings, sender dependencies, the worker's
name, the jitter source), so a call says only what differs: which rows, and when. Database
work is sync SQLAlchemy, one short transaction per step, run in worker threads so a slow
commit never stalls a send in flight. Log lines name the channel and the digest.
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

import httpx
from sqlalchemy import Engine

from monitor.adapters.channels import Outgoing, Sender, SenderDeps, build_sender
from monitor.adapters.db import outbox_store
from monitor.adapters.db.outbox_store import ClaimedDelivery, RetryResult
from monitor.adapters.db.transactions import write_transaction
from monitor.config import Settings
from monitor.core.backoff import backoff_delay
from monitor.core.states import DeliveryStatus
from monitor.errors import DeliveryError, PermanentDeliveryError
from monitor.flows.digests import AlertPolicy, create_alerts
from monitor.flows.workers import worker_id

log = logging.getLogger(__name__)

LEASE_MARGIN = timedelta(minutes=1)  # beyond the slowest channel's timeout


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


class Outbox:
    """Delivers outbox rows for one worker. `senders` replaces the sender of a channel by
    name (tests); `deps` replaces the production HTTP client and environment."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        deps: SenderDeps | None = None,
        senders: Mapping[str, Sender] | None = None,
        owner: str | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.deps = deps
        self.senders = dict(senders or {})
        self.owner = owner or worker_id()
        self.jitter = jitter

    async def deliver_pending(
        self,
        *,
        now: datetime,
        limit: int = 100,
        digest_ids: Collection[int] | None = None,
        delivery_ids: Collection[int] | None = None,
    ) -> list[DeliveryOutcome]:
        """Claim the due rows (optionally only those of `digest_ids` or `delivery_ids`) and
        deliver them concurrently."""
        claimed = await asyncio.to_thread(
            self._claim, now, limit, digest_ids=digest_ids, delivery_ids=delivery_ids
        )
        if not claimed:
            return []
        async with sender_deps(self.settings, self.deps) as ready:
            attempts = [self._deliver_one(row, ready, now) for row in claimed]
            # Every send finishes before the client closes: one row failing to be recorded
            # must not cut the other channels' sends off mid-request.
            results = await asyncio.gather(*attempts, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [r for r in results if isinstance(r, DeliveryOutcome)]

    async def send_alerts(
        self, watchlists: Sequence[AlertPolicy], *, now: datetime, found_since: datetime
    ) -> list[DeliveryOutcome]:
        """End of a poll cycle: alert the strong matches found since `found_since` (the cycle's
        start) and deliver those alerts now. Matches over the hourly budget wait for the
        digest."""
        created = await asyncio.to_thread(
            create_alerts,
            self.engine,
            self.settings,
            watchlists,
            now=now,
            found_since=found_since,
        )
        if not created:
            return []
        return await self.deliver_pending(now=now, digest_ids=[a.digest_id for a in created])

    def schedule_retry(self, *, ids: Sequence[int] | None, now: datetime) -> RetryResult:
        """Make pending and dead rows due now (all of them when `ids` is None)."""
        with write_transaction(self.engine, what="retrying deliveries") as connection:
            return outbox_store.schedule_retry(connection, ids=ids, now=now)

    # -- one row -----------------------------------------------------------------------------

    def _claim(
        self,
        now: datetime,
        limit: int,
        *,
        digest_ids: Collection[int] | None,
        delivery_ids: Collection[int] | None,
    ) -> list[ClaimedDelivery]:
        with write_transaction(self.engine, what="claiming deliveries") as connection:
            return outbox_store.claim_due(
                connection,
                now=now,
                owner=self.owner,
                lease=delivery_lease(self.settings),
                max_attempts=self.settings.delivery.max_attempts,
                limit=limit,
                digest_ids=digest_ids,
                delivery_ids=delivery_ids,
            )

    def _sender_for(self, channel: str, deps: SenderDeps) -> Sender:
        if channel in self.senders:
            return self.senders[channel]
        config = self.settings.channels.get(channel)
        if config is None:
            raise PermanentDeliveryError(
                f"channel {channel} is no longer defined in config.toml; add it back and run "
                f"`monitor deliveries retry`"
            )
        return build_sender(channel, config, deps)

    async def _deliver_one(
        self, row: ClaimedDelivery, deps: SenderDeps, now: datetime
    ) -> DeliveryOutcome:
        extra = {
            "channel": row.channel,
            "digest_id": row.digest_id,
            "delivery_id": row.id,
            "watchlist": row.content.watchlist_id,
        }
        message = Outgoing(row.id, row.digest_id, row.channel, row.idempotency_key, row.content)
        timeout = send_timeout(self.settings, row.channel)
        try:
            sender = self._sender_for(row.channel, deps)
            await asyncio.wait_for(sender.send(message), timeout=timeout)
        except DeliveryError as exc:
            return await self._failed(row, now, exc, extra)
        except TimeoutError:
            error = DeliveryError(f"channel {row.channel}: no answer within {timeout:g}s")
            return await self._failed(row, now, error, extra)
        except Exception as exc:  # a bug in a sender must not stop the other channels
            log.exception("unexpected error while sending", extra=extra)
            error = DeliveryError(f"channel {row.channel}: {type(exc).__name__}: {exc}")
            return await self._failed(row, now, error, extra)
        await asyncio.to_thread(self._mark_delivered, row.id, now)
        log.info("delivered (attempt %d)", row.attempts, extra=extra)
        return DeliveryOutcome(
            row.id,
            row.digest_id,
            row.content.watchlist_id,
            row.channel,
            DeliveryStatus.DELIVERED,
            row.attempts,
        )

    def _mark_delivered(self, delivery_id: int, now: datetime) -> bool:
        with write_transaction(self.engine, what="recording a delivery") as connection:
            return outbox_store.mark_delivered(connection, delivery_id, now=now)

    async def _failed(
        self,
        row: ClaimedDelivery,
        now: datetime,
        error: DeliveryError,
        extra: Mapping[str, object],
    ) -> DeliveryOutcome:
        policy = self.settings.delivery
        delay = backoff_delay(
            row.attempts, base=policy.base_delay, cap=policy.max_delay, jitter=self.jitter()
        )
        status = await asyncio.to_thread(self._record_failure, row, now, error, delay)
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

    def _record_failure(
        self, row: ClaimedDelivery, now: datetime, error: DeliveryError, delay: timedelta
    ) -> DeliveryStatus | None:
        with write_transaction(self.engine, what="recording a failed delivery") as connection:
            return outbox_store.record_failure(
                connection,
                row.id,
                owner=self.owner,
                now=now,
                error=str(error),
                permanent=isinstance(error, PermanentDeliveryError),
                max_attempts=self.settings.delivery.max_attempts,
                delay=delay,
            )
