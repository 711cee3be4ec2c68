"""A cycle's first requests go out while its other feeds are still being set up: with a
thousand due feeds, none of them waits for the last one's task before its request is sent."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import httpx
from fixed_time import NOW
from pytest_httpx import HTTPXMock
from sqlalchemy import Engine

from monitor.adapters.db.feed_store import FeedSpec
from monitor.adapters.http import Fetcher, FetchLimits
from monitor.core.states import FeedOutcome
from monitor.flows.poll import START_CHUNK, Poller

FEEDS = 120
SPECS = [FeedSpec(f"feed{i:03d}", f"https://h{i % 7}.example/{i}") for i in range(FEEDS)]


def poller(engine: Engine, client: httpx.AsyncClient, limits: FetchLimits) -> Poller:
    return Poller(
        engine=engine,
        fetcher=Fetcher(client, limits),
        feeds=SPECS,
        default_interval=timedelta(minutes=15),
        lease=timedelta(minutes=5),
        clock=lambda: NOW,
    )


async def test_the_first_request_is_sent_before_every_feed_task_exists(
    httpx_mock: HTTPXMock, engine: Engine
) -> None:
    started_at_request: list[int] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        feed_tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("feed")]
        started_at_request.append(len(feed_tasks))
        return httpx.Response(304)

    httpx_mock.add_callback(answer, is_reusable=True)
    async with httpx.AsyncClient() as client:
        every_feed_at_once = FetchLimits(timeout=5, concurrency=FEEDS, per_host=FEEDS)
        cycle = poller(engine, client, every_feed_at_once)
        summary = await cycle.poll_once(ignore_schedule=True)
        cycle.close()
    # Every feed was still polled, once.
    assert len(summary.feeds) == FEEDS
    assert {r.outcome for r in summary.feeds} == {FeedOutcome.NOT_MODIFIED}
    assert len(httpx_mock.get_requests()) == FEEDS
    # Started all at once, the first request would find all 120 tasks created (and built
    # 119 other requests before its own was written).
    assert started_at_request[0] <= 2 * START_CHUNK < FEEDS


async def test_a_cycle_cancelled_while_its_feeds_are_started_gives_every_feed_back(
    httpx_mock: HTTPXMock, engine: Engine
) -> None:
    polling: asyncio.Task[object] | None = None

    async def answer(request: httpx.Request) -> httpx.Response:
        assert polling is not None
        polling.cancel()  # SIGINT at the cycle's first request, most feeds not started yet
        await asyncio.sleep(1)
        return httpx.Response(304)

    httpx_mock.add_callback(answer, is_reusable=True)
    async with httpx.AsyncClient() as client:
        first = poller(engine, client, FetchLimits(timeout=5))
        polling = asyncio.create_task(first.poll_once(ignore_schedule=True))
        with contextlib.suppress(asyncio.CancelledError):
            await polling
        first.close()
        started = len(httpx_mock.get_requests())
        assert started < FEEDS
        # No task of the cancelled cycle runs on, and another worker can claim every feed
        # at once rather than after the lease.
        await asyncio.sleep(0.05)
        assert len(httpx_mock.get_requests()) == started
        httpx_mock.reset()
        second = poller(engine, client, FetchLimits(timeout=5))
        claimed: list[int] = []
        polling = None
        httpx_mock.add_response(status_code=304, is_reusable=True)
        summary = await second.poll_once(ignore_schedule=True, on_claimed=claimed.append)
        second.close()
    assert claimed == [FEEDS]
    assert len(summary.feeds) == FEEDS
