"""Feeds waiting for the database writer are stored in one transaction; a feed whose part
of it fails costs itself only, the others are stored all the same."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fixed_time import NOW
from pytest_httpx import HTTPXMock
from sqlalchemy import Engine

from monitor.adapters.db import feed_store
from monitor.adapters.db.feed_store import FeedRow, FeedSpec
from monitor.adapters.http import Fetcher, FetchLimits
from monitor.core.states import FeedOutcome
from monitor.errors import TransactionFailed
from monitor.flows.poll import Poller

NAMES = [f"feed{i:02d}" for i in range(12)]


def rss(name: str) -> bytes:
    items = "".join(
        f"<item><title>{name} story {i}</title><guid>{name}-{i}</guid></item>" for i in range(2)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel>{items}</channel></rss>'.encode()


class SlowFirstThenFailOne:
    """match_articles: the first feed holds the writer a moment, so the others pile up and
    are stored together; `feed07` fails its part, as a scoring bug or a refused row would."""

    def __init__(self) -> None:
        self.first = threading.Event()

    def __call__(self, connection: Any, feed: FeedRow, stored: Sequence[Any], now: datetime) -> int:
        if not self.first.is_set():
            self.first.set()
            time.sleep(0.5)
        if feed.name == "feed07":
            raise TransactionFailed("refused", feed=feed.name)
        return 0


async def test_one_feed_failing_in_a_shared_transaction_loses_no_other(
    httpx_mock: HTTPXMock, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    for name in NAMES:
        httpx_mock.add_response(url=f"https://{name}.example/feed", content=rss(name))
    caplog.set_level(logging.INFO, logger="monitor.flows.poll")
    async with httpx.AsyncClient() as client:
        poller = Poller(
            engine=engine,
            fetcher=Fetcher(client, FetchLimits(timeout=5)),
            feeds=[FeedSpec(name, f"https://{name}.example/feed") for name in NAMES],
            default_interval=timedelta(minutes=15),
            lease=timedelta(minutes=5),
            clock=lambda: NOW,
            match_articles=SlowFirstThenFailOne(),
        )
        summary = await poller.poll_once()
        poller.close()
    outcome = {report.name: report.outcome for report in summary.feeds}
    assert outcome.pop("feed07") is FeedOutcome.FAILED
    assert set(outcome.values()) == {FeedOutcome.FETCHED}
    # On SQLite feed07 was stored together with others: the shared transaction is what failed
    # first. PostgreSQL stores feed by feed (see Poller._group_feeds).
    grouped = re.search(r"storing (\d+) feeds together failed", caplog.text)
    assert bool(grouped) == (engine.dialect.name == "sqlite")
    with engine.connect() as connection:
        rows = {row["name"]: row for row in feed_store.list_feeds(connection)}
    assert {name: row["articles"] for name, row in rows.items()} == {
        name: 0 if name == "feed07" else 2 for name in NAMES
    }
    assert "refused" in (rows["feed07"]["last_error"] or "")
