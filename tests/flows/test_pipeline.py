"""One poll cycle through the Poller with pytest-httpx: every fault is recorded on its own
feed with a readable reason, and none of them stops the others from being stored."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fixed_time import NOW
from pytest_httpx import HTTPXMock
from sqlalchemy import Engine

from monitor.adapters.db import feed_store
from monitor.adapters.db.feed_store import FeedSpec
from monitor.adapters.http import Fetcher, FetchLimits
from monitor.flows.poll import Poller


def rss(*titles: str, charset: str = "utf-8") -> bytes:
    items = "".join(f"<item><title>{t}</title><guid>{t}</guid></item>" for t in titles)
    return (
        f'<?xml version="1.0" encoding="{charset}"?><rss version="2.0"><channel><title>x</title>'
        f"{items}</channel></rss>"
    ).encode(charset)


FAULTS: dict[str, tuple[dict[str, Any], str, str]] = {
    # name: (response, expected state, expected words in last_error)
    "ok": ({"content": rss("One", "Two")}, "active", ""),
    "malformed": (
        {"content": b"<rss><channel><item><title>x</ti"},
        "active",
        "read despite errors",
    ),
    "not-xml": (
        {"content": b"\x00\x01garbage", "headers": {"Content-Type": "application/xml"}},
        "backoff",
        "XML error at line 1",
    ),
    "html": (
        {"content": b"<html><body>hi</body></html>", "headers": {"Content-Type": "text/html"}},
        "backoff",
        "HTML page",
    ),
    "empty": ({"content": b""}, "backoff", "empty"),
    "server-error": ({"status_code": 500}, "backoff", "500"),
    "not-found": ({"status_code": 404}, "backoff", "404"),
    "gone": ({"status_code": 410}, "stopped", "410 Gone"),
    "throttled": ({"status_code": 429, "headers": {"Retry-After": "3600"}}, "backoff", "429"),
}


@pytest.fixture
def engine_with_feeds(sqlite_engine: Engine) -> Engine:
    with sqlite_engine.begin() as connection:
        feed_store.add_feeds(
            connection, [FeedSpec(name, f"https://{name}.example/feed") for name in FAULTS], NOW
        )
    return sqlite_engine


def make_poller(
    engine: Engine,
    client: httpx.AsyncClient,
    names: Iterable[str] = ("ok",),
    clock: Callable[[], datetime] = lambda: NOW,
    **kwargs: Any,
) -> Poller:
    specs = [FeedSpec(name, f"https://{name}.example/feed") for name in names]
    return Poller(
        engine=engine,
        fetcher=Fetcher(client, FetchLimits(timeout=5)),
        feeds=specs,
        default_interval=timedelta(minutes=15),
        lease=timedelta(minutes=5),
        clock=clock,
        **kwargs,
    )


def by_name(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as connection:
        return {row["name"]: row for row in feed_store.list_feeds(connection)}


async def test_every_fault_stays_on_its_own_feed(
    httpx_mock: HTTPXMock, engine_with_feeds: Engine
) -> None:
    for name, (response, _, _) in FAULTS.items():
        httpx_mock.add_response(url=f"https://{name}.example/feed", **response)
    async with httpx.AsyncClient() as client:
        poller = make_poller(engine_with_feeds, client, FAULTS)
        summary = await poller.poll_once()
        poller.close()
    assert summary.polled == len(FAULTS) and summary.new_articles == 2
    feeds = by_name(engine_with_feeds)
    for name, (_, state, words) in FAULTS.items():
        assert feeds[name]["state"] == state, name
        assert words in (feeds[name]["last_error"] or ""), (name, feeds[name]["last_error"])
    assert feeds["ok"]["articles"] == 2 and feeds["ok"]["last_error"] is None
    # Throttled: no sooner than the server asked.
    assert feeds["throttled"]["next_poll_at"] >= NOW + timedelta(hours=1)


async def test_a_wrong_charset_header_does_not_garble_the_text(
    httpx_mock: HTTPXMock, sqlite_engine: Engine
) -> None:
    with sqlite_engine.begin() as connection:
        feed_store.add_feeds(connection, [FeedSpec("ok", "https://ok.example/feed")], NOW)
    httpx_mock.add_response(
        url="https://ok.example/feed",
        content=rss("Café in İdlib"),
        headers={"Content-Type": "application/rss+xml; charset=iso-8859-1"},
    )
    async with httpx.AsyncClient() as client:
        poller = make_poller(sqlite_engine, client)
        await poller.poll_once()
        poller.close()
    from monitor.adapters.db.article_store import list_articles

    with sqlite_engine.connect() as connection:
        (article,) = list_articles(connection)
    assert article["title"] == "Café in İdlib"


async def test_a_feeds_ttl_still_holds_when_it_answers_304(
    httpx_mock: HTTPXMock, sqlite_engine: Engine
) -> None:
    with sqlite_engine.begin() as connection:
        feed_store.add_feeds(connection, [FeedSpec("ok", "https://ok.example/feed")], NOW)
    hourly = rss("One").replace(b"<title>x</title>", b"<title>x</title><ttl>60</ttl>")
    httpx_mock.add_response(url="https://ok.example/feed", content=hourly, headers={"ETag": '"1"'})
    httpx_mock.add_response(url="https://ok.example/feed", status_code=304)
    clock = [NOW]
    later = NOW + timedelta(hours=2)
    async with httpx.AsyncClient() as client:
        poller = make_poller(sqlite_engine, client, clock=lambda: clock[0])
        await poller.poll_once()
        assert by_name(sqlite_engine)["ok"]["next_poll_at"] >= NOW + timedelta(hours=1)
        clock[0] = later
        summary = await poller.poll_once()
        poller.close()
    # The 304 has no body and no caching headers; the ttl read two hours ago still holds,
    # where the 15-minute default interval would otherwise apply.
    assert [f.outcome for f in summary.feeds] == ["not_modified"]
    assert by_name(sqlite_engine)["ok"]["next_poll_at"] >= later + timedelta(hours=1)


class _CrashingPool(Executor):
    """A process pool whose worker died: every submission fails as BrokenProcessPool."""

    _broken = True

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_exception(BrokenProcessPool("a child process terminated abruptly"))
        return future


async def test_a_crashed_parser_process_is_replaced_and_costs_nothing(
    httpx_mock: HTTPXMock, sqlite_engine: Engine
) -> None:
    with sqlite_engine.begin() as connection:
        feed_store.add_feeds(connection, [FeedSpec("ok", "https://ok.example/feed")], NOW)
    httpx_mock.add_response(url="https://ok.example/feed", content=rss("One"))
    fresh: list[Executor] = []

    def renew() -> Executor:
        fresh.append(ThreadPoolExecutor(max_workers=1))
        return fresh[-1]

    async with httpx.AsyncClient() as client:
        poller = make_poller(
            sqlite_engine, client, parse_executor=_CrashingPool(), renew_parse_executor=renew
        )
        summary = await poller.poll_once()
        poller.close()
    assert len(fresh) == 1 and summary.new_articles == 1


async def test_a_cycle_cancelled_while_claiming_gives_its_leases_back(
    httpx_mock: HTTPXMock, sqlite_engine: Engine
) -> None:
    """Cancelled while its claim runs on the writer thread (Ctrl-C just after a start, or a
    loaded machine): the claim commits there after all, and its leases must not stay."""
    with sqlite_engine.begin() as connection:
        feed_store.add_feeds(connection, [FeedSpec("ok", "https://ok.example/feed")], NOW)
    async with httpx.AsyncClient() as client:
        poller = make_poller(sqlite_engine, client)
        task = asyncio.create_task(poller.poll_once())
        await asyncio.sleep(0)  # the task is now waiting on its claim
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        poller.close()
    with sqlite_engine.connect() as connection:
        claimed = feed_store.claim_due_feeds(
            connection, owner="other", now=NOW, lease=timedelta(minutes=5)
        )
    assert [f.name for f in claimed] == ["ok"]


async def test_a_cancelled_cycle_gives_its_leases_back(
    httpx_mock: HTTPXMock, sqlite_engine: Engine
) -> None:
    with sqlite_engine.begin() as connection:
        feed_store.add_feeds(connection, [FeedSpec("ok", "https://ok.example/feed")], NOW)

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(60)
        raise AssertionError("not reached")

    httpx_mock.add_callback(hang, url="https://ok.example/feed", is_optional=True)
    async with httpx.AsyncClient() as client:
        poller = make_poller(sqlite_engine, client)
        task = asyncio.create_task(poller.poll_once())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        poller.close()
    with sqlite_engine.connect() as connection:
        claimed = feed_store.claim_due_feeds(
            connection, owner="other", now=NOW, lease=timedelta(minutes=5)
        )
    assert [f.name for f in claimed] == ["ok"]
