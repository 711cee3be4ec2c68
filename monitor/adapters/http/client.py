"""The production HTTP client for feeds: httpx's API over aiohttp's connection pool."""

from __future__ import annotations

import enum
import ssl
from collections.abc import Callable
from http.cookiejar import CookieJar
from typing import Any

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver
from httpx_aiohttp import AiohttpTransport, HttpxAiohttpClient

from monitor.adapters.http.guard import GuardedResolver
from monitor.adapters.http.limits import FetchLimits


class Transport(enum.Enum):
    """Which HTTP engine `build_client` puts under httpx."""

    AIOHTTP = "aiohttp"  # httpx-aiohttp: aiohttp's connection pool, httpx's API
    HTTPX = "httpx"  # httpx's own httpcore pool (slower at high concurrency, httpx#3215)


def build_client(
    limits: FetchLimits,
    *,
    transport: Transport = Transport.AIOHTTP,
    trust_env: bool = True,
    resolver: AbstractResolver | None = None,
) -> httpx.AsyncClient:
    """The production client. aiohttp's pool is the default: see bench/transport.py.

    Opens no connection: aiohttp's session is created on the first request, inside the loop.
    """
    timeout = httpx.Timeout(limits.timeout)
    pool = httpx.Limits(
        max_connections=limits.concurrency, max_keepalive_connections=limits.concurrency
    )
    if transport is Transport.HTTPX:
        return httpx.AsyncClient(timeout=timeout, limits=pool, trust_env=trust_env)
    context = httpx.create_ssl_context(trust_env=trust_env)
    session = _aiohttp_session_factory(limits, context, resolver)
    return _FeedClient(
        timeout=timeout,
        limits=pool,
        trust_env=trust_env,
        transport=AiohttpTransport(verify=context, client=session),
    )


class _Cookies(httpx.Cookies):
    """httpx's cookie store, which reads a response only when it sets a cookie.

    httpx wraps every response and its request in cookielib adapters before asking the jar
    for cookies; for the 304s that make up most of a steady-state cycle, which set none, that
    was about 6% of the event loop's time in bench/ingest.py's second poll."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


class _FeedClient(HttpxAiohttpClient):
    """httpx-aiohttp's client with `_Cookies`: the same jar, kept across requests as httpx
    keeps it (a redirect that sets a cookie gets it back on the next hop)."""

    def __init__(self, **kwargs: Any) -> None:
        jar = CookieJar()
        super().__init__(cookies=jar, **kwargs)
        self._feed_cookies = _Cookies(jar)

    @property
    def cookies(self) -> httpx.Cookies:
        return self._feed_cookies

    @cookies.setter
    def cookies(
        self, cookies: httpx.Cookies | CookieJar | dict[str, str] | list[tuple[str, str]]
    ) -> None:
        self._feed_cookies = _Cookies(cookies)


def _aiohttp_session_factory(
    limits: FetchLimits, context: ssl.SSLContext, resolver: AbstractResolver | None
) -> Callable[[], aiohttp.ClientSession]:
    """`resolver`: what the guarded resolver asks for addresses (tests map names to
    loopback); the system's resolver by default."""

    def session() -> aiohttp.ClientSession:
        # The guarded resolver repeats the SSRF check where the connection is made.
        connector = aiohttp.TCPConnector(
            limit=limits.concurrency, ssl=context, resolver=GuardedResolver(resolver)
        )
        return aiohttp.ClientSession(
            connector=connector,
            # httpx keeps the cookies; a second jar in aiohttp would send them twice.
            cookie_jar=aiohttp.DummyCookieJar(),
            # aiohttp refuses header lines over 8 KB by default; real sites send longer
            # Content-Security-Policy and Set-Cookie lines, which httpx's parser accepts.
            max_line_size=65536,
            max_field_size=65536,
        )

    return session
