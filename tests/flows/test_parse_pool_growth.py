"""The product's parse pool (monitor.app.poller) is replaced when a worker has grown, not
after a fixed number of parses: a worker's start costs 0.25-0.3 s of CPU."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pytest_httpx import HTTPXMock
from sqlalchemy import Engine

from monitor import app
from monitor.config import parse_settings

FEEDS = 230  # more than two looks at the workers' size (every PARSE_GROWTH_CHECK parses)


def rss(n: int) -> bytes:
    item = f"<item><title>Story {n}</title><guid>g{n}</guid></item>"
    return f'<?xml version="1.0"?><rss version="2.0"><channel>{item}</channel></rss>'.encode()


async def replacements(tmp_path: Path, engine: Engine, httpx_mock: HTTPXMock) -> int:
    settings = parse_settings(
        {
            "polling": {"parse_processes": 1},
            "feeds": [{"name": f"f{i}", "url": f"https://h{i}.example/feed"} for i in range(FEEDS)],
        },
        tmp_path / "config.toml",
    )
    for i in range(FEEDS):
        httpx_mock.add_response(url=f"https://h{i}.example/feed", content=rss(i))
    async with (
        httpx.AsyncClient() as client,
        app.poller(settings, engine, client=client) as poller,
    ):
        summary = await poller.poll_once(ignore_schedule=True)
        assert summary.new_articles == FEEDS
        pool = poller._parse_pool
        assert pool is not None
        return pool.replaced


@pytest.mark.slow
async def test_workers_of_a_normal_size_are_kept(
    tmp_path: Path, sqlite_engine: Engine, httpx_mock: HTTPXMock
) -> None:
    assert await replacements(tmp_path, sqlite_engine, httpx_mock) == 0


@pytest.mark.slow
async def test_a_pool_with_a_grown_worker_is_replaced(
    tmp_path: Path, sqlite_engine: Engine, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app, "PARSE_WORKER_MAX_RSS", 1)  # every worker is over it
    assert (
        await replacements(tmp_path, sqlite_engine, httpx_mock) == FEEDS // app.PARSE_GROWTH_CHECK
    )
