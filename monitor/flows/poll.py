"""One poll cycle: gather → decide → apply. `run_poll_cycle()` is what the daemon's poll tick
and `monitor poll --once` both run: poll every due feed, then alert the strong matches found.

Gather: claim the due feeds, fetch them concurrently, parse off the event loop.
Decide: the pure core says what each response means for the feed (core.polling), which
entries are new (core.identity, enforced by the store), which story they join and what
they score.
Apply: one database transaction per feed, on one writer thread, so a slow feed never holds
up another and SQLite sees a single writer.

A failing feed records its error on its own row and never aborts the cycle; so does a
failed write of one feed's transaction (TransactionFailed). Only a database that is unusable
as a whole (DatabaseUnavailable: down, full, read-only, gone) ends the cycle early, with
one error saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine

from monitor.adapters.db import article_store, feed_store
from monitor.adapters.db.errors import database_errors
from monitor.adapters.db.feed_store import FeedRow, FeedSpec
from monitor.adapters.feed_parse import ParseJob, parse_feed
from monitor.adapters.http import FetchResult
from monitor.adapters.worker_scoring import FeedScoring
from monitor.core.fetch_order import spread_by_host, url_host
from monitor.core.model import ParsedFeed
from monitor.core.polling import PollDecision, decide_next_poll
from monitor.core.redact import scrub, url_secrets
from monitor.core.states import DigestKind, FeedOutcome
from monitor.errors import DatabaseError, DatabaseUnavailable, FetchError, MonitorError, ParseError
from monitor.flows.backlog import Backlog, Held, parsed_bytes
from monitor.flows.outbox import DeliveryOutcome, Outbox
from monitor.flows.parse_pool import PARSER_CRASHED as PARSER_CRASHED  # the summary's word
from monitor.flows.parse_pool import ParsePool
from monitor.flows.workers import dead_local_owners, worker_id

log = logging.getLogger(__name__)

T = TypeVar("T")

Clock = Callable[[], datetime]

_STATE_BATCH = 100  # feed-state rows written per transaction for 304s
_GROUP_FEEDS = 32  # feeds committed together at most (SQLite; one on PostgreSQL)
# Feed tasks started per turn of the event loop. Started all at once, a cycle's first turn
# built every slot holder's request (about 1 ms each with a new connection) before any was
# written, so no answer could arrive until all 200 were built: a second poll of 1,200 feeds
# (bench/ingest.py) got its first answer 0.47 s in, against 0.32 s started 8 at a time
# (4, 8 and 16 measured alike; 32 already lost half of the gain).
START_CHUNK = 8


class FetchesFeeds(Protocol):
    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        trusted: bool = True,
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
    parsed: bool | None = None  # whether the body parsed; None when there was none to parse


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
    def every_parse_failed(self) -> bool:
        """Bodies were fetched and not one of them parsed, and either nothing else in the
        cycle was read either or every one of them crashed the parser: a broken installation
        (parse workers that cannot start) looks like this, and must not pass for a quiet
        cycle. A steady-state cycle whose only bodies are its broken feeds' (the healthy ones
        answering 304) is not one."""
        tried = [report for report in self.feeds if report.parsed is not None]
        if not tried or any(report.parsed for report in tried):
            return False
        read = self.count(FeedOutcome.NOT_MODIFIED) + self.count(FeedOutcome.UNCHANGED)
        return not read or all(PARSER_CRASHED in (report.error or "") for report in tried)

    def parse_failures(self) -> list[FeedReport]:
        return [report for report in self.feeds if report.parsed is False]

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
        worker_scoring: Callable[[FeedRow], FeedScoring | None] | None = None,
        max_entries: int | None = None,
        recycle_parse_after: int | None = None,
        parse_pool_grown: Callable[[Executor], bool] | None = None,
        parse_in_flight: int = 4,
        backlog_feeds: int = 400,
        backlog_bytes: int = 64_000_000,
        backlog_parsed: int = 2 * _GROUP_FEEDS,
        claim_batch: int | None = None,
        owner: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.fetcher = fetcher
        self.feed_specs = list(feeds)
        self.default_interval = default_interval
        self.lease = lease
        self.clock = clock
        # None: parse on the event loop's thread (tests).
        self._parse_pool = (
            ParsePool(
                parse_executor,
                renew=renew_parse_executor,
                in_flight=parse_in_flight,
                recycle_after=recycle_parse_after,
                grown=parse_pool_grown,
            )
            if parse_executor is not None
            else None
        )
        self._pending_states: list[dict[str, Any]] = []
        self.match_articles = match_articles
        # The watchlists' snapshot for a parse job to score its feed with, asked while the
        # writer is behind (adapters/worker_scoring.py); None: the writer always scores.
        self._worker_scoring = worker_scoring if self._parse_pool is not None else None
        self.owner = owner or worker_id()
        self.max_entries = max_entries
        self.backlog_feeds = backlog_feeds
        self.backlog_bytes = backlog_bytes
        # Parsed (or being parsed) and not yet stored: two of the writer's transactions.
        self.backlog_parsed = backlog_parsed
        # Due feeds claimed at once (None: all of them). A worker that leased every due feed
        # would leave none to the other workers until it had fetched them all; claiming a
        # batch and more as it finishes keeps the rest free for whichever worker is idle.
        self.claim_batch = claim_batch
        self._cycle_start: datetime | None = None
        self._backlog: Backlog | None = None
        self._to_store: list[tuple[_Fetched, asyncio.Future[FeedReport]]] = []
        self._storing: asyncio.Task[None] | None = None
        # SQLite only: there a commit is a sync of the file and one process writes anyway.
        # On PostgreSQL a shared transaction would hold each feed's row (and the story lock)
        # while the next feeds are stored: other workers, and a dead worker's leftovers,
        # would wait on it longer than one feed.
        self._group_feeds = _GROUP_FEEDS if engine.dialect.name == "sqlite" else 1
        self._released_dead_owners = False
        # The feeds whose leases this worker keeps alive: claimed and not yet done.
        self._working: set[int] = set()
        self.rng = rng or random.Random()
        # One writer thread: SQLite allows one writer anyway, and per-feed transactions are
        # short, so PostgreSQL loses nothing measurable either.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-db")

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        if self._parse_pool is not None:
            self._parse_pool.close()

    async def _db(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, function, *args)

    def _claim(self, ignore_schedule: bool) -> list[FeedRow]:
        now = self.clock()
        self._cycle_start = now
        with (
            database_errors(what="syncing feeds from config", engine=self.engine),
            self.engine.begin() as connection,
        ):
            feed_store.sync_feeds(connection, self.feed_specs, now)
            if connection.dialect.name == "sqlite" and not self._released_dead_owners:
                self._release_dead_owners(connection, now)
        return self._claim_feeds(
            now,
            ignore_schedule=ignore_schedule,
            limit=None if ignore_schedule else self.claim_batch,
        )

    def _claim_more(self, limit: int) -> list[FeedRow]:
        """More of the feeds that were due when the cycle started, as earlier ones finish."""
        return self._claim_feeds(self.clock(), limit=limit, due_by=self._cycle_start)

    def _claim_feeds(
        self,
        now: datetime,
        *,
        limit: int | None,
        ignore_schedule: bool = False,
        due_by: datetime | None = None,
    ) -> list[FeedRow]:
        with (
            database_errors(what="claiming due feeds", engine=self.engine),
            self.engine.begin() as connection,
        ):
            return feed_store.claim_due_feeds(
                connection,
                owner=self.owner,
                now=now,
                lease=self.lease,
                ignore_schedule=ignore_schedule,
                limit=limit,
                due_by=due_by,
            )

    def _release_dead_owners(self, connection: Connection, now: datetime) -> None:
        """SQLite holds one worker at a time, on one host: a lease whose owner process is
        gone (a killed `poll --once`) is free now, not when it expires minutes later.
        PostgreSQL workers may be on other hosts, so their leases expire as they are."""
        self._released_dead_owners = True
        for owner in dead_local_owners(feed_store.lease_owners(connection, now)):
            released = feed_store.release_feeds(connection, owner)
            log.info("released %d feed leases of %s, which is no longer running", released, owner)

    async def poll_once(
        self,
        *,
        ignore_schedule: bool = False,
        on_feed_done: Callable[[FeedReport], None] | None = None,
        on_claimed: Callable[[int], None] | None = None,
    ) -> PollSummary:
        try:
            claimed: list[FeedRow] = await self._db(self._claim, ignore_schedule)
        except asyncio.CancelledError:
            # The claim goes on in the writer thread and commits its leases after all; the
            # release queues behind it there, so they go back now, not at lease expiry.
            await asyncio.shield(self._db(self._release_all))
            raise
        if on_claimed:
            on_claimed(len(claimed))
        summary = PollSummary()
        self._backlog = self._new_backlog()
        self._to_store.clear()
        tasks: list[asyncio.Task[FeedReport]] = []
        finished: asyncio.Queue[asyncio.Task[FeedReport]] = asyncio.Queue()

        async def start(feeds: list[FeedRow]) -> None:
            for count, feed in enumerate(spread_by_host(feeds, lambda row: url_host(row.url)), 1):
                self._working.add(feed.id)
                task = asyncio.create_task(self._poll_feed(feed), name=feed.name)
                task.add_done_callback(finished.put_nowait)
                tasks.append(task)
                if count % START_CHUNK == 0:
                    await asyncio.sleep(0)

        renewing = asyncio.create_task(self._keep_leases(), name="leases")
        # `--all` claims every feed at once: claiming more would take back the ones done.
        batch = None if ignore_schedule else self.claim_batch
        more = batch is not None and len(claimed) == batch
        try:
            # Inside the try: a cancellation while the feeds are being started stops the
            # ones started and gives every claimed feed back.
            await start(claimed)
            while len(summary.feeds) < len(tasks):
                report = (await finished.get()).result()
                summary.feeds.append(report)
                if on_feed_done:
                    on_feed_done(report)
                in_flight = len(tasks) - len(summary.feeds)
                if more and batch is not None and in_flight <= batch // 2:
                    extra = await self._db(self._claim_more, batch - in_flight)
                    more = len(extra) == batch - in_flight
                    await start(extra)
                    if extra and on_claimed:
                        on_claimed(len(tasks))
            await self._flush_states()
        except DatabaseUnavailable as exc:
            await self._stop_cycle(tasks)
            raise DatabaseUnavailable(
                f"{exc} (the poll stopped after {len(summary.feeds)} of {len(tasks)} feeds)",
                kind=exc.kind,
                feed=exc.feed,
                url=exc.url,
            ) from exc
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._stop_storing()
            # Finished feeds keep their outcome; the rest go back to the pool now rather
            # than at lease expiry.
            await asyncio.shield(self._flush_states())
            await asyncio.shield(self._db(self._release_all))
            raise
        finally:
            renewing.cancel()
            # Ended before poll_once returns: no task of the cycle outlives it.
            await asyncio.gather(renewing, return_exceptions=True)
            self._working.clear()
        return summary

    async def _stop_cycle(self, tasks: list[asyncio.Task[Any]]) -> None:
        """End a cycle whose database became unusable: every other feed would fail the same
        way, so stop them, and let none run on after poll_once has returned."""
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._stop_storing()
        # Best effort, on the writer thread behind whatever write was in flight there: if the
        # database takes these after all (a failed write frees what it had allocated), the
        # next poll finds the finished feeds recorded and the rest free to claim, instead of
        # leased until the lease expires. If not, the lease expiry frees them.
        with contextlib.suppress(DatabaseError):
            await self._flush_states()
        with contextlib.suppress(DatabaseError):
            await self._db(self._release_all)

    async def _stop_storing(self) -> None:
        """No group commit runs on after the cycle: the feeds it held are unfinished."""
        self._to_store.clear()
        if self._storing is not None:
            self._storing.cancel()
            await asyncio.gather(self._storing, return_exceptions=True)
            self._storing = None

    def _release_all(self) -> None:
        with (
            database_errors(what="releasing leases", engine=self.engine),
            self.engine.begin() as connection,
        ):
            feed_store.release_feeds(connection, self.owner)

    async def _poll_feed(self, feed: FeedRow) -> FeedReport:
        try:
            async with self._current_backlog().slot():
                return await self._fetch_and_apply(feed)
        except (asyncio.CancelledError, DatabaseUnavailable):
            raise  # DatabaseUnavailable: poll_once stops the cycle and reports it once
        except Exception as exc:  # a bug must cost one feed, not the cycle
            log.exception("unexpected error", extra={"feed": feed.name})
            return await self._db(self._apply_failure, feed, f"internal error: {exc!r}")
        finally:
            self._working.discard(feed.id)

    def _current_backlog(self) -> Backlog:
        if self._backlog is None:  # a feed polled outside poll_once (tests)
            self._backlog = self._new_backlog()
        return self._backlog

    def _new_backlog(self) -> Backlog:
        return Backlog(self.backlog_feeds, self.backlog_bytes, self.backlog_parsed)

    async def _keep_leases(self) -> None:
        """Extend the leases of the feeds still being worked on (a slow body, a long parse,
        a queue for the writer), so no other worker takes them meanwhile: one task and one
        UPDATE per round for the whole cycle, not a sleeping task per feed (those were a few
        per cent of the event loop's time in a cycle of 304s)."""
        every = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            if not self._working:
                continue
            try:
                await self._db(self._renew_leases, list(self._working))
            except DatabaseError as exc:  # the poll itself will meet and report it
                log.debug("could not renew %d leases: %s", len(self._working), exc)

    def _renew_leases(self, feed_ids: list[int]) -> None:
        with (
            database_errors(what="renewing feed leases", engine=self.engine),
            self.engine.begin() as connection,
        ):
            feed_store.renew_leases(connection, feed_ids, self.owner, self.clock() + self.lease)

    async def _fetch_and_apply(self, feed: FeedRow) -> FeedReport:
        try:
            result = await self.fetcher.fetch(
                feed.url,
                etag=feed.etag,
                last_modified=feed.last_modified,
                # The operator wrote the URL (config.toml, or `monitor feeds add`): it may point
                # anywhere. OPML-imported URLs are checked by the SSRF guard.
                trusted=feed.source in ("config", "cli"),
            )
        except FetchError as exc:
            # Stored and logged: without the URL's tokens (?api_key=...), which errors quote.
            error = scrub(str(exc), url_secrets(feed.url))
            log.debug("fetch failed: %s", error, extra={"feed": feed.name})
            return await self._db(self._apply_failure, feed, error)

        report = await self._apply_result(feed, result)
        report.elapsed = result.elapsed
        return report

    async def _apply_result(self, feed: FeedRow, result: FetchResult) -> FeedReport:
        if result.status == 304:
            return await self._record_unchanged(feed, result, FeedOutcome.NOT_MODIFIED)
        if not 200 <= result.status < 300:
            return await self._db(self._apply_failure, feed, None, result)
        body = result.body or b""
        backlog = self._current_backlog()
        async with backlog.body(len(body)) as held:
            body_hash = _body_hash(body)
            if body_hash == feed.body_hash:
                # The server ignored our conditional GET but sent the same bytes: nothing to
                # parse.
                return await self._record_unchanged(feed, result, FeedOutcome.UNCHANGED)
            async with backlog.parsing():
                return await self._parse_and_store(feed, result, body, body_hash, held)

    async def _parse_and_store(
        self, feed: FeedRow, result: FetchResult, body: bytes, body_hash: str, held: Held
    ) -> FeedReport:
        try:
            parsed = await self._parse(body, result, feed)
        except ParseError as exc:
            log.debug("unreadable feed: %s", exc, extra={"feed": feed.name})
            report = await self._db(self._apply_failure, feed, str(exc), result)
            report.parsed = False
            return report
        held.add(parsed_bytes(parsed))
        report = await self._store(_Fetched(feed, result, parsed, body_hash))
        report.parsed = True
        return report

    async def _parse(self, body: bytes, result: FetchResult, feed: FeedRow) -> ParsedFeed:
        fetched_at = self.clock()
        if self._parse_pool is None:
            return parse_feed(
                body,
                url=result.url,
                headers=result.headers,
                fetched_at=fetched_at,
                max_entries=self.max_entries,
            )
        job = ParseJob(body, result.url, dict(result.headers), fetched_at, self.max_entries)
        # A feed stored before (its body hash is known) brings a few new entries among many
        # stored ones: the writer scores the new ones, where a worker would score them all.
        if self._worker_scoring is None or feed.body_hash is not None:
            return await self._parse_pool.run(job)
        return await self._parse_pool.run(job, when_due=self._scoring_for(feed))

    def _scoring_for(
        self, feed: FeedRow
    ) -> Callable[[Callable[[], ParsedFeed]], Callable[[], ParsedFeed]]:
        """A parse job that also scores `feed`'s entries (all new: the feed's first body),
        if the writer is behind when the job is handed to a worker: feeds are waiting for
        it or being written, and scoring there would wait too. When it keeps up, it scores
        as before."""
        scoring = self._worker_scoring
        assert scoring is not None

        def when_due(job: Callable[[], ParsedFeed]) -> Callable[[], ParsedFeed]:
            behind = bool(self._to_store) or (
                self._storing is not None and not self._storing.done()
            )
            if behind and isinstance(job, ParseJob):
                return replace(job, scoring=scoring(feed))
            return job

        return when_due

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
        if outcome is FeedOutcome.UNCHANGED and not feed.consecutive_failures:
            # The same bytes as last time say the same things: "read despite errors" and
            # the skipped entries still hold, though nothing was parsed now.
            values["last_error"] = feed.last_error
        self._pending_states.append({"feed_id": feed.id, **values})
        if len(self._pending_states) >= _STATE_BATCH:
            await self._flush_states()
        return FeedReport(feed.name, outcome, status=result.status)

    async def _flush_states(self) -> None:
        batch, self._pending_states = self._pending_states, []
        if batch:
            await self._db(self._write_states, batch)

    def _write_states(self, batch: list[dict[str, Any]]) -> None:
        try:
            with (
                database_errors(what=f"recording {len(batch)} unchanged feeds", engine=self.engine),
                self.engine.begin() as connection,
            ):
                feed_store.record_polls(connection, batch)
        except DatabaseUnavailable:
            raise
        except DatabaseError as exc:
            # These feeds did answer (304 or the same bytes) and their reports say so; only
            # their next poll time is lost, and their leases free them when they expire.
            log.error("%s", exc)

    # --- apply: each runs on the writer thread, one transaction per feed -------------------

    def _interval(self, feed: FeedRow) -> timedelta:
        return feed.interval or self.default_interval

    async def _store(self, fetched: _Fetched) -> FeedReport:
        """Store a parsed feed: feeds that wait while the writer is busy are committed
        together, in one transaction, when it is free (see `_apply_group`)."""
        future: asyncio.Future[FeedReport] = asyncio.get_running_loop().create_future()
        self._to_store.append((fetched, future))
        if self._storing is None or self._storing.done():
            self._storing = asyncio.create_task(self._store_waiting(), name="monitor-store")
        return await future

    async def _store_waiting(self) -> None:
        while self._to_store:
            group = _take_group(self._to_store, self._group_feeds)
            try:
                reports = await self._db(self._apply_group, [fetched for fetched, _ in group])
            except BaseException as exc:  # DatabaseUnavailable, a bug, cancellation: all of them
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (_, future), report in zip(group, reports, strict=True):
                if not future.done():
                    future.set_result(report)

    def _apply_group(self, group: list[_Fetched]) -> list[FeedReport]:
        """Several feeds in one transaction: a commit per feed was a tenth of the first
        poll's CPU. Each feed's matches and their alerts still commit together (the outbox
        holds). If the shared transaction fails, it is rolled back whole and every feed is
        stored again on its own, so one feed's failure costs that feed only (an `on_match`
        callback may then hear of a match twice)."""
        if len(group) == 1:
            return [self._apply_fetched(*group[0])]
        try:
            with (
                database_errors(what=f"storing {len(group)} feeds", engine=self.engine),
                self.engine.begin() as connection,
            ):
                written = [self._write_fetched(connection, *fetched) for fetched in group]
        except MonitorError as exc:
            # DatabaseUnavailable too: the first feed on its own meets it again and stops the
            # cycle with the error naming that feed, as without grouping.
            log.info("storing %d feeds together failed, one by one now: %s", len(group), exc)
            return [self._apply_fetched(*fetched) for fetched in group]
        return [
            self._stored(fetched.feed, report, stored)
            for fetched, (report, stored) in zip(group, written, strict=True)
        ]

    def _apply_fetched(
        self, feed: FeedRow, result: FetchResult, parsed: ParsedFeed, body_hash: str
    ) -> FeedReport:
        try:
            with (
                database_errors(what="storing articles", feed=feed.name, engine=self.engine),
                self.engine.begin() as connection,
            ):
                report, stored = self._write_fetched(connection, feed, result, parsed, body_hash)
        except DatabaseUnavailable:
            raise  # not this feed's failure: poll_once stops the cycle
        except MonitorError as exc:  # TransactionFailed, or scoring's own errors: this feed only
            log.error("storing failed: %s", exc, extra={"feed": feed.name})
            return self._apply_failure(feed, str(exc), result)
        return self._stored(feed, report, stored)

    def _stored(
        self, feed: FeedRow, report: FeedReport, stored: article_store.StoreResult
    ) -> FeedReport:
        report.new_articles = len(stored.new)
        report.updated_articles = stored.updated
        if report.new_articles:
            log.info("%d new articles", report.new_articles, extra={"feed": feed.name})
        return report

    def _write_fetched(
        self,
        connection: Connection,
        feed: FeedRow,
        result: FetchResult,
        parsed: ParsedFeed,
        body_hash: str,
    ) -> tuple[FeedReport, article_store.StoreResult]:
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
        stored = article_store.store_entries(connection, feed.id, parsed.entries, now)
        values = self._poll_values(feed, result, decision, now)
        values["body_hash"] = body_hash
        values["ttl_seconds"] = parsed.ttl_seconds
        values["feed_title"] = feed_store.stored_feed_title(parsed.title)
        if notes := parsed.notes():
            values["last_error"] = "; ".join(notes)
        # Before matching, in the same transaction: on PostgreSQL story assignment holds the
        # story lock from its lookup to the commit, and every statement in between is a
        # round trip that the other workers wait for.
        feed_store.record_poll(connection, feed.id, self.owner, **values)
        if self.match_articles is not None and stored.new:
            report.matches = self.match_articles(connection, feed, stored.new, now)
        return report, stored

    def _poll_values(
        self, feed: FeedRow, result: FetchResult, decision: PollDecision, now: datetime
    ) -> dict[str, Any]:
        """The feed row after a successful poll; always the same keys, so rows batch."""
        if feed.consecutive_failures:
            log.info(
                "feed recovered after %d failed polls (HTTP %d)",
                feed.consecutive_failures,
                result.status,
                extra={"feed": feed.name},
            )
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
        try:
            with (
                database_errors(what="recording the poll", feed=feed.name, engine=self.engine),
                self.engine.begin() as connection,
            ):
                feed_store.record_poll(connection, feed.id, self.owner, **values)
        except DatabaseUnavailable:
            raise
        except DatabaseError as exc:
            # The report still says why the feed failed; the row keeps its old state, and
            # its lease frees it for a later poll when it expires.
            log.error("%s", exc, extra={"feed": feed.name})
        outcome = FeedOutcome.STOPPED if decision.next_poll_at is None else FeedOutcome.FAILED
        if outcome is FeedOutcome.STOPPED:
            log.warning("feed stopped: %s", decision.reason, extra={"feed": feed.name})
        elif decision.reason != feed.last_error:
            # Once per change of state, not once per poll: a feed down for a week would
            # otherwise fill the log with the same line every few hours.
            log.warning(
                "poll failed (%d in a row, next try %s): %s",
                decision.consecutive_failures,
                decision.next_poll_at.isoformat() if decision.next_poll_at else "never",
                decision.reason,
                extra={"feed": feed.name, **({"status": result.status} if result else {})},
            )
        return FeedReport(
            feed.name, outcome, status=result.status if result else None, error=decision.reason
        )


_GROUP_ENTRIES = 1000  # parsed entries committed together at most (one feed may exceed it)


@dataclass(frozen=True, slots=True)
class _Fetched:
    """A parsed feed waiting for the writer."""

    feed: FeedRow
    result: FetchResult
    parsed: ParsedFeed
    body_hash: str

    def __iter__(self) -> Any:  # unpacks as _apply_fetched's arguments
        return iter((self.feed, self.result, self.parsed, self.body_hash))


def _take_group(waiting: list[tuple[_Fetched, T]], most: int) -> list[tuple[_Fetched, T]]:
    """The oldest waiting feeds, as many as fit one transaction; removed from `waiting`."""
    taken, entries = 0, 0
    for fetched, _ in waiting:
        if taken and (taken == most or entries + len(fetched.parsed.entries) > _GROUP_ENTRIES):
            break
        taken += 1
        entries += len(fetched.parsed.entries)
    group = waiting[:taken]
    del waiting[:taken]
    return group


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
    if summary.every_parse_failed:
        failures = summary.parse_failures()
        log.error(
            "every fetched feed failed to parse (%d of %d), e.g. %s: %s",
            len(failures),
            len(failures),
            failures[0].name,
            failures[0].error,
        )
    summary.deliveries = await outbox.drain(if_idle=True)
    return summary
