"""`monitor run`: one process that polls, digests, delivers, prunes and reloads watchlists on
its schedules, serves /healthz and /metrics, and stops cleanly on SIGTERM or SIGINT.

What a job does is a few lines here calling the pieces that do the work (pipeline.Poller,
delivery, retention, reload); when jobs run is scheduler.py's; what is healthy is server.py's.

Shutdown, within STOP_BUDGET seconds of the signal:
1. stop taking work: no job starts any more, /healthz answers 503 "stopping";
2. the runs in flight get DRAIN_SECONDS to finish (a poll tick's fetches, a digest, sends);
3. what is still running is cancelled: a cancelled poll gives its feed leases back at once,
   a cancelled send keeps its outbox lease until it expires and is then retried with the
   same Idempotency-Key (whether the channel got it is unknown);
4. every feed lease this worker still holds is released, the endpoint closes, exit 0.
A second signal skips the wait in step 2.

One daemon per SQLite file: an exclusive OS lock (flock) on "<database>.lock", held for the
life of the process, so a second `monitor run` on the same file refuses to start (the kernel
drops the lock when the process dies, however it dies). PostgreSQL takes any number.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from monitor.adapters.db import feed_store
from monitor.adapters.db.status import (
    DatabaseStatus,
    database_status,
    last_digest_windows,
    oldest_pending_matches,
    ping,
)
from monitor.app import open_database, poller, processing_for, utc_now
from monitor.config import Settings, database_url
from monitor.core.health import HealthSnapshot
from monitor.core.scoring import Score
from monitor.core.states import DeliveryStatus
from monitor.core.watchlist import Watchlist
from monitor.errors import ConfigError, DatabaseError
from monitor.flows import delivery, retention
from monitor.flows.poll import Poller
from monitor.service.http import HttpEndpoint, make_app
from monitor.service.metrics import Metrics
from monitor.service.reload import WatchlistReloader
from monitor.service.scheduler import (
    OUTBOX_JOB,
    POLL_JOB,
    RELOAD_JOB,
    RETENTION_JOB,
    DigestSchedule,
    Intervals,
    JobScheduler,
    cron_trigger,
    digest_job_id,
    missed_digests,
    previous_fire_time,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], datetime]

STOP_BUDGET = 10.0  # seconds from SIGTERM to exit: what `docker stop` and systemd allow
DRAIN_SECONDS = 5.0
CANCEL_SECONDS = 1.5
RELEASE_SECONDS = 1.0
# `timeout`, a process-group kill or a container runtime may deliver one stop twice in a
# moment; only a second request after this long is someone insisting.
REPEAT_SECONDS = 1.0
HEALTH_TIMEOUT = 3.0
DELIVERY_OUTCOMES = {
    DeliveryStatus.DELIVERED: "delivered",
    DeliveryStatus.PENDING: "failed",  # will be retried
    DeliveryStatus.DEAD: "dead",
}


# ---- one daemon per SQLite file --------------------------------------------------------------


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).resolve()


class InstanceLock:
    """An exclusive flock on "<database>.lock", held while the process lives."""

    def __init__(self, path: Path, handle: Any) -> None:
        self.path = path
        self._handle = handle

    @classmethod
    def acquire(cls, database: Path) -> InstanceLock:
        path = database.with_name(database.name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held for the process life)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise DatabaseError(
                f"another `monitor run` (pid {holder}) is already using {database}; "
                f"SQLite is for one worker: stop that one first, or move [database] url to "
                f"PostgreSQL to run several (lock file: {path})"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        return cls(path, handle)

    def release(self) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
        self._handle.close()


# ---- the daemon --------------------------------------------------------------------------------


def digest_schedule(watchlist: Watchlist) -> DigestSchedule:
    return DigestSchedule(cron=watchlist.cron, timezone=watchlist.timezone)


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
        self.started_at = clock()
        self.last_poll_at: datetime | None = None
        self.stopping = False
        self.endpoint: HttpEndpoint | None = None
        self._poller: Poller | None = None
        self._stop: asyncio.Event | None = None
        self._force: asyncio.Future[list[str]] | None = None
        self.stop_requested_at: float | None = None  # time.monotonic() of the first signal
        # Job bodies' blocking work (SQL) runs here, not on the event loop; /healthz and
        # /metrics get their own threads so a long prune never delays a health check.
        self._jobs = ThreadPoolExecutor(max_workers=4, thread_name_prefix="monitor-job")
        self._probes = ThreadPoolExecutor(max_workers=2, thread_name_prefix="monitor-probe")

    # -- life cycle ----------------------------------------------------------------------------

    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop, signum)
        try:
            self.reloader.check()
            self._update_watchlist_metrics()
            await self._start_endpoint()
            # Scoring asks for the watchlists in force at every feed: reloads reach it too.
            process = processing_for(
                self.settings, self.engine, self.watchlists, on_match=self._count_match
            )
            # Leaving this block closes the poller: its DB writer thread and parse processes.
            async with poller(self.settings, self.engine, process_articles=process) as p:
                self._poller = p
                self._start_jobs()
                await self._catch_up()
                self._log_started()
                await self._stop.wait()
                await self._shut_down(p)
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            if self.endpoint is not None:
                await self.endpoint.stop()
            self.scheduler.shutdown()
            self._jobs.shutdown(wait=False, cancel_futures=True)
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
                _start_exit_watchdog(STOP_BUDGET - 0.5)
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
        endpoint = HttpEndpoint(
            make_app(self.health, self.metrics, run_blocking=self._in_probe_thread), *address
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
        self.scheduler.add_interval_job(POLL_JOB, self.poll, every.poll, first_run=now)
        self.scheduler.add_interval_job(OUTBOX_JOB, self.send_outbox, every.outbox, first_run=now)
        self.scheduler.add_interval_job(
            RETENTION_JOB, self.prune, every.retention, first_run=now + every.retention_delay
        )
        self.scheduler.add_interval_job(RELOAD_JOB, self.reload_watchlists, every.reload)
        self._sync_digest_jobs()
        self.scheduler.start()
        self.metrics.scheduler_running.set(1)

    def _log_started(self) -> None:
        endpoint = f"http://{self.settings.server.listen}" if self.endpoint else "off"
        log.info(
            "monitor run started: %d feeds, %d watchlists, poll tick every %g s, endpoint %s",
            len(self.settings.feeds),
            len(self.reloader.state.in_force),
            self.intervals.poll.total_seconds(),
            endpoint,
            extra={"worker": self._poller.owner if self._poller else "?"},
        )

    # -- jobs ----------------------------------------------------------------------------------

    async def poll(self) -> None:
        """Claim the due feeds and poll them; alert strong matches found in this tick."""
        assert self._poller is not None
        started = self.clock()
        summary = await self._poller.poll_once(on_feed_done=self.metrics.observe_feed)
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
        alerting = [w for w in self.watchlists() if w.alert_threshold is not None]
        if summary.matches and alerting:
            outcomes = await delivery.send_alerts(
                self.engine,
                self.settings,
                alerting,
                now=self.clock(),
                found_since=started,
                owner=self._poller.owner,
            )
            self._count_deliveries(outcomes)

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
        created = await self._in_job_thread(
            functools.partial(
                delivery.create_digest,
                self.engine,
                self.settings,
                watchlist,
                now=now,
                window_end=window_end,
            )
        )
        if created.created:
            self.metrics.digests_created.labels(watchlist=watchlist_id).inc()
        if created.delivery_ids:
            self.scheduler.run_soon(OUTBOX_JOB)

    async def send_outbox(self) -> None:
        owner = self._poller.owner if self._poller else None
        outcomes = await delivery.deliver_pending(
            self.engine, self.settings, now=self.clock(), owner=owner
        )
        self._count_deliveries(outcomes)

    async def prune(self) -> None:
        result = await self._in_job_thread(
            functools.partial(
                retention.prune,
                self.engine,
                now=self.clock(),
                days=self.settings.retention.days,
                batch=self.settings.retention.batch,
                story_window=self.settings.stories.window,
                should_stop=lambda: self.stopping,
            )
        )
        self.metrics.articles_pruned.inc(result.articles_pruned)

    async def reload_watchlists(self) -> None:
        if await self._in_job_thread(self.reloader.check):
            self._sync_digest_jobs()
            self._update_watchlist_metrics()

    def watchlists(self) -> list[Watchlist]:
        return list(self.reloader.state.in_force.values())

    def _sync_digest_jobs(self) -> None:
        schedules = {w.id: digest_schedule(w) for w in self.watchlists()}
        self.scheduler.sync_digest_jobs(schedules, self.make_digest)

    async def _catch_up(self) -> None:
        """Digests that fell due while no daemon ran are made now, once each."""
        schedules = {w.id: digest_schedule(w) for w in self.watchlists()}
        if not schedules:
            return
        last, oldest = await self._in_job_thread(self._digest_history)
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

    # -- health and metrics --------------------------------------------------------------------

    async def health(self) -> HealthSnapshot:
        status: DatabaseStatus | None = None
        error: str | None = None
        try:
            status = await asyncio.wait_for(
                self._in_probe_thread(self._database_status), HEALTH_TIMEOUT
            )
        except TimeoutError:
            error = f"no answer within {HEALTH_TIMEOUT:g} s"
        except Exception as exc:  # any failure to query is "unreachable", with its reason
            error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        state = self.reloader.state
        return HealthSnapshot(
            now=self.clock(),
            started_at=self.started_at,
            database_reachable=status is not None,
            database_error=error,
            scheduler_running=self.scheduler.running,
            stopping=self.stopping,
            last_poll_at=self.last_poll_at,
            poll_stale_after=self.poll_stale_after,
            last_successful_fetch_at=status.last_success_at if status else None,
            watchlists_loaded=len(state.in_force),
            invalid_watchlists=state.invalid,
            dead_letters=status.deliveries(DeliveryStatus.DEAD) if status else None,
            outbox_pending=status.deliveries(DeliveryStatus.PENDING) if status else None,
            feeds_failing=status.feeds_failing if status else None,
            feeds_polled=(
                sum(n for state, n in status.feeds_by_state.items() if state != "stopped")
                if status
                else None
            ),
        )

    @property
    def poll_stale_after(self) -> timedelta:
        """Longer than any healthy tick: a few ticks, each as long as a fetch may take."""
        tick = self.intervals.poll + self.settings.polling.timeout
        return max(timedelta(minutes=10), 4 * tick)

    def _database_status(self) -> DatabaseStatus:
        with self.engine.connect() as connection:
            ping(connection)
            return database_status(connection)

    def _update_watchlist_metrics(self) -> None:
        self.metrics.watchlists_loaded.set(len(self.reloader.state.in_force))
        self.metrics.watchlists_invalid.set(len(self.reloader.state.invalid))

    def _job_done(self, name: str, outcome: str, _seconds: float) -> None:
        job = name.split(":", 1)[0]  # digest:<id> -> digest: one series per job kind
        self.metrics.job_runs.labels(job=job, outcome=outcome).inc()
        if job == POLL_JOB and outcome != "ok":
            self.metrics.poll_cycles.labels(outcome=outcome).inc()
        elif job == POLL_JOB:
            self.metrics.poll_cycles.labels(outcome="ok").inc()

    def _count_match(self, watchlist_id: str, _score: Score) -> None:
        self.metrics.matches.labels(watchlist=watchlist_id).inc()

    def _count_deliveries(self, outcomes: list[delivery.DeliveryOutcome]) -> None:
        for outcome in outcomes:
            self.metrics.observe_delivery(outcome.channel, DELIVERY_OUTCOMES[outcome.status])

    # -- threads -------------------------------------------------------------------------------

    async def _in_job_thread(self, function: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._jobs, function)

    async def _in_probe_thread(self, function: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._probes, function)

    async def _bounded(self, function: Callable[..., T], seconds: float, *args: Any) -> T | None:
        """Run blocking clean-up in a thread, giving up after `seconds`: exit on time beats
        a tidy exit (leases expire by themselves)."""
        try:
            return await asyncio.wait_for(
                self._in_job_thread(functools.partial(function, *args)), seconds
            )
        except TimeoutError:
            log.warning("%s did not finish in %.0f s; leaving it", function.__name__, seconds)
        except Exception:
            log.exception("%s failed during shutdown", function.__name__)
        return None


# ---- running it -----------------------------------------------------------------------------


def run(settings: Settings) -> int:
    """`monitor run` in the foreground: returns the exit code (0 after SIGTERM/SIGINT)."""
    database = sqlite_file(database_url(settings))
    lock = InstanceLock.acquire(database) if database is not None else None
    daemon: Daemon | None = None
    try:
        engine = open_database(settings)
        try:
            daemon = Daemon(settings, engine, exit_watchdog=True)
            code = _run_until_complete(daemon.serve())
        finally:
            engine.dispose()
    finally:
        if lock is not None:
            lock.release()
    _exit_now_if_threads_linger(code, daemon.stop_requested_at if daemon else None)
    return code


def _run_until_complete(main: Coroutine[Any, Any, int]) -> int:
    """asyncio.run, minus its unbounded wait for the default executor's threads at the end:
    a send stuck in a thread must not hold the process past its stop budget."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(main)
    finally:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()  # shuts the default executor down without waiting


def _start_exit_watchdog(seconds: float) -> None:
    """The backstop of the stop budget: whatever blocks the orderly path (a SQLite write lock
    held elsewhere, a thread that ignores cancellation), the process exits on time. Claims
    left behind expire with their leases."""

    def exit_now() -> None:
        log.warning(
            "not stopped after %.1f s: exiting anyway; leases expire by themselves", seconds
        )
        logging.shutdown()
        os._exit(0)

    timer = threading.Timer(seconds, exit_now)
    timer.daemon = True
    timer.start()


def _exit_now_if_threads_linger(code: int, stop_requested_at: float | None) -> None:
    """Worker threads still busy (a send or query that ignores cancellation) would keep the
    interpreter from exiting; give them what is left of the stop budget, then exit anyway."""
    deadline = (stop_requested_at or time.monotonic()) + STOP_BUDGET - 0.5
    for thread in threading.enumerate():
        if thread is threading.current_thread() or thread.daemon:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
    lingering = [t.name for t in threading.enumerate() if t.is_alive() and not t.daemon]
    lingering = [name for name in lingering if name != threading.current_thread().name]
    if lingering:
        log.warning(
            "exiting with %d operations still running (%s); their leases expire by themselves",
            len(lingering),
            ", ".join(lingering),
        )
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
