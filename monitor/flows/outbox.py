"""The outbox sender: claim due (digest or alert, channel) rows in bounded batches, deliver
them concurrently, record each outcome. One failing or slow channel never holds up another,
every send is bounded by its channel's timeout, and at most `[delivery] per_channel` sends per
channel and `[delivery] concurrency` in all are in flight in this process, whoever asks (the
daemon's jobs, `poll --once`, `deliveries retry --all`): one drain at a time per Outbox, one
batch (at most `concurrency` rows) claimed at a time, so every claimed row is sent well
within its lease.

`Outbox` holds what every send needs (engine, settings, sender dependencies, the worker's
name, the jitter source), so a call says only what differs: which rows, and when. Database
work is sync SQLAlchemy, one short transaction per step, run in worker threads so a slow
commit never stalls a send in flight. Log lines name the channel and the digest.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Engine

from monitor.adapters.channels import (
    Outgoing,
    Sender,
    SenderDeps,
    build_sender,
    channel_secrets,
)
from monitor.adapters.db import outbox_store
from monitor.adapters.db.outbox_store import ClaimedDelivery, RetryResult
from monitor.adapters.db.transactions import write_transaction
from monitor.config import Settings, send_timeouts
from monitor.core.backoff import backoff_delay
from monitor.core.digest import DigestContent
from monitor.core.redact import scrub
from monitor.core.states import DeliveryStatus, DigestKind
from monitor.errors import ConfigError, DeliveryError, PartialDeliveryError, PermanentDeliveryError
from monitor.flows.feedback import with_feedback_links
from monitor.flows.workers import worker_id

log = logging.getLogger(__name__)

LEASE_MARGIN = timedelta(minutes=1)  # beyond the slowest channel's timeout, by default


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
    kind: DigestKind = DigestKind.DIGEST


def delivery_lease(settings: Settings) -> timedelta:
    """How long a claim holds: longer than any send may take, so no two workers send a row
    at once, yet short enough that a dead worker's rows soon go out. `[delivery] lease` when
    set (config.py checks it outlasts every send timeout), else a minute beyond the slowest."""
    if settings.delivery.lease is not None:
        return settings.delivery.lease
    return max(send_timeouts(settings)) + LEASE_MARGIN


def utc_now() -> datetime:
    return datetime.now(UTC)


class SendLimits:
    """The concurrency limits of one process: a global semaphore and one per channel, bound
    to the event loop that first uses them (asyncio primitives belong to one loop)."""

    def __init__(self, per_channel: int, overall: int) -> None:
        self.per_channel = per_channel
        self.overall = overall
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = asyncio.Lock()
        self._all = asyncio.Semaphore(overall)
        self._channels: dict[str, asyncio.Semaphore] = {}

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._draining = asyncio.Lock()
            self._all = asyncio.Semaphore(self.overall)
            self._channels = {}

    def draining(self) -> asyncio.Lock:
        self._bind()
        return self._draining

    @asynccontextmanager
    async def slot(self, channel: str) -> AsyncIterator[None]:
        """Wait for a free slot on `channel` (first) and overall (then): a send waiting for
        a busy channel never holds a global slot another channel could use."""
        self._bind()
        per_channel = self._channels.setdefault(channel, asyncio.Semaphore(self.per_channel))
        async with per_channel, self._all:
            yield


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
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.deps = deps
        self.senders = dict(senders or {})
        self.owner = owner or worker_id()
        self.jitter = jitter
        self.clock = clock
        self.limits = SendLimits(settings.delivery.per_channel, settings.delivery.concurrency)
        # This process's outbox writes take turns: on SQLite, writers that collide sleep in
        # the busy handler (tens of ms each), which made recording 3,000 sends take minutes.
        self._writing = threading.Lock()

    @property
    def batch(self) -> int:
        """Rows claimed at a time: as many as may be in flight at once."""
        return self.settings.delivery.concurrency

    async def deliver_pending(
        self,
        *,
        now: datetime | None = None,
        limit: int | None = None,
        digest_ids: Collection[int] | None = None,
        delivery_ids: Collection[int] | None = None,
        time_limit: timedelta | None = None,
    ) -> list[DeliveryOutcome]:
        """Deliver every row due at the start (optionally only those of `digest_ids` or
        `delivery_ids`), each at most once per call, in batches of at most `concurrency`
        rows, within the concurrency limits. Stops claiming after `limit` rows or once
        `time_limit` has passed (the rows in flight finish; the rest stay due for the next
        call). With `now`, every batch uses that time (tests); else the Outbox's clock."""
        outcomes: list[DeliveryOutcome] = []
        deadline = None if time_limit is None else time.monotonic() + time_limit.total_seconds()
        async with self.limits.draining(), AsyncExitStack() as stack:
            due_by = now or self.clock()
            ready: SenderDeps | None = None
            while limit is None or len(outcomes) < limit:
                if deadline is not None and time.monotonic() >= deadline:
                    log.info("outbox: time limit reached, the rest is sent on the next run")
                    break
                size = self.batch if limit is None else min(self.batch, limit - len(outcomes))
                at = now or max(due_by, self.clock())
                claimed = await asyncio.to_thread(
                    self._claim,
                    at,
                    size,
                    due_by=due_by,
                    digest_ids=digest_ids,
                    delivery_ids=delivery_ids,
                )
                if not claimed:
                    break
                if ready is None:  # one HTTP client for the whole drain, only if needed
                    ready = await stack.enter_async_context(sender_deps(self.settings, self.deps))
                outcomes += await self._deliver_batch(claimed, ready, at)
                if len(claimed) < size:
                    break
        return outcomes

    async def _deliver_batch(
        self, claimed: Sequence[ClaimedDelivery], deps: SenderDeps, now: datetime
    ) -> list[DeliveryOutcome]:
        attempts = [self._deliver_limited(row, deps, now) for row in claimed]
        # Every send finishes before the client closes: one row failing to be recorded
        # must not cut the other channels' sends off mid-request.
        results = await asyncio.gather(*attempts, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [r for r in results if isinstance(r, DeliveryOutcome)]

    async def _deliver_limited(
        self, row: ClaimedDelivery, deps: SenderDeps, now: datetime
    ) -> DeliveryOutcome:
        async with self.limits.slot(row.channel):
            return await self._deliver_one(row, deps, now)

    async def drain(self, *, if_idle: bool = False) -> list[DeliveryOutcome]:
        """Everything due, within `[delivery] drain_time`: what a poll cycle ends with, so
        that cron-only set-ups (`poll --once`) send every alert and digest in time. With
        `if_idle`, nothing when this process is draining already (the daemon's poll tick
        must not wait minutes behind a slow channel; the outbox job follows that drain)."""
        if if_idle and self.limits.draining().locked():
            log.debug("outbox: a drain is running already; the outbox job sends the rest")
            return []
        return await self.deliver_pending(time_limit=self.settings.delivery.drain_time)

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
        due_by: datetime,
        digest_ids: Collection[int] | None,
        delivery_ids: Collection[int] | None,
    ) -> list[ClaimedDelivery]:
        with (
            self._writing,
            write_transaction(self.engine, what="claiming deliveries") as connection,
        ):
            return outbox_store.claim_due(
                connection,
                now=now,
                due_by=due_by,
                owner=self.owner,
                lease=delivery_lease(self.settings),
                per_channel=self.settings.delivery.per_channel,
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
        content = self._with_feedback_links(row, deps, now)
        message = Outgoing(
            row.id,
            row.digest_id,
            row.channel,
            row.idempotency_key,
            content,
            delivered_parts=row.delivered_parts,
        )
        timeout = send_timeout(self.settings, row.channel)
        try:
            sender = self._sender_for(row.channel, deps)
            await asyncio.wait_for(sender.send(message), timeout=timeout)
        except DeliveryError as exc:
            return await self._failed(row, now, self._scrubbed(exc, row.channel, deps), extra)
        except TimeoutError:
            error = DeliveryError(f"channel {row.channel}: no answer within {timeout:g}s")
            return await self._failed(row, now, error, extra)
        except Exception as exc:  # a bug in a sender must not stop the other channels
            error = self._scrubbed(
                DeliveryError(f"channel {row.channel}: {type(exc).__name__}: {exc}"),
                row.channel,
                deps,
            )
            # The traceback only at debug level: its frames may hold the secrets scrubbed here.
            log.error("unexpected error while sending: %s", error, extra=extra)
            log.debug("the unexpected error's traceback", exc_info=True, extra=extra)
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
            kind=row.content.kind,
        )

    def _with_feedback_links(
        self, row: ClaimedDelivery, deps: SenderDeps, now: datetime
    ) -> DigestContent:
        # Minted per send, so every delivery's links expire feedback_link_days after it.
        try:
            return with_feedback_links(self.settings, row.content, now, deps.environ)
        except ConfigError as exc:
            # The daemon refuses to start like this; a CLI send still delivers, without links.
            log.warning("sending without feedback links: %s", exc, extra={"channel": row.channel})
            return row.content

    def _scrubbed(self, error: DeliveryError, channel: str, deps: SenderDeps) -> DeliveryError:
        """The error with the channel's secrets masked: it is stored and logged."""
        config = self.settings.channels.get(channel)
        if config is None:
            return error
        text = str(error)
        clean = scrub(text, channel_secrets(config, deps.environ))
        if clean == text:
            return error
        masked = copy.copy(error)  # keeps its fields (PartialDeliveryError.delivered)
        masked.args = (clean,)
        return masked

    def _mark_delivered(self, delivery_id: int, now: datetime) -> bool:
        with (
            self._writing,
            write_transaction(self.engine, what="recording a delivery") as connection,
        ):
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
            kind=row.content.kind,
        )

    def _record_failure(
        self, row: ClaimedDelivery, now: datetime, error: DeliveryError, delay: timedelta
    ) -> DeliveryStatus | None:
        with (
            self._writing,
            write_transaction(self.engine, what="recording a failed delivery") as connection,
        ):
            return outbox_store.record_failure(
                connection,
                row.id,
                owner=self.owner,
                now=now,
                error=str(error),
                permanent=isinstance(error, PermanentDeliveryError),
                max_attempts=self.settings.delivery.max_attempts,
                delay=delay,
                delivered_parts=(
                    error.delivered if isinstance(error, PartialDeliveryError) else ()
                ),
            )
