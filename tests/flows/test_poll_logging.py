"""What a poll writes to the log: a failure once per change of state, with the feed; a
recovery once; matches only at DEBUG, with the article (issue 13)."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from fixed_time import NOW
from pytest_httpx import HTTPXMock
from sqlalchemy import Engine

from monitor.adapters.db import feed_store
from monitor.adapters.db.feed_store import FeedSpec
from monitor.adapters.http import Fetcher, FetchLimits
from monitor.flows.poll import Poller

START = NOW  # the first poll
URL = "https://gone.example/feed"
FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
    b"<item><title>A</title><link>https://gone.example/a</link></item></channel></rss>"
)


async def poll_at(engine: Engine, client: httpx.AsyncClient, when: datetime) -> None:
    poller = Poller(
        engine=engine,
        fetcher=Fetcher(client, FetchLimits(timeout=5)),
        feeds=[],
        default_interval=timedelta(minutes=15),
        lease=timedelta(minutes=5),
        clock=lambda: when,
    )
    try:
        await poller.poll_once(ignore_schedule=True)
    finally:
        poller.close()


async def test_a_failure_is_logged_once_per_change_and_the_recovery_once(
    httpx_mock: HTTPXMock, sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="monitor")
    with sqlite_engine.begin() as connection:
        feed_store.add_feeds(connection, [FeedSpec("gone", URL, source="opml")], START)
    for _ in range(3):
        httpx_mock.add_response(url=URL, status_code=404)
    httpx_mock.add_response(url=URL, status_code=500)
    httpx_mock.add_response(url=URL, content=FEED)
    async with httpx.AsyncClient() as client:
        for hour in range(5):
            await poll_at(sqlite_engine, client, START + timedelta(hours=hour))
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2, [r.getMessage() for r in warnings]
    assert "404" in warnings[0].getMessage() and "500" in warnings[1].getMessage()
    assert all(getattr(r, "feed", None) == "gone" for r in warnings)
    assert getattr(warnings[0], "status", None) == 404
    recovered = [r for r in caplog.records if "recovered after 4 failed polls" in r.getMessage()]
    assert len(recovered) == 1 and recovered[0].levelname == "INFO"
