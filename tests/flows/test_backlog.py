"""The backlog of fetched-but-not-stored feeds: bounded in count, in bytes (bodies and parsed
entries), and in feeds parsed and waiting for the writer."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
from fixed_time import NOW
from pytest_httpx import HTTPXMock
from sqlalchemy import Engine

from monitor.adapters.db.feed_store import FeedRow, FeedSpec
from monitor.adapters.http import Fetcher, FetchLimits
from monitor.core.model import NormalizedEntry, ParsedFeed
from monitor.flows.backlog import Backlog, parsed_bytes
from monitor.flows.poll import Poller


def test_no_more_feeds_than_the_slots_are_between_fetch_and_store() -> None:
    async def run() -> int:
        backlog = Backlog(feeds=3, max_bytes=10**9)
        inside, most = 0, 0

        async def feed() -> None:
            nonlocal inside, most
            async with backlog.slot():
                inside += 1
                most = max(most, inside)
                await asyncio.sleep(0.001)  # fetch, parse, store
                inside -= 1

        await asyncio.gather(*(feed() for _ in range(40)))
        return most

    assert asyncio.run(run()) == 3


def test_bodies_wait_for_room_and_one_larger_than_the_budget_passes_alone() -> None:
    async def run() -> list[int]:
        backlog = Backlog(feeds=100, max_bytes=1000)
        seen: list[int] = []

        async def feed(size: int) -> None:
            async with backlog.body(size):
                seen.append(backlog.held_bytes)
                await asyncio.sleep(0.001)

        await asyncio.gather(*(feed(size) for size in [400, 400, 400, 5000, 300, 300]))
        assert backlog.held_bytes == 0
        return seen

    held = asyncio.run(run())
    assert len(held) == 6
    assert max(held) == 5000  # the large body, with nothing else held
    assert all(h <= 1000 for h in held if h != 5000)


def test_parsed_entries_count_against_the_byte_budget_until_stored() -> None:
    async def run() -> tuple[int, int, int]:
        backlog = Backlog(feeds=10, max_bytes=1000)
        parsed = asyncio.Event()
        second_in: list[int] = []

        async def first() -> None:
            async with backlog.body(100) as held:
                held.add(850)  # its parsed entries: the budget is nearly full now
                parsed.set()
                await asyncio.sleep(0.01)  # waiting for the writer

        async def second() -> None:
            await parsed.wait()
            async with backlog.body(100):  # 100 + 950 > 1000: waits for the first's store
                second_in.append(backlog.held_bytes)

        await asyncio.gather(first(), second())
        return second_in[0], backlog.held_bytes, len(second_in)

    # The second body got in only once the first feed, body and entries, had left.
    assert asyncio.run(run()) == (100, 0, 1)


def test_parsed_bytes_grow_with_the_entries_text() -> None:
    def feed(text: str, entries: int) -> ParsedFeed:
        entry = NormalizedEntry(
            identity_key="k",
            guid=None,
            url=None,
            canonical_url=None,
            title="t",
            text=text,
            author=None,
            published_at=NOW,
            content_hash="h",
        )
        return ParsedFeed(title=None, link=None, ttl_seconds=None, entries=[entry] * entries)

    assert parsed_bytes(feed("x" * 10_000, 3)) > 30_000
    assert parsed_bytes(feed("x" * 10_000, 3)) > 2 * parsed_bytes(feed("x" * 10, 3))
    assert parsed_bytes(feed("", 0)) == 0


class _CountingParses(ThreadPoolExecutor):
    """Parses in a thread and counts them: parses started minus feeds stored is what waits."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.started = 0
        self.lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self.lock:
            self.started += 1
        return super().submit(fn, *args, **kwargs)


class _SlowWriter:
    """match_articles, on the writer thread: the slowest stage, as in production."""

    def __init__(self, parses: _CountingParses) -> None:
        self.parses = parses
        self.stored = 0
        self.most_waiting = 0

    def __call__(self, connection: Any, feed: FeedRow, stored: Sequence[Any], now: Any) -> int:
        with self.parses.lock:
            self.most_waiting = max(self.most_waiting, self.parses.started - self.stored)
        time.sleep(0.005)
        self.stored += 1
        return 0


async def test_no_more_than_the_parsed_bound_wait_for_the_writer_and_none_is_lost(
    httpx_mock: HTTPXMock, sqlite_engine: Engine
) -> None:
    names = [f"feed{i:02d}" for i in range(40)]
    for name in names:
        httpx_mock.add_response(url=f"https://{name}.example/feed", content=rss(name))
    parses = _CountingParses()
    writer = _SlowWriter(parses)
    async with httpx.AsyncClient() as client:
        poller = Poller(
            engine=sqlite_engine,
            fetcher=Fetcher(client, FetchLimits(timeout=5)),
            feeds=[FeedSpec(name, f"https://{name}.example/feed") for name in names],
            default_interval=timedelta(minutes=15),
            lease=timedelta(minutes=5),
            clock=lambda: NOW,
            parse_executor=parses,
            match_articles=writer,
            backlog_parsed=4,
        )
        summary = await poller.poll_once()
        poller.close()
    assert summary.new_articles == 80 and writer.stored == 40 and parses.started == 40
    assert 1 <= writer.most_waiting <= 4  # parsed (or being parsed) and not yet stored


def rss(name: str) -> bytes:
    items = "".join(
        f"<item><title>{name} story {i}</title><guid>{name}-{i}</guid></item>" for i in range(2)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel>{items}</channel></rss>'.encode()
