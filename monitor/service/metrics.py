"""Prometheus metrics of one `monitor run` process, on a registry of its own.

Two kinds: counters and histograms this process updates as it works (polls, fetch
durations, deliveries, job runs), and gauges read from the database when /metrics is
scraped (outbox, dead letters, failing feeds, feed states). The database ones
describe the whole deployment, so with several workers every worker reports the same
values: aggregate them with max(), and the per-process ones with sum().

This module holds no HTTP and decides nothing about health. Every name starts `monitor_`;
README.md ("Metrics") lists them all, and a test keeps that list honest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import Engine

from monitor.adapters.db.status import DatabaseStatus, database_status
from monitor.core.states import DeliveryStatus, FeedOutcome, FeedState
from monitor.flows.poll import FeedReport

log = logging.getLogger(__name__)

# Fetches range from a few ms (304 on loopback) to the 30 s default timeout.
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)


class Metrics:
    """The process's instruments. Tests build one each, so nothing is shared globally."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.feeds_polled = Counter(
            "monitor_feeds_polled",
            "Feeds polled by this process, by outcome "
            "(fetched, not_modified, unchanged, failed, stopped).",
            ["outcome"],
            registry=r,
        )
        self.fetch_duration = Histogram(
            "monitor_fetch_duration_seconds",
            "Time to fetch one feed, redirects and body included.",
            buckets=FETCH_BUCKETS,
            registry=r,
        )
        self.articles_stored = Counter(
            "monitor_articles_stored",
            "New articles this process stored.",
            registry=r,
        )
        self.poll_cycles = Counter(
            "monitor_poll_cycles",
            "Poll ticks this process ran, by outcome (ok, error).",
            ["outcome"],
            registry=r,
        )
        self.last_poll = Gauge(
            "monitor_last_poll_timestamp_seconds",
            "Unix time this process last completed a poll tick.",
            registry=r,
        )
        self.matches = Counter(
            "monitor_matches",
            "Matches this process stored, by watchlist.",
            ["watchlist"],
            registry=r,
        )
        self.deliveries = Counter(
            "monitor_deliveries",
            "Delivery attempts this process made, by channel and outcome "
            "(delivered, failed, dead).",
            ["channel", "outcome"],
            registry=r,
        )
        self.digests_created = Counter(
            "monitor_digests_created",
            "Scheduled digests this process created, by watchlist.",
            ["watchlist"],
            registry=r,
        )
        self.articles_pruned = Counter(
            "monitor_articles_pruned",
            "Articles whose text retention pruned (tombstones).",
            registry=r,
        )
        self.job_runs = Counter(
            "monitor_job_runs",
            "Scheduler job runs, by job (poll, digest, outbox, retention, "
            "reload) and outcome (ok, error).",
            ["job", "outcome"],
            registry=r,
        )
        self.scheduler_running = Gauge(
            "monitor_scheduler_running",
            "1 while the scheduler runs jobs.",
            registry=r,
        )
        self.watchlists_loaded = Gauge(
            "monitor_watchlists_loaded",
            "Watchlists in force (last good versions included).",
            registry=r,
        )
        self.watchlists_invalid = Gauge(
            "monitor_watchlists_invalid",
            "Watchlist files whose current version is invalid.",
            registry=r,
        )

    def observe_feed(self, report: FeedReport) -> None:
        """Poller.poll_once's on_feed_done callback."""
        self.feeds_polled.labels(outcome=report.outcome).inc()
        if report.elapsed is not None:  # None when no answer came
            self.fetch_duration.observe(report.elapsed)
        if report.new_articles:
            self.articles_stored.inc(report.new_articles)

    def start_at_zero(self, channels: Iterable[str], watchlists: Iterable[str]) -> None:
        """Create every labelled series this process can report, at 0, so that rules over
        them (MonitorOutboxStuck: pending but nothing delivered) also hold for a channel or
        watchlist that has had no event yet: an absent series is not a zero."""
        for channel in channels:
            for outcome in ("delivered", "failed", "dead"):  # jobs.DELIVERY_OUTCOMES
                self.deliveries.labels(channel=channel, outcome=outcome)
        for watchlist in watchlists:
            self.matches.labels(watchlist=watchlist)
            self.digests_created.labels(watchlist=watchlist)
        for feed_outcome in FeedOutcome:
            self.feeds_polled.labels(outcome=feed_outcome.value)
        for cycle_outcome in ("ok", "error"):
            self.poll_cycles.labels(outcome=cycle_outcome)

    def observe_delivery(self, channel: str, outcome: str) -> None:
        self.deliveries.labels(channel=channel, outcome=outcome).inc()

    def watch_database(self, engine: Engine) -> None:
        """Add the gauges read from the database at scrape time."""
        self.registry.register(DatabaseCollector(lambda: _read_status(engine)))

    def exposition(self) -> bytes:
        """The text format; may query the database, so call it off the event loop."""
        return generate_latest(self.registry)


def _read_status(engine: Engine) -> DatabaseStatus:
    with engine.connect() as connection:
        return database_status(connection)


class DatabaseCollector:
    """Gauges computed from the database when scraped; `monitor_database_up` 0 if it is not
    reachable (the other gauges are then absent rather than stale)."""

    def __init__(self, read: Callable[[], DatabaseStatus]) -> None:
        self._read = read

    def describe(self) -> Iterable[Metric]:
        # Names only (the samples are ignored), so registering does not query the database.
        return self._families(DatabaseStatus())

    def collect(self) -> Iterable[Metric]:
        try:
            status = self._read()
        except Exception as exc:  # a scrape must answer even when the database does not
            log.warning("metrics: database not reachable: %s", exc)
            status = None
        return self._families(status)

    def _families(self, status: DatabaseStatus | None) -> list[Metric]:
        up = GaugeMetricFamily(
            "monitor_database_up", "1 if the last scrape could query the database."
        )
        if status is None:
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        outbox = GaugeMetricFamily(
            "monitor_outbox_pending",
            "Deliveries waiting to be sent (all workers), by channel.",
            labels=["channel"],
        )
        dead = GaugeMetricFamily(
            "monitor_deliveries_dead",
            "Dead-lettered deliveries (all workers), by channel.",
            labels=["channel"],
        )
        for (channel, state), count in sorted(status.deliveries_by_channel_status.items()):
            if state == DeliveryStatus.PENDING:
                outbox.add_metric([channel], count)
            elif state == DeliveryStatus.DEAD:
                dead.add_metric([channel], count)
        feeds = GaugeMetricFamily(
            "monitor_feeds", "Feeds by state (active, backoff, stopped).", labels=["state"]
        )
        for state in FeedState:
            feeds.add_metric([state.value], status.feeds_by_state.get(state.value, 0))
        failing = GaugeMetricFamily(
            "monitor_feeds_failing", "Feeds whose last poll failed and that are still retried."
        )
        failing.add_metric([], status.feeds_failing)
        last = GaugeMetricFamily(
            "monitor_last_successful_fetch_timestamp_seconds",
            "Unix time of the newest successful fetch of any feed (all workers).",
        )
        if status.last_success_at is not None:
            last.add_metric([], _unix(status.last_success_at))
        return [up, outbox, dead, feeds, failing, last]


def _unix(moment: datetime) -> float:
    return moment.timestamp()
