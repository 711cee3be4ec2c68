"""`monitor run`: the life cycle of the one process that polls, digests, delivers, prunes and
reloads watchlists on its schedules, serves /healthz and /metrics, and stops cleanly on
SIGTERM or SIGINT.

What each job does is service/jobs.py's (a few lines calling a flow); when jobs run is
service/scheduler.py's; what is healthy is core/health.py's; how the process stops on time
is service/shutdown.py's; one daemon per SQLite file is service/lock.py's. This module wires
them together and holds no business rule.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine

from monitor.adapters.db import feed_store
from monitor.app import matching_for, open_database, poller, semantic_indexes, utc_now
from monitor.config import Settings, database_url
from monitor.core.health import HealthSnapshot
from monitor.core.scoring import Score
from monitor.core.watchlist import Watchlist
from monitor.errors import ConfigError
from monitor.flows.feedback import LinkFeedback, feedback_secret
from monitor.flows.poll import Poller
from monitor.service.health import ProcessState, gather_health
from monitor.service.http import HttpEndpoint, make_app
from monitor.service.jobs import DaemonJobs
from monitor.service.lock import InstanceLock, sqlite_file
from monitor.service.metrics import Metrics
from monitor.service.reload import WatchlistReloader
from monitor.service.scheduler import (
    OUTBOX_JOB,
    POLL_JOB,
    RELOAD_JOB,
    RETENTION_JOB,
    Intervals,
    JobOutcome,
    JobScheduler,
)
from monitor.service.shutdown import (
    CANCEL_SECONDS,
    DRAIN_SECONDS,
    RELEASE_SECONDS,
    REPEAT_SECONDS,
    STOP_BUDGET,
    exit_now_if_threads_linger,
    run_until_complete,
    start_exit_watchdog,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], datetime]


class Daemon:
    """The running service. `await serve()` returns the exit code after a signal."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        intervals: Intervals | None = None,
        clock: Clock = utc_now,
        metrics: Metrics | None = None,
        exit_watchdog: bool = False,
    ) -> None:
        """`exit_watchdog`: after a stop signal, end the whole process when the stop budget
        runs out (what `monitor run` wants; not what a test running `serve()` wants)."""
        self.settings = settings
        self.exit_watchdog = exit_watchdog
        self.engine = engine
        self.intervals = intervals or Intervals()
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.metrics.watch_database(engine)
        self.reloader = WatchlistReloader(
            settings.watchlist_dir, known_channels=tuple(settings.channels)
        )
        self.scheduler = JobScheduler(clock=clock, on_job_done=self._job_done)
        # One semantic index for the watchlists in force: the poll and backfills share it.
        self.semantic = semantic_indexes(settings)
        self.jobs = DaemonJobs(
            settings,
            engine,
            reloader=self.reloader,
            scheduler=self.scheduler,
            metrics=self.metrics,
            clock=clock,
            is_stopping=lambda: self.stopping,
            semantic=self.semantic,
        )
        self.started_at = clock()
        self.stopping = False
        self.endpoint: HttpEndpoint | None = None
        self._stop: asyncio.Event | None = None
        self._force: asyncio.Future[list[str]] | None = None
        self.stop_requested_at: float | None = None  # time.monotonic() of the first signal
        # /healthz and /metrics get their own threads so a long prune never delays a probe.
        self._probes = ThreadPoolExecutor(max_workers=2, thread_name_prefix="monitor-probe")

    # -- life cycle ----------------------------------------------------------------------------

    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop, signum)
        try:
            self.reloader.check()
            self.jobs.update_watchlist_metrics()
            await self.jobs.apply_watchlists()
            await self._start_endpoint()
            # Scoring asks for the watchlists in force at every feed: reloads reach it too.
            process = matching_for(
                self.settings,
                self.engine,
                self.watchlists,
                on_match=self._count_match,
                semantic=self.semantic,
            )
            # Leaving this block closes the poller: its DB writer thread and parse processes.
            async with poller(self.settings, self.engine, match_articles=process) as p:
                self.jobs.attach(p)
                self._start_jobs()
                await self.jobs.catch_up()
                self._log_started(p)
                await self._stop.wait()
                await self._shut_down(p)
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            if self.endpoint is not None:
                await self.endpoint.stop()
            self.scheduler.shutdown()
            self.jobs.close()
            self._probes.shutdown(wait=False, cancel_futures=True)
        log.info("monitor run stopped")
        return 0

    def request_stop(self, signum: int | None = None) -> None:
        name = signal.Signals(signum).name if signum else "stop request"
        first = self.stop_requested_at
        if first is not None and time.monotonic() - first < REPEAT_SECONDS:
            log.debug("%s again within %.0f s: the same request", name, REPEAT_SECONDS)
            return
        if first is None:
            self.stop_requested_at = time.monotonic()
            log.info("%s: stopping (in-flight work gets %.0f s)", name, DRAIN_SECONDS)
            self.stopping = True
            if self.exit_watchdog:
                start_exit_watchdog(STOP_BUDGET - 0.5)
            if self._stop is not None:
                self._stop.set()
        else:
            log.warning("%s again: cancelling in-flight work now", name)
            self._force = asyncio.ensure_future(self.scheduler.cancel_in_flight(CANCEL_SECONDS))

    async def _shut_down(self, p: Poller) -> None:
        self.stopping = True
        self.scheduler.stop_taking_work()
        self.metrics.scheduler_running.set(0)
        running = self.scheduler.in_flight
        if running:
            log.info("waiting for %s to finish", ", ".join(running))
        if not await self.scheduler.drain(DRAIN_SECONDS):
            cancelled = await self.scheduler.cancel_in_flight(CANCEL_SECONDS)
            log.warning("cancelled %s: not finished in %.0f s", ", ".join(cancelled), DRAIN_SECONDS)
        released = await self._bounded(self._release_feeds, RELEASE_SECONDS, p.owner)
        if released:
            log.info("released %d feed leases", released)

    def _release_feeds(self, owner: str) -> int:
        with self.engine.begin() as connection:
            return feed_store.release_feeds(connection, owner)

    async def _start_endpoint(self) -> None:
        address = self.settings.server.host_port
        if address is None:
            return
        secret = feedback_secret(self.settings)  # ConfigError: links on, but no secret
        desk = None if secret is None else LinkFeedback(self.engine, secret, self.clock)
        endpoint = HttpEndpoint(
            make_app(self.health, self.metrics, run_blocking=self._in_probe_thread, feedback=desk),
            *address,
        )
        try:
            await endpoint.start()
        except OSError as exc:
            await endpoint.stop()
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise ConfigError(
                f"{self.settings.config_file}: server.listen: cannot listen on "
                f'{self.settings.server.listen}: {reason}; choose another address, or "" to '
                "turn the endpoint off"
            ) from None
        self.endpoint = endpoint

    def _start_jobs(self) -> None:
        now = self.clock()
        every = self.intervals
        jobs = self.jobs
        self.scheduler.add_interval_job(POLL_JOB, jobs.poll, every.poll, first_run=now)
        self.scheduler.add_interval_job(OUTBOX_JOB, jobs.send_outbox, every.outbox, first_run=now)
        self.scheduler.add_interval_job(
            RETENTION_JOB, jobs.prune, every.retention, first_run=now + every.retention_delay
        )
        self.scheduler.add_interval_job(RELOAD_JOB, jobs.reload_watchlists, every.reload)
        jobs.sync_digest_jobs()
        self.scheduler.start()
        self.metrics.scheduler_running.set(1)

    def _log_started(self, p: Poller) -> None:
        endpoint = f"http://{self.settings.server.listen}" if self.endpoint else "off"
        log.info(
            "monitor run started: %d feeds, %d watchlists, poll tick every %g s, endpoint %s",
            len(self.settings.feeds),
            len(self.reloader.state.in_force),
            self.intervals.poll.total_seconds(),
            endpoint,
            extra={"worker": p.owner},
        )

    # -- what tests and the endpoint ask ---------------------------------------------------------

    def watchlists(self) -> list[Watchlist]:
        return self.jobs.watchlists()

    async def reload_watchlists(self) -> None:
        await self.jobs.reload_watchlists()

    async def health(self) -> HealthSnapshot:
        process = ProcessState(
            now=self.clock(),
            started_at=self.started_at,
            scheduler_running=self.scheduler.running,
            stopping=self.stopping,
            last_poll_at=self.jobs.last_poll_at,
            poll_stale_after=self.poll_stale_after,
            watchlists=self.reloader.state,
        )
        return await gather_health(self.engine, process, self._in_probe_thread)

    @property
    def poll_stale_after(self) -> timedelta:
        """Longer than any healthy tick: a few ticks, each as long as a fetch may take."""
        tick = self.intervals.poll + self.settings.polling.timeout
        return max(timedelta(minutes=10), 4 * tick)

    # -- metrics and threads ---------------------------------------------------------------------

    def _job_done(self, name: str, outcome: JobOutcome, _seconds: float) -> None:
        job = name.split(":", 1)[0]  # digest:<id> -> digest: one series per job kind
        self.metrics.job_runs.labels(job=job, outcome=outcome).inc()
        if job == POLL_JOB:
            self.metrics.poll_cycles.labels(outcome=outcome).inc()

    def _count_match(self, watchlist_id: str, _score: Score) -> None:
        self.metrics.matches.labels(watchlist=watchlist_id).inc()

    async def _in_probe_thread(self, function: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._probes, function)

    async def _bounded(self, function: Callable[..., T], seconds: float, *args: Any) -> T | None:
        """Run blocking clean-up in a thread, giving up after `seconds`: exit on time beats
        a tidy exit (leases expire by themselves)."""
        try:
            return await asyncio.wait_for(
                self.jobs.in_thread(functools.partial(function, *args)), seconds
            )
        except TimeoutError:
            log.warning("%s did not finish in %.0f s; leaving it", function.__name__, seconds)
        except Exception:
            log.exception("%s failed during shutdown", function.__name__)
        return None


def run(settings: Settings) -> int:
    """`monitor run` in the foreground: returns the exit code (0 after SIGTERM/SIGINT)."""
    database = sqlite_file(database_url(settings))
    lock = InstanceLock.acquire(database) if database is not None else None
    daemon: Daemon | None = None
    try:
        engine = open_database(settings)
        try:
            daemon = Daemon(settings, engine, exit_watchdog=True)
            code = run_until_complete(daemon.serve())
        finally:
            engine.dispose()
    finally:
        if lock is not None:
            lock.release()
    exit_now_if_threads_linger(code, daemon.stop_requested_at if daemon else None)
    return code
