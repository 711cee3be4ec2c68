"""Outlet names: readers see `[[feeds]] title`, else the feed's own <title> as stored when it
was polled, else the feed's name; a poll never overwrites what the operator configured."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fixed_time import NOW
from pytest_httpx import HTTPXMock
from sqlalchemy import Engine

from monitor.adapters.db import article_store, feed_store
from monitor.adapters.db.feed_store import FeedSpec
from monitor.adapters.http import Fetcher, FetchLimits
from monitor.flows.poll import Poller


def feed_body(title: str, item: str) -> bytes:
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<item><title>{item}</title><guid>{item}</guid></item></channel></rss>"
    ).encode()


async def poll(engine: Engine, specs: list[FeedSpec]) -> None:
    with engine.begin() as connection:
        feed_store.sync_feeds(connection, specs, NOW)
    async with httpx.AsyncClient() as client:
        poller = Poller(
            engine=engine,
            fetcher=Fetcher(client, FetchLimits(timeout=5)),
            feeds=specs,
            default_interval=timedelta(minutes=15),
            lease=timedelta(minutes=5),
            clock=lambda: NOW,
        )
        await poller.poll_once(ignore_schedule=True)
        poller.close()


def outlets(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        return {row["name"]: row["title"] for row in feed_store.list_feeds(connection)}


async def test_the_outlet_is_the_configured_title_else_the_feeds_own(
    httpx_mock: HTTPXMock, sqlite_engine: Engine
) -> None:
    httpx_mock.add_response(
        url="https://hdn.example/rss",
        content=feed_body("Hurriyet Daily News - Latest\n News", "One"),
        is_reusable=True,
    )
    httpx_mock.add_response(url="https://plain.example/rss", content=feed_body("", "Two"))
    specs = [
        FeedSpec("hdn", "https://hdn.example/rss"),
        FeedSpec("plain", "https://plain.example/rss"),
    ]
    await poll(sqlite_engine, specs)
    # The feed's own title, on one line; a feed without one is shown by its name.
    assert outlets(sqlite_engine) == {"hdn": "Hurriyet Daily News - Latest News", "plain": "plain"}
    with sqlite_engine.connect() as connection:
        by_feed = {a["feed"]: a["outlet"] for a in article_store.list_articles(connection)}
    assert by_feed == {"hdn": "Hurriyet Daily News - Latest News", "plain": "plain"}

    # The operator's title wins, and the next poll of the feed does not overwrite it.
    configured = [FeedSpec("hdn", "https://hdn.example/rss", title="Hürriyet Daily News")]
    await poll(sqlite_engine, configured)
    assert outlets(sqlite_engine)["hdn"] == "Hürriyet Daily News"
    # Taking the title out of config.toml falls back to the feed's own again.
    with sqlite_engine.begin() as connection:
        feed_store.sync_feeds(connection, [FeedSpec("hdn", "https://hdn.example/rss")], NOW)
    assert outlets(sqlite_engine)["hdn"] == "Hurriyet Daily News - Latest News"
