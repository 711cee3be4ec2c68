"""The SSRF guard: a redirect from a public address into this machine's networks, or an
imported feed pointing there, is refused by resolved address (issue 13). Names resolve through
a fixed table; every request goes to pytest-httpx or to a server on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from pytest_httpx import HTTPXMock
from sqlalchemy import Engine

from monitor.adapters.db import feed_store
from monitor.adapters.db.feed_store import FeedSpec
from monitor.adapters.http import Fetcher, FetchLimits, build_client
from monitor.adapters.http.guard import AddressGuard
from monitor.core.addresses import AddressKind, classify_address
from monitor.errors import BlockedAddress, ConnectError
from monitor.flows.poll import Poller

LIMITS = FetchLimits(timeout=5)
FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
# What the test resolver answers: public names get public addresses, never contacted.
NAMES = {
    "feeds.example": ["93.184.216.34"],
    "cdn.example": ["2606:4700::1111"],
    "internal.example": ["10.0.0.7"],
    "localhost": ["127.0.0.1", "::1"],
    "both.example": ["93.184.216.35", "192.168.1.20"],
    "intranet.example": ["10.0.0.5"],
}


async def table_resolve(host: str, port: int) -> list[str]:
    try:
        classify_address(host)
        return [host]
    except ValueError:
        pass
    if host not in NAMES:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return NAMES[host]


GUARD = AddressGuard(resolve=table_resolve)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("93.184.216.34", AddressKind.PUBLIC),
        ("2606:4700::1111", AddressKind.PUBLIC),
        ("127.0.0.1", AddressKind.LOOPBACK),
        ("127.8.9.10", AddressKind.LOOPBACK),
        ("::1", AddressKind.LOOPBACK),
        ("::ffff:127.0.0.1", AddressKind.LOOPBACK),
        ("10.1.2.3", AddressKind.PRIVATE),
        ("172.16.0.1", AddressKind.PRIVATE),
        ("192.168.1.1", AddressKind.PRIVATE),
        ("fc00::1", AddressKind.PRIVATE),
        ("169.254.10.1", AddressKind.LINK_LOCAL),
        ("fe80::1", AddressKind.LINK_LOCAL),
        ("169.254.169.254", AddressKind.METADATA),
        ("fd00:ec2::254", AddressKind.METADATA),
        ("100.64.0.1", AddressKind.CGNAT),
        ("100.127.255.254", AddressKind.CGNAT),
        ("0.0.0.0", AddressKind.UNSPECIFIED),
        ("224.0.0.1", AddressKind.MULTICAST),
        ("192.0.2.1", AddressKind.RESERVED),
    ],
)
def test_addresses_are_classified(address: str, kind: AddressKind) -> None:
    assert classify_address(address) is kind


def redirect(httpx_mock: HTTPXMock, source: str, target: str, status: int = 301) -> None:
    httpx_mock.add_response(url=source, status_code=status, headers={"Location": target})


@pytest.mark.parametrize(
    ("target", "shown"),
    [
        ("http://127.0.0.1:8080/admin", "127.0.0.1, a loopback address"),
        ("http://localhost/secret", "localhost (127.0.0.1), a loopback address"),
        ("http://internal.example/rss", "internal.example (10.0.0.7), a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254, a cloud metadata address"),
        ("http://[fd00:ec2::254]/", "fd00:ec2::254, a cloud metadata address"),
        ("http://100.64.1.1/", "100.64.1.1, a carrier-grade NAT address"),
        ("http://both.example/rss", "both.example (192.168.1.20), a private address"),
    ],
)
async def test_a_redirect_from_public_into_private_networks_is_refused(
    httpx_mock: HTTPXMock, target: str, shown: str
) -> None:
    redirect(httpx_mock, "https://feeds.example/rss", target)
    async with httpx.AsyncClient() as client:
        with pytest.raises(BlockedAddress) as refused:
            await Fetcher(client, LIMITS, guard=GUARD).fetch("https://feeds.example/rss")
    assert str(refused.value) == (
        f"a redirect from https://feeds.example/rss to {shown}, was refused: a feed from "
        "outside may not reach this machine's own networks; set [polling] "
        "allow_private_networks = true in config.toml if this feed is meant to"
    )
    assert len(httpx_mock.get_requests()) == 1  # the private address was never asked


async def test_a_redirect_between_public_hosts_is_followed(httpx_mock: HTTPXMock) -> None:
    redirect(httpx_mock, "https://feeds.example/rss", "https://cdn.example/rss", 308)
    httpx_mock.add_response(url="https://cdn.example/rss", content=FEED)
    async with httpx.AsyncClient() as client:
        result = await Fetcher(client, LIMITS, guard=GUARD).fetch("https://feeds.example/rss")
    assert (result.status, result.permanent_url) == (200, "https://cdn.example/rss")


async def test_an_operator_feed_on_the_intranet_may_redirect_within_it(
    httpx_mock: HTTPXMock,
) -> None:
    redirect(httpx_mock, "http://intranet.example/rss", "http://10.0.0.6/rss")
    httpx_mock.add_response(url="http://10.0.0.6/rss", content=FEED)
    async with httpx.AsyncClient() as client:
        result = await Fetcher(client, LIMITS, guard=GUARD).fetch("http://intranet.example/rss")
    assert result.status == 200


async def test_an_imported_feed_may_not_point_at_a_private_address(
    httpx_mock: HTTPXMock,
) -> None:
    async with httpx.AsyncClient() as client:
        fetcher = Fetcher(client, LIMITS, guard=GUARD)
        with pytest.raises(BlockedAddress, match="the feed URL points at localhost"):
            await fetcher.fetch("http://localhost:631/", trusted=False)
    assert httpx_mock.get_requests() == []


async def test_an_imported_feed_at_a_public_address_is_fetched(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url="https://feeds.example/rss", content=FEED)
    async with httpx.AsyncClient() as client:
        result = await Fetcher(client, LIMITS, guard=GUARD).fetch(
            "https://feeds.example/rss", trusted=False
        )
    assert result.status == 200


async def test_an_unknown_name_in_the_check_is_a_dns_failure(httpx_mock: HTTPXMock) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(ConnectError, match=r"could not resolve host nowhere\.example"):
            await Fetcher(client, LIMITS, guard=GUARD).fetch(
                "https://nowhere.example/rss", trusted=False
            )


async def test_allow_private_networks_turns_the_guard_off(httpx_mock: HTTPXMock) -> None:
    redirect(httpx_mock, "https://feeds.example/rss", "http://127.0.0.1:8080/feed")
    httpx_mock.add_response(url="http://127.0.0.1:8080/feed", content=FEED)
    async with httpx.AsyncClient() as client:
        result = await Fetcher(client, LIMITS, guard=None).fetch("https://feeds.example/rss")
    assert result.status == 200


# ---- DNS rebinding: the check passes, the connection is refused ---------------------------


class LoopbackResolver(AbstractResolver):
    """What the connector is told: every name is 127.0.0.1 (a rebinding server would say
    so on the second lookup, after the check saw a public address)."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host, host="127.0.0.1", port=port, family=socket.AF_INET, proto=0, flags=0
            )
        ]

    async def close(self) -> None:
        return None


@pytest.fixture
async def loopback_server() -> AsyncIterator[Callable[[str], str]]:
    hits: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        hits.append(request.path)
        if request.path == "/start":
            port = request.url.port
            raise web.HTTPMovedPermanently(f"http://rebind.example:{port}/secret")
        return web.Response(body=b"internal answer", content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield lambda path: f"http://public.example:{port}{path}"
    await runner.cleanup()
    assert "/secret" not in hits, "the rebinding target was reached"


async def test_a_name_that_rebinds_to_loopback_is_refused_at_connect(
    loopback_server: Callable[[str], str],
) -> None:
    async def check_resolver(host: str, port: int) -> list[str]:
        return {"public.example": ["93.184.216.34"], "rebind.example": ["93.184.216.36"]}[host]

    client = build_client(LIMITS, resolver=LoopbackResolver(), trust_env=False)
    async with client:
        fetcher = Fetcher(client, LIMITS, guard=AddressGuard(resolve=check_resolver))
        with pytest.raises(BlockedAddress, match=r"rebind\.example \(127\.0\.0\.1\), a loopback"):
            await fetcher.fetch(loopback_server("/start"))


# ---- the poll: the refusal is on the feed, the stored URL stays ----------------------------


async def test_a_refused_redirect_is_shown_on_the_feed_and_keeps_its_url(
    httpx_mock: HTTPXMock, sqlite_engine: Engine, now: datetime
) -> None:
    spec = FeedSpec("opml-feed", "https://feeds.example/rss", source="opml")
    with sqlite_engine.begin() as connection:
        feed_store.add_feeds(connection, [spec], now)
    redirect(httpx_mock, "https://feeds.example/rss", "http://127.0.0.1:9/internal")
    async with httpx.AsyncClient() as client:
        poller = Poller(
            engine=sqlite_engine,
            fetcher=Fetcher(client, LIMITS, guard=GUARD),
            feeds=[],
            default_interval=timedelta(minutes=15),
            lease=timedelta(minutes=5),
            clock=lambda: now,
        )
        summary = await poller.poll_once()
        poller.close()
    assert summary.failed == 1 and summary.new_articles == 0
    with sqlite_engine.connect() as connection:
        row: dict[str, Any] = {r["name"]: r for r in feed_store.list_feeds(connection)}["opml-feed"]
    assert row["url"] == "https://feeds.example/rss"
    assert "127.0.0.1, a loopback address, was refused" in row["last_error"]
    await asyncio.sleep(0)
