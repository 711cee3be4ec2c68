"""One poll cycle: gather → decide → apply. `run_poll_cycle()` is what the daemon's poll tick
and `monitor poll --once` both run: poll every due feed, then alert the strong matches found.

Gather: claim the due feeds, fetch them concurrently, parse off the event loop.
Decide: the pure core says what each response means for the feed (core.polling), which
entries are new (core.identity, enforced by the store), which story they join and what
they score.
Apply: one database transaction per feed, on one writer thread, so a slow feed never holds
up another and SQLite sees a single writer.

A failing feed records its error on its own row and never aborts the cycle.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine

from monitor.adapters.db import article_store, feed_store
from monitor.adapters.db.feed_store import FeedRow, FeedSpec
from monitor.adapters.feed_parse import parse_feed
from monitor.adapters.http import FetchResult
from monitor.core.model import ParsedFeed
from monitor.core.polling import PollDecision, decide_next_poll
from monitor.core.states import DigestKind, FeedOutcome
from monitor.errors import FetchError, MonitorError, ParseError
from monitor.flows.outbox import DeliveryOutcome, Outbox
from monitor.flows.workers import worker_id

log = logging.getLogger(__name__)

T = TypeVar("T")

Clock = Callable[[], datetime]

_STATE_BATCH = 100  # feed-state rows written per transaction for 304s


class FetchesFeeds(Protocol):
    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult: ...


class MatchesArticles(Protocol):
    """What happens to the new articles of one feed inside its transaction: stories, scores."""

    def __call__(
        self,
        connection: Any,
        feed: FeedRow,
        stored: Sequence[article_store.StoredEntry],
        now: datetime,
    ) -> int: ...


@dataclass(slots=True)
class FeedReport:
    name: str
    outcome: FeedOutcome
    status: int | None = None
    new_articles: int = 0
    updated_articles: int = 0
    matches: int = 0
    error: str | None = None
    elapsed: float | None = None  # seconds the fetch took, when there was an answer


@dataclass(slots=True)
class PollSummary:
    feeds: list[FeedReport] = field(default_factory=list)
    # The outbox drained after the cycle: this cycle's alerts, and whatever else was due.
    deliveries: list[DeliveryOutcome] = field(default_factory=list)

    @property
    def alerts(self) -> list[DeliveryOutcome]:
        return [d for d in self.deliveries if d.kind is DigestKind.ALERT]

    def count(self, outcome: FeedOutcome) -> int:
        return sum(1 for report in self.feeds if report.outcome == outcome)

    @property
    def polled(self) -> int:
        return len(self.feeds)

    @property
    def failed(self) -> int:
        return self.count(FeedOutcome.FAILED) + self.count(FeedOutcome.STOPPED)

    @property
    def not_modified(self) -> int:
        return self.count(FeedOutcome.NOT_MODIFIED) + self.count(FeedOutcome.UNCHANGED)

    @property
    def new_articles(self) -> int:
        return sum(report.new_articles for report in self.feeds)

    @property
    def matches(self) -> int:
        return sum(report.matches for report in self.feeds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "feeds_polled": self.polled,
            "not_modified": self.not_modified,
            "failed": self.failed,
            "new_articles": self.new_articles,
            "updated_articles": sum(r.updated_articles for r in self.feeds),
            "matches": self.matches,
            "alerts": [
                {
                    "watchlist": a.watchlist_id,
                    "channel": a.channel,
                    "status": a.status.value,
                    "error": a.error,
                }
                for a in self.alerts
            ],
            "deliveries": [
                {
                    "delivery_id": d.delivery_id,
                    "kind": d.kind.value,
                    "watchlist": d.watchlist_id,
                    "channel": d.channel,
                    "status": d.status.value,
                    "error": d.error,
                }
                for d in self.deliveries
            ],
            "feeds": [
                {
                    "name": r.name,
                    "outcome": r.outcome.value,
                    "status": r.status,
                    "new_articles": r.new_articles,
                    "error": r.error,
                }
                for r in self.feeds
            ],
        }


def _body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class Poller:
    """Runs poll cycles. Holds no state between cycles beyond its collaborators."""

    def __init__(
        self,
        *,
        engine: Engine,
        fetcher: FetchesFeeds,
        feeds: Sequence[FeedSpec],
        default_interval: timedelta,
        lease: timedelta,
        clock: Clock,
        parse_executor: Executor | None = None,
        renew_parse_executor: Callable[[], Executor] | None = None,
        match_articles: MatchesArticles | None = None,
        owner: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.fetcher = fetcher
        self.feed_specs = list(feeds)
        self.default_interval = default_interval
        self.lease = lease
        self.clock = clock
        self.parse_executor = parse_executor
        self.renew_parse_executor = renew_parse_executor
        self._pending_states: list[dict[str, Any]] = []
        self.match_articles = match_articles
        self.owner = owner or worker_id()
        self.rng = rng or random.Random()
        # One writer thread: SQLite allows one writer anyway, and per-feed transactions are
        # short, so PostgreSQL loses nothing measurable either.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-db")

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        if self.parse_executor is not None:
            self.parse_executor.shutdown(wait=True, cancel_futures=True)

    async def _db(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, function, *args)

    def _claim(self, ignore_schedule: bool) -> list[FeedRow]:
        now = self.clock()
        with self.engine.begin() as connection:
            feed_store.sync_feeds(connection, self.feed_specs, now)
        with self.engine.begin() as connection:
            return feed_store.claim_due_feeds(
                connection,
                owner=self.owner,
                now=now,
                lease=self.lease,
                ignore_schedule=ignore_schedule,
            )

    async def poll_once(
        self,
        *,
        ignore_schedule: bool = False,
        on_feed_done: Callable[[FeedReport], None] | None = None,
        on_claimed: Callable[[int], None] | None = None,
    ) -> PollSummary:
        claimed: list[FeedRow] = await self._db(self._claim, ignore_schedule)
        if on_claimed:
            on_claimed(len(claimed))
        summary = PollSummary()
        tasks = [asyncio.create_task(self._poll_feed(feed), name=feed.name) for feed in claimed]
        try:
            for next_done in asyncio.as_completed(tasks):
                report = await next_done
                summary.feeds.append(report)
                if on_feed_done:
                    on_feed_done(report)
            await self._flush_states()
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Finished feeds keep their outcome; the rest go back to the pool now rather
            # than at lease expiry.
            await asyncio.shield(self._flush_states())
            await asyncio.shield(self._db(self._release_all))
            raise
        return summary

    def _release_all(self) -> None:
        with self.engine.begin() as connection:
            feed_store.release_feeds(connection, self.owner)

    async def _poll_feed(self, feed: FeedRow) -> FeedReport:
        try:
            return await self._fetch_and_apply(feed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must cost one feed, not the cycle
            log.exception("unexpected error", extra={"feed": feed.name})
            return await self._db(self._apply_failure, feed, f"internal error: {exc!r}")

    async def _fetch_and_apply(self, feed: FeedRow) -> FeedReport:
        try:
            result = await self.fetcher.fetch(
                feed.url, etag=feed.etag, last_modified=feed.last_modified
            )
        except FetchError as exc:
            log.warning("fetch failed: %s", exc, extra={"feed": feed.name})
            return await self._db(self._apply_failure, feed, str(exc))

        report = await self._apply_result(feed, result)
        report.elapsed = result.elapsed
        return report

    async def _apply_result(self, feed: FeedRow, result: FetchResult) -> FeedReport:
        if result.status == 304:
            return await self._record_unchanged(feed, result, FeedOutcome.NOT_MODIFIED)
        if not 200 <= result.status < 300:
            return await self._db(self._apply_failure, feed, None, result)
        body = result.body or b""
        body_hash = _body_hash(body)
        if body_hash == feed.body_hash:
            # The server ignored our conditional GET but sent the same bytes: nothing to parse.
            return await self._record_unchanged(feed, result, FeedOutcome.UNCHANGED)
        try:
            parsed = await self._parse(body, result)
        except ParseError as exc:
            log.warning("unreadable feed: %s", exc, extra={"feed": feed.name})
            return await self._db(self._apply_failure, feed, str(exc), result)
        return await self._db(self._apply_fetched, feed, result, parsed, body_hash)

    async def _parse(self, body: bytes, result: FetchResult) -> ParsedFeed:
        fetched_at = self.clock()
        if self.parse_executor is None:
            return parse_feed(body, url=result.url, headers=result.headers, fetched_at=fetched_at)
        call = _ParseCall(body, result.url, dict(result.headers), fetched_at)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.parse_executor, call)
        except BrokenProcessPool:
            # A parser process died (out of memory on a hostile feed, a crash in C code).
            # Every parse in flight fails with it; start a new pool and try this feed once
            # more, so one bad feed costs itself and not the whole cycle.
            self._renew_parse_executor()
            try:
                return await loop.run_in_executor(self.parse_executor, call)
            except BrokenProcessPool:
                self._renew_parse_executor()
                raise ParseError("the parser process crashed on this feed") from None

    def _renew_parse_executor(self) -> None:
        if self.renew_parse_executor is not None and getattr(self.parse_executor, "_broken", False):
            self.parse_executor = self.renew_parse_executor()

    async def _record_unchanged(
        self, feed: FeedRow, result: FetchResult, outcome: FeedOutcome
    ) -> FeedReport:
        """304s are most of a steady-state cycle: their rows are written in batches."""
        now = self.clock()
        decision = decide_next_poll(
            status=result.status,
            headers=result.headers,
            ttl=feed.ttl_seconds,
            interval=self._interval(feed),
            failures=feed.consecutive_failures,
            now=now,
            jitter=self.rng.random(),
        )
        values = self._poll_values(feed, result, decision, now)
        self._pending_states.append({"feed_id": feed.id, **values})
        if len(self._pending_states) >= _STATE_BATCH:
            await self._flush_states()
        return FeedReport(feed.name, outcome, status=result.status)

    async def _flush_states(self) -> None:
        batch, self._pending_states = self._pending_states, []
        if batch:
            await self._db(self._write_states, batch)

    def _write_states(self, batch: list[dict[str, Any]]) -> None:
        with self.engine.begin() as connection:
            feed_store.record_polls(connection, batch)

    # --- apply: each runs on the writer thread, one transaction per feed -------------------

    def _interval(self, feed: FeedRow) -> timedelta:
        return feed.interval or self.default_interval

    def _apply_fetched(
        self, feed: FeedRow, result: FetchResult, parsed: ParsedFeed, body_hash: str
    ) -> FeedReport:
        now = self.clock()
        decision = decide_next_poll(
            status=result.status,
            headers=result.headers,
            ttl=parsed.ttl_seconds,
            interval=self._interval(feed),
            failures=feed.consecutive_failures,
            now=now,
            jitter=self.rng.random(),
        )
        report = FeedReport(feed.name, FeedOutcome.FETCHED, status=result.status)
        try:
            with self.engine.begin() as connection:
                stored = article_store.store_entries(connection, feed.id, parsed.entries, now)
                if self.match_articles is not None and stored.new:
                    report.matches = self.match_articles(connection, feed, stored.new, now)
                values = self._poll_values(feed, result, decision, now)
                values["body_hash"] = body_hash
                values["ttl_seconds"] = parsed.ttl_seconds
                if parsed.bozo_reason:
                    values["last_error"] = f"read despite errors: {parsed.bozo_reason}"
                feed_store.record_poll(connection, feed.id, self.owner, **values)
        except MonitorError as exc:
            log.error("storing failed: %s", exc, extra={"feed": feed.name})
            return self._apply_failure(feed, str(exc), result)
        report.new_articles = len(stored.new)
        report.updated_articles = stored.updated
        if report.new_articles:
            log.info("%d new articles", report.new_articles, extra={"feed": feed.name})
        return report

    def _poll_values(
        self, feed: FeedRow, result: FetchResult, decision: PollDecision, now: datetime
    ) -> dict[str, Any]:
        """The feed row after a successful poll; always the same keys, so rows batch."""
        values: dict[str, Any] = {
            "state": decision.state.value,
            "consecutive_failures": decision.consecutive_failures,
            "next_poll_at": decision.next_poll_at,
            "last_status": result.status,
            "last_error": decision.reason,
            "last_polled_at": now,
            "last_success_at": now,
            # A 304 may omit the validators; the stored ones are still the right ones.
            "etag": result.etag if result.status != 304 else (result.etag or feed.etag),
            "last_modified": result.last_modified
            if result.status != 304
            else (result.last_modified or feed.last_modified),
            "url": result.permanent_url or feed.url,
        }
        if result.permanent_url:
            log.info("moved permanently to %s", result.permanent_url, extra={"feed": feed.name})
        return values

    def _apply_failure(
        self, feed: FeedRow, error: str | None, result: FetchResult | None = None
    ) -> FeedReport:
        """Record a failed poll: an error status when `error` is None (the status and its
        headers, such as Retry-After, decide), else no usable answer, for the reason given."""
        now = self.clock()
        http_error = result is not None and error is None
        decision = decide_next_poll(
            status=result.status if http_error and result else None,
            headers=result.headers if http_error and result else {},
            ttl=None,
            interval=self._interval(feed),
            failures=feed.consecutive_failures,
            now=now,
            jitter=self.rng.random(),
            error=error,
        )
        values: dict[str, Any] = {
            "state": decision.state.value,
            "consecutive_failures": decision.consecutive_failures,
            "next_poll_at": decision.next_poll_at,
            "last_status": result.status if result else None,
            "last_error": decision.reason,
            "last_polled_at": now,
        }
        if result is not None and result.permanent_url:
            values["url"] = result.permanent_url
        with self.engine.begin() as connection:
            feed_store.record_poll(connection, feed.id, self.owner, **values)
        outcome = FeedOutcome.STOPPED if decision.next_poll_at is None else FeedOutcome.FAILED
        if outcome is FeedOutcome.STOPPED:
            log.warning("feed stopped: %s", decision.reason, extra={"feed": feed.name})
        return FeedReport(
            feed.name, outcome, status=result.status if result else None, error=decision.reason
        )


@dataclass(frozen=True, slots=True)
class _ParseCall:
    """A picklable parse job for the process pool."""

    body: bytes
    url: str
    headers: dict[str, str]
    fetched_at: datetime

    def __call__(self) -> ParsedFeed:
        return parse_feed(self.body, url=self.url, headers=self.headers, fetched_at=self.fetched_at)


async def run_poll_cycle(
    poller: Poller,
    outbox: Outbox,
    *,
    ignore_schedule: bool = False,
    on_feed_done: Callable[[FeedReport], None] | None = None,
    on_claimed: Callable[[int], None] | None = None,
) -> PollSummary:
    """Poll every due feed (every feed with `ignore_schedule`), then drain the outbox: the
    alerts this cycle's feed transactions created with their matches (the transactional
    outbox, flows/matching.py), and anything an earlier run left due, in bounded batches
    within `[delivery] drain_time`."""
    summary = await poller.poll_once(
        ignore_schedule=ignore_schedule, on_feed_done=on_feed_done, on_claimed=on_claimed
    )
    summary.deliveries = await outbox.drain(if_idle=True)
    return summary
