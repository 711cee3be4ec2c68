"""A worker leases due feeds a batch at a time (`claim_batch`), and more as it finishes them:
the feeds it has not started on stay free for the other workers, and one cycle still polls
every feed that was due when it began. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from entries import T0
from sqlalchemy import Engine

from monitor.adapters.db import feed_store
from monitor.adapters.db.feed_store import FeedSpec
from monitor.adapters.http import FetchResult
from monitor.flows.poll import Poller

FEEDS = [FeedSpec(f"f{n}", f"https://example.org/{n}.xml") for n in range(10)]


class NotModified:
    """Answers 304 to every feed, once `gate` is open; counts fetches and the most at once."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.gate = gate
        self.fetched: list[str] = []
        self.in_flight = 0
        self.most = 0

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        trusted: bool = True,
    ) -> FetchResult:
        self.fetched.append(url)
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(0)
            return FetchResult(304, url, None, {"etag": '"x"'}, None, 0.01)
        finally:
            self.in_flight -= 1


def poller(engine: Engine, fetcher: NotModified, batch: int) -> Poller:
    return Poller(
        engine=engine,
        fetcher=fetcher,
        feeds=FEEDS,
        default_interval=timedelta(minutes=15),
        lease=timedelta(minutes=5),
        clock=lambda: T0,
        claim_batch=batch,
        owner="w1",
    )


def test_one_cycle_polls_every_due_feed_a_batch_at_a_time(engine: Engine) -> None:
    fetcher = NotModified()
    p = poller(engine, fetcher, batch=3)
    try:
        summary = asyncio.run(p.poll_once())
    finally:
        p.close()
    assert sorted(fetcher.fetched) == sorted(spec.url for spec in FEEDS)  # each once
    assert summary.polled == len(FEEDS)
    assert fetcher.most <= 3


def test_feeds_a_busy_worker_has_not_started_on_are_left_to_another(engine: Engine) -> None:
    async def cycle() -> tuple[int, list[str]]:
        gate = asyncio.Event()
        fetcher = NotModified(gate)
        p = poller(engine, fetcher, batch=4)
        try:
            running = asyncio.create_task(p.poll_once())
            while len(fetcher.fetched) < 4:  # the first batch is being fetched
                await asyncio.sleep(0.01)
            with engine.begin() as connection:
                theirs = feed_store.claim_due_feeds(
                    connection, owner="w2", now=T0, lease=timedelta(minutes=5)
                )
            gate.set()
            summary = await running
        finally:
            p.close()
        return summary.polled, [row.url for row in theirs]

    polled, theirs = asyncio.run(cycle())
    assert polled == 4  # its batch; the rest were the other worker's by then
    assert len(theirs) == len(FEEDS) - 4
