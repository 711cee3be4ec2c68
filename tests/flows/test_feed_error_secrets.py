"""A feed URL's credentials (`?api_key=...`) never reach the stored feed error or the log,
though the fetch error quotes the URL."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest
from fixed_time import NOW
from pytest_httpx import HTTPXMock
from sqlalchemy import Engine

from monitor.adapters.db import feed_store
from monitor.adapters.db.feed_store import FeedSpec
from monitor.adapters.http import Fetcher, FetchLimits
from monitor.flows.poll import Poller

KEY = "k3y-5ecret-77"
URL = f"https://wire.example/rss?lang=en&api_key={KEY}"


async def test_a_failing_feed_keeps_its_api_key_out_of_its_error(
    httpx_mock: HTTPXMock, sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("read timed out"), url=URL)
    spec = FeedSpec("wire", URL)
    with sqlite_engine.begin() as connection:
        feed_store.sync_feeds(connection, [spec], NOW)
    caplog.set_level(logging.DEBUG, logger="monitor")
    async with httpx.AsyncClient() as client:
        poller = Poller(
            engine=sqlite_engine,
            fetcher=Fetcher(client, FetchLimits(timeout=5)),
            feeds=[spec],
            default_interval=timedelta(minutes=15),
            lease=timedelta(minutes=5),
            clock=lambda: NOW,
        )
        summary = await poller.poll_once()
        poller.close()
    with sqlite_engine.connect() as connection:
        (row,) = feed_store.list_feeds(connection)
    error = row["last_error"] or ""
    assert "wire.example/rss" in error and "[redacted]" in error, error
    assert KEY not in error
    assert all(KEY not in str(feed.error) for feed in summary.feeds)
    assert KEY not in caplog.text and "fetch" in caplog.text
