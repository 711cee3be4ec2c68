"""What each of the daemon's jobs does: a few lines calling a flow, and counting the result.

The poll tick runs flows.poll.run_poll_cycle (poll, then drain the outbox); a digest job runs
flows.digests.create_digest for the window that just ended; the outbox job runs
flows.outbox.Outbox.deliver_pending; retention runs flows.retention.prune; the reload job
checks the watchlist folder and backfills what changed (flows.backfill.apply_watchlists).
When they run is service/scheduler.py's business; blocking work (SQL) runs in a thread pool,
never on the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Engine

from monitor.adapters.db.status import last_digest_windows, oldest_pending_matches
from monitor.config import Settings
from monitor.core.states import DeliveryStatus
from monitor.core.watchlist import Watchlist
from monitor.errors import MonitorError
from monitor.flows.backfill import apply_watchlists
from monitor.flows.digests import create_digest
from monitor.flows.matching import SemanticSource
from monitor.flows.outbox import DeliveryOutcome, Outbox
from monitor.flows.poll import Poller, run_poll_cycle
from monitor.flows.retention import prune
from monitor.service.metrics import Metrics
from monitor.service.reload import WatchlistReloader
from monitor.service.scheduler import (
    OUTBOX_JOB,
    DigestSchedule,
    JobScheduler,
    cron_trigger,
    digest_job_id,
    missed_digests,
    previous_fire_time,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], datetime]

DELIVERY_OUTCOMES = {
    DeliveryStatus.DELIVERED: "delivered",
    DeliveryStatus.PENDING: "failed",  # will be retried
    DeliveryStatus.DEAD: "dead",
}


def digest_schedule(watchlist: Watchlist) -> DigestSchedule:
    return DigestSchedule(cron=watchlist.cron, timezone=watchlist.timezone)


class DaemonJobs:
    """The job bodies of one daemon, with what they share: the poller and outbox of this
    worker, the watchlists in force, the scheduler (to run a job soon), metrics."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        reloader: WatchlistReloader,
        scheduler: JobScheduler,
        metrics: Metrics,
        clock: Clock,
        is_stopping: Callable[[], bool],
        semantic: SemanticSource | None = None,
    ) -> None:
        self.settings = settings
        self.semantic = semantic  # the index the poll scores with, for backfills too
        self.engine = engine
        self.reloader = reloader
        self.scheduler = scheduler
        self.metrics = metrics
        self.clock = clock
        self.is_stopping = is_stopping
        self.poller: Poller | None = None
        self.outbox: Outbox | None = None
        self.last_poll_at: datetime | None = None
        self._threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="monitor-job")

    def attach(self, poller: Poller) -> None:
        """The poller exists only inside the daemon's serve(); the outbox shares its name."""
        self.poller = poller
        self.outbox = Outbox(self.engine, self.settings, owner=poller.owner, clock=self.clock)

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    def watchlists(self) -> list[Watchlist]:
        return list(self.reloader.state.in_force.values())

    # -- the jobs ------------------------------------------------------------------------------

    async def poll(self) -> None:
        """Claim the due feeds and poll them; alert strong matches found in this tick."""
        assert self.poller is not None and self.outbox is not None
        summary = await run_poll_cycle(
            self.poller, self.outbox, on_feed_done=self.metrics.observe_feed
        )
        self.last_poll_at = self.clock()
        self.metrics.last_poll.set(self.last_poll_at.timestamp())
        if summary.polled:
            log.info(
                "polled %d feeds: %d new articles, %d matches, %d failed",
                summary.polled,
                summary.new_articles,
                summary.matches,
                summary.failed,
            )
        self.count_deliveries(summary.deliveries)

    async def make_digest(self, watchlist_id: str) -> None:
        """The digest of the window that ended at the schedule's latest fire time (made once,
        whichever worker or catch-up asks first), then send it without waiting for the tick."""
        watchlist = self.reloader.state.in_force.get(watchlist_id)
        if watchlist is None:
            return
        now = self.clock()
        window_end = previous_fire_time(cron_trigger(digest_schedule(watchlist)), now)
        if window_end is None:
            return
        created = await self.in_thread(
            functools.partial(
                create_digest, self.engine, self.settings, watchlist, now=now, window_end=window_end
            )
        )
        if created.created:
            self.metrics.digests_created.labels(watchlist=watchlist_id).inc()
        if created.delivery_ids:
            self.scheduler.run_soon(OUTBOX_JOB)

    async def send_outbox(self) -> None:
        outbox = self.outbox or Outbox(self.engine, self.settings)
        self.count_deliveries(await outbox.drain())

    async def prune(self) -> None:
        result = await self.in_thread(
            functools.partial(
                prune,
                self.engine,
                now=self.clock(),
                days=self.settings.retention.days,
                batch=self.settings.retention.batch,
                story_window=self.settings.stories.window,
                should_stop=self.is_stopping,
            )
        )
        self.metrics.articles_pruned.inc(result.articles_pruned)

    async def reload_watchlists(self) -> None:
        if await self.in_thread(self.reloader.check):
            await self.apply_watchlists()
            self.sync_digest_jobs()
            self.update_watchlist_metrics()

    async def apply_watchlists(self) -> None:
        """Backfill the watchlists that appeared, changed or became valid again, and record
        the versions in force (flows/backfill.py); a failure is logged, never fatal."""
        watchlists, now = self.watchlists(), self.clock()

        def apply() -> None:
            # In the job thread: building the semantic index reads the example files.
            index = self.semantic(watchlists) if self.semantic is not None else None
            apply_watchlists(
                self.engine,
                watchlists,
                window=self.settings.watchlists.backfill,
                now=now,
                semantic=index,
            )

        try:
            await self.in_thread(apply)
        except MonitorError as exc:
            log.error("backfill failed: %s", exc)

    # -- schedules -----------------------------------------------------------------------------

    def sync_digest_jobs(self) -> None:
        schedules = {w.id: digest_schedule(w) for w in self.watchlists()}
        self.scheduler.sync_digest_jobs(schedules, self.make_digest)

    async def catch_up(self) -> None:
        """Digests that fell due while no daemon ran are made now, once each."""
        schedules = {w.id: digest_schedule(w) for w in self.watchlists()}
        if not schedules:
            return
        last, oldest = await self.in_thread(self._digest_history)
        missed = missed_digests(
            schedules, last_windows=last, oldest_pending=oldest, now=self.clock()
        )
        for watchlist_id, due in sorted(missed.items()):
            log.info(
                "the digest due at %s was missed while monitor was not running: making it now",
                due.isoformat(),
                extra={"watchlist": watchlist_id},
            )
            self.scheduler.run_soon(digest_job_id(watchlist_id))

    def _digest_history(self) -> tuple[dict[str, datetime], dict[str, datetime]]:
        with self.engine.connect() as connection:
            return last_digest_windows(connection), oldest_pending_matches(connection)

    # -- counting ------------------------------------------------------------------------------

    def update_watchlist_metrics(self) -> None:
        self.metrics.start_at_zero(self.settings.channels, self.reloader.state.in_force)
        self.metrics.watchlists_loaded.set(len(self.reloader.state.in_force))
        self.metrics.watchlists_invalid.set(len(self.reloader.state.invalid))

    def count_deliveries(self, outcomes: list[DeliveryOutcome]) -> None:
        for outcome in outcomes:
            self.metrics.observe_delivery(outcome.channel, DELIVERY_OUTCOMES[outcome.status])

    async def in_thread(self, function: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, function)
