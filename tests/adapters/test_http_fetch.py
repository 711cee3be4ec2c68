"""Tests of the HTTP fetcher (monitor/adapters/http/fetcher.py).

Politeness and fault cases go through pytest-httpx with a plain httpx.AsyncClient; the cases
where the transport itself matters (decompression, streaming, timeouts, real sockets) run the
production clients from build_client against an asyncio HTTP server on 127.0.0.1. Nothing
here sends traffic anywhere but loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import itertools
import socket
import ssl
import struct
import time
import tracemalloc
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import aiohttp
import httpx
import pytest
from pytest_httpx import HTTPXMock, IteratorStream

from monitor.adapters.http import (
    DEFAULT_USER_AGENT,
    Fetcher,
    FetchLimits,
    FetchResult,
    Transport,
    build_client,
)
from monitor.adapters.http.errors import transport_error
from monitor.adapters.http.fetcher import FEED_ACCEPT
from monitor.core.polling import decide_next_poll
from monitor.errors import (
    ConnectError,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    TooLarge,
    TooManyRedirects,
)

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
URL = "https://feeds.example/rss"
LIMITS = FetchLimits(timeout=2.0, max_bytes=1 << 20, max_redirects=5, concurrency=8, per_host=2)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def fetcher(client: httpx.AsyncClient) -> Fetcher:
    return Fetcher(client, LIMITS)


@functools.cache
def gzip_bomb(megabytes: int) -> bytes:
    """`megabytes` MB of zeros as a valid gzip body of about 1 KB per MB, built quickly."""
    zeros = bytes(1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    # After a full flush every further MB of zeros compresses to the same bytes: repeat them.
    first = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    repeated = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    end = deflate.flush()
    crc = 0
    for _ in range(megabytes):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, (megabytes << 20) & 0xFFFFFFFF)
    return header + first + repeated * (megabytes - 1) + end + trailer


def test_the_gzip_bomb_is_a_real_one() -> None:
    inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)
    assert inflate.decompress(gzip_bomb(4)) == bytes(4 << 20)
    assert inflate.eof
    assert len(gzip_bomb(1024)) < (1 << 20) + 65536  # 1 GB of zeros in about 1 MB


# --- answers ------------------------------------------------------------------------------


async def test_200_returns_body_and_lower_case_headers(
    httpx_mock: HTTPXMock, fetcher: Fetcher
) -> None:
    httpx_mock.add_response(
        url=URL,
        content=FEED,
        headers={"ETag": '"v1"', "Last-Modified": "Wed, 01 May 2024 12:00:00 GMT"},
    )
    result = await fetcher.fetch(URL)
    assert result.status == 200
    assert result.body == FEED
    assert result.url == URL
    assert result.permanent_url is None
    assert result.headers["etag"] == '"v1"'
    assert result.etag == '"v1"'
    assert result.last_modified == "Wed, 01 May 2024 12:00:00 GMT"
    assert 0 <= result.elapsed < LIMITS.timeout


async def test_request_names_the_project_and_asks_for_feeds(
    httpx_mock: HTTPXMock, fetcher: Fetcher
) -> None:
    httpx_mock.add_response(url=URL, content=FEED)
    await fetcher.fetch(URL)
    request = httpx_mock.get_request()
    assert request is not None
    assert request.headers["user-agent"] == DEFAULT_USER_AGENT
    assert "monitor" in DEFAULT_USER_AGENT
    assert request.headers["accept"] == FEED_ACCEPT
    assert "if-none-match" not in request.headers
    assert "if-modified-since" not in request.headers


async def test_user_agent_is_configurable(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    httpx_mock.add_response(url=URL, match_headers={"User-Agent": "desk-monitor/2 (+ops@x)"})
    await Fetcher(client, LIMITS, user_agent="desk-monitor/2 (+ops@x)").fetch(URL)


def test_a_user_agent_that_cannot_be_sent_is_refused(client: httpx.AsyncClient) -> None:
    with pytest.raises(ValueError, match="user_agent must be printable ASCII"):
        Fetcher(client, user_agent="monitor\r\nX-Evil: 1")


async def test_304_after_a_conditional_get(httpx_mock: HTTPXMock, fetcher: Fetcher) -> None:
    last_modified = "Wed, 01 May 2024 12:00:00 GMT"
    httpx_mock.add_response(
        url=URL,
        status_code=304,
        headers={"ETag": '"v1"'},
        match_headers={"If-None-Match": '"v1"', "If-Modified-Since": last_modified},
    )
    result = await fetcher.fetch(URL, etag='"v1"', last_modified=last_modified)
    assert result.status == 304
    assert result.body is None
    assert result.etag == '"v1"'


async def test_a_stored_validator_that_cannot_be_sent_is_left_out(
    httpx_mock: HTTPXMock, fetcher: Fetcher
) -> None:
    httpx_mock.add_response(url=URL, content=FEED)
    await fetcher.fetch(URL, etag='"v1"\r\nX-Evil: 1', last_modified="Wed, 01 May 2024")
    request = httpx_mock.get_request()
    assert request is not None
    assert "if-none-match" not in request.headers
    assert request.headers["if-modified-since"] == "Wed, 01 May 2024"


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (429, {"Retry-After": "120"}),
        (429, {"Retry-After": "Wed, 01 May 2024 14:00:00 GMT"}),
        (503, {"Retry-After": "3600"}),
        (503, {"Retry-After": "Wed, 01 May 2024 14:00:00 GMT"}),
        (410, {}),
        (404, {}),
        (403, {}),
        (500, {}),
    ],
)
async def test_error_statuses_are_answers_for_the_policy(
    httpx_mock: HTTPXMock, fetcher: Fetcher, status: int, headers: dict[str, str]
) -> None:
    httpx_mock.add_response(url=URL, status_code=status, headers=headers, content=b"<html/>")
    result = await fetcher.fetch(URL)
    assert result.status == status
    assert result.body is None  # error pages are not read
    assert result.headers.get("retry-after") == headers.get("Retry-After")


# --- redirects ----------------------------------------------------------------------------


def redirect(httpx_mock: HTTPXMock, source: str, status: int, location: str) -> None:
    httpx_mock.add_response(url=source, status_code=status, headers={"Location": location})


@pytest.mark.parametrize("status", [301, 308])
async def test_permanent_redirect_reports_the_new_url(
    httpx_mock: HTTPXMock, fetcher: Fetcher, status: int
) -> None:
    redirect(httpx_mock, URL, status, "https://new.example/feed.xml")
    httpx_mock.add_response(url="https://new.example/feed.xml", content=FEED)
    result = await fetcher.fetch(URL)
    assert result.status == 200
    assert result.body == FEED
    assert result.url == "https://new.example/feed.xml"
    assert result.permanent_url == "https://new.example/feed.xml"


@pytest.mark.parametrize("status", [302, 303, 307])
async def test_temporary_redirect_keeps_the_url(
    httpx_mock: HTTPXMock, fetcher: Fetcher, status: int
) -> None:
    redirect(httpx_mock, URL, status, "/today.xml")  # relative: resolved against the URL
    httpx_mock.add_response(url="https://feeds.example/today.xml", content=FEED)
    result = await fetcher.fetch(URL)
    assert result.url == "https://feeds.example/today.xml"
    assert result.permanent_url is None


async def test_permanent_then_temporary_reports_the_permanent_part(
    httpx_mock: HTTPXMock, fetcher: Fetcher
) -> None:
    redirect(httpx_mock, "http://feeds.example/rss", 301, URL)
    redirect(httpx_mock, URL, 302, "https://cdn.example/rss?token=1")
    httpx_mock.add_response(url="https://cdn.example/rss?token=1", content=FEED)
    result = await fetcher.fetch("http://feeds.example/rss")
    assert result.permanent_url == URL
    assert result.url == "https://cdn.example/rss?token=1"


async def test_temporary_then_permanent_reports_nothing(
    httpx_mock: HTTPXMock, fetcher: Fetcher
) -> None:
    redirect(httpx_mock, URL, 302, "https://a.example/rss")
    redirect(httpx_mock, "https://a.example/rss", 301, "https://b.example/rss")
    httpx_mock.add_response(url="https://b.example/rss", status_code=304)
    result = await fetcher.fetch(URL)
    assert result.status == 304
    assert result.permanent_url is None


async def test_permanent_redirect_to_an_error_keeps_the_url(
    httpx_mock: HTTPXMock, fetcher: Fetcher
) -> None:
    redirect(httpx_mock, URL, 301, "https://parked.example/")
    httpx_mock.add_response(url="https://parked.example/", status_code=404)
    result = await fetcher.fetch(URL)
    assert result.status == 404
    assert result.permanent_url is None


async def test_302_loop(httpx_mock: HTTPXMock, fetcher: Fetcher) -> None:
    redirect(httpx_mock, "https://a.example/", 302, "https://b.example/")
    redirect(httpx_mock, "https://b.example/", 302, "https://a.example/")
    with pytest.raises(TooManyRedirects) as caught:
        await fetcher.fetch("https://a.example/")
    assert str(caught.value) == (
        "redirect loop: https://a.example/ -> https://b.example/ -> https://a.example/"
    )


async def test_redirect_to_itself_is_a_loop(httpx_mock: HTTPXMock, fetcher: Fetcher) -> None:
    redirect(httpx_mock, URL, 301, URL)
    with pytest.raises(TooManyRedirects, match="redirect loop"):
        await fetcher.fetch(URL)


async def test_too_many_redirects(httpx_mock: HTTPXMock, fetcher: Fetcher) -> None:
    hops = [f"https://feeds.example/{n}" for n in range(LIMITS.max_redirects + 2)]
    for source, target in itertools.pairwise(hops):
        redirect(httpx_mock, source, 302, target)
    with pytest.raises(TooManyRedirects, match=r"more than 5 redirects: https://feeds\S+/0 ->"):
        await fetcher.fetch(hops[0])


async def test_the_redirect_limit_itself_is_allowed(
    httpx_mock: HTTPXMock, fetcher: Fetcher
) -> None:
    hops = [f"https://feeds.example/{n}" for n in range(LIMITS.max_redirects + 1)]
    for source, target in itertools.pairwise(hops):
        redirect(httpx_mock, source, 301, target)
    httpx_mock.add_response(url=hops[-1], content=FEED)
    result = await fetcher.fetch(hops[0])
    assert result.permanent_url == hops[-1]


async def test_redirect_to_another_scheme_is_refused(
    httpx_mock: HTTPXMock, fetcher: Fetcher
) -> None:
    redirect(httpx_mock, URL, 301, "ftp://feeds.example/rss")
    with pytest.raises(FetchError, match="only http:// and https:// URLs"):
        await fetcher.fetch(URL)


async def test_redirect_without_location_is_the_answer(
    httpx_mock: HTTPXMock, fetcher: Fetcher
) -> None:
    httpx_mock.add_response(url=URL, status_code=301)
    result = await fetcher.fetch(URL)
    assert result.status == 301
    assert result.body is None


@pytest.mark.parametrize("url", ["ftp://feeds.example/rss", "feeds.example/rss", "http://"])
async def test_a_feed_url_we_cannot_fetch(fetcher: Fetcher, url: str) -> None:
    with pytest.raises(FetchError, match="feed URL"):
        await fetcher.fetch(url)


# --- limits -------------------------------------------------------------------------------


async def test_timeout_covers_a_server_that_never_answers(
    httpx_mock: HTTPXMock, client: httpx.AsyncClient
) -> None:
    async def never(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(60)
        raise AssertionError("not reached")

    httpx_mock.add_callback(never, url=URL)
    fetcher = Fetcher(client, FetchLimits(timeout=0.1))
    started = time.monotonic()
    with pytest.raises(FetchTimeout, match=r"^timed out after 0\.1s fetching https://feeds"):
        await fetcher.fetch(URL)
    assert time.monotonic() - started < 1.0


class Drip(httpx.AsyncByteStream):
    """A body that never ends, one byte at a time."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            await asyncio.sleep(0.01)
            yield b"<"


async def test_timeout_covers_a_slow_drip_body(
    httpx_mock: HTTPXMock, client: httpx.AsyncClient
) -> None:
    httpx_mock.add_response(url=URL, stream=Drip())
    fetcher = Fetcher(client, FetchLimits(timeout=0.2))
    started = time.monotonic()
    with pytest.raises(FetchTimeout, match=r"timed out after 0\.2s"):
        await fetcher.fetch(URL)
    assert time.monotonic() - started < 1.0


async def test_timeout_counts_every_redirect_hop(
    httpx_mock: HTTPXMock, client: httpx.AsyncClient
) -> None:
    async def slow_redirect(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.08)
        return httpx.Response(302, headers={"Location": f"{request.url}x"})

    httpx_mock.add_callback(slow_redirect, is_reusable=True)
    fetcher = Fetcher(client, FetchLimits(timeout=0.2, max_redirects=10))
    with pytest.raises(FetchTimeout):
        await fetcher.fetch(URL)


async def test_waiting_for_a_slot_does_not_use_up_the_time_limit(
    httpx_mock: HTTPXMock, client: httpx.AsyncClient
) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.1)
        return httpx.Response(200, content=FEED)

    httpx_mock.add_callback(slow, is_reusable=True)
    fetcher = Fetcher(client, FetchLimits(timeout=0.3, concurrency=1))
    urls = [f"https://feeds{n}.example/rss" for n in range(5)]  # 0.5 s in all, one at a time
    results = await asyncio.gather(*(fetcher.fetch(url) for url in urls))
    assert [result.status for result in results] == [200] * 5


async def test_oversized_body_with_content_length_fails_before_reading(
    httpx_mock: HTTPXMock, fetcher: Fetcher
) -> None:
    httpx_mock.add_response(url=URL, content=bytes(LIMITS.max_bytes + 1))
    with pytest.raises(TooLarge, match=r"larger than 1MiB \(Content-Length: 1048577\)"):
        await fetcher.fetch(URL)


async def test_oversized_body_without_content_length(
    httpx_mock: HTTPXMock, fetcher: Fetcher
) -> None:
    chunks = [bytes(64 * 1024)] * 17  # one chunk past 1 MB
    httpx_mock.add_response(url=URL, stream=IteratorStream(chunks))
    with pytest.raises(TooLarge, match="response larger than 1MiB after decompression"):
        await fetcher.fetch(URL)


async def test_a_body_of_exactly_max_bytes_is_accepted(
    httpx_mock: HTTPXMock, fetcher: Fetcher
) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([bytes(LIMITS.max_bytes)]))
    result = await fetcher.fetch(URL)
    assert result.body is not None
    assert len(result.body) == LIMITS.max_bytes


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)]


async def test_gzip_bomb_is_cut_after_max_bytes(httpx_mock: HTTPXMock, fetcher: Fetcher) -> None:
    bomb = gzip_bomb(64)
    httpx_mock.add_response(
        url=URL,
        # Content-Length of the compressed body is small: only the decompressed count matters.
        headers={"Content-Encoding": "gzip", "Content-Length": str(len(bomb))},
        stream=IteratorStream(chunked(bomb, 1024)),
    )
    with pytest.raises(TooLarge, match="after decompression"):
        await fetcher.fetch(URL)


async def test_compressed_feed_is_decompressed(httpx_mock: HTTPXMock, fetcher: Fetcher) -> None:
    gzipped = zlib.compress(FEED, wbits=zlib.MAX_WBITS | 16)
    # A stream, not content=: httpx decodes content= once on construction, and pytest-httpx
    # would then replay it through the spent decoder.
    stream = IteratorStream([gzipped])
    httpx_mock.add_response(url=URL, headers={"Content-Encoding": "gzip"}, stream=stream)
    result = await fetcher.fetch(URL)
    assert result.body == FEED


async def test_corrupt_compression_is_a_fetch_error(
    httpx_mock: HTTPXMock, fetcher: Fetcher
) -> None:
    httpx_mock.add_response(url=URL, headers={"Content-Encoding": "gzip"}, content=FEED)
    with pytest.raises(FetchError, match=r"could not decompress the response from feeds\.example"):
        await fetcher.fetch(URL)


# --- concurrency --------------------------------------------------------------------------


class InFlight:
    """A pytest-httpx callback that records how many requests were in flight at once."""

    def __init__(self) -> None:
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.now[host] += 1
        self.now["*"] += 1
        for key in (host, "*"):
            self.peak[key] = max(self.peak[key], self.now[key])
        await asyncio.sleep(0.03)
        self.now[host] -= 1
        self.now["*"] -= 1
        return httpx.Response(200, content=FEED)


async def test_per_host_limit(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    in_flight = InFlight()
    httpx_mock.add_callback(in_flight, is_reusable=True)
    fetcher = Fetcher(client, FetchLimits(concurrency=20, per_host=2))
    urls = [f"https://{host}.example/{n}" for host in "ab" for n in range(6)]
    await asyncio.gather(*(fetcher.fetch(url) for url in urls))
    assert in_flight.peak == {"a.example": 2, "b.example": 2, "*": 4}


async def test_global_limit(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    in_flight = InFlight()
    httpx_mock.add_callback(in_flight, is_reusable=True)
    fetcher = Fetcher(client, FetchLimits(concurrency=3, per_host=2))
    urls = [f"https://{host}.example/{n}" for host in "abcd" for n in range(3)]
    await asyncio.gather(*(fetcher.fetch(url) for url in urls))
    assert in_flight.peak["*"] == 3
    assert max(in_flight.peak[f"{host}.example"] for host in "abcd") <= 2


async def test_one_failing_feed_does_not_hold_up_the_others(
    httpx_mock: HTTPXMock, client: httpx.AsyncClient
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("connection refused"), url="https://down.example/")
    httpx_mock.add_response(url="https://up.example/", content=FEED)
    fetcher = Fetcher(client, LIMITS)
    down, up = await asyncio.gather(
        fetcher.fetch("https://down.example/"),
        fetcher.fetch("https://up.example/"),
        return_exceptions=True,
    )
    assert isinstance(down, ConnectError)
    assert isinstance(up, FetchResult)
    assert up.status == 200


async def test_idle_hosts_are_forgotten(httpx_mock: HTTPXMock, fetcher: Fetcher) -> None:
    httpx_mock.add_response(content=FEED, is_reusable=True)
    await asyncio.gather(*(fetcher.fetch(f"https://h{n}.example/") for n in range(20)))
    assert fetcher._slots._hosts == {}


# --- every transport exception becomes ours ------------------------------------------------


def httpx_exception_types() -> list[type[Exception]]:
    roots: list[type[Exception]] = [
        httpx.HTTPError,
        httpx.InvalidURL,
        httpx.CookieConflict,
        httpx.StreamError,
    ]
    found: list[type[Exception]] = []
    pending = list(roots)
    while pending:
        current = pending.pop()
        if current not in found:
            found.append(current)
            pending.extend(current.__subclasses__())
    public = {value for value in vars(httpx).values() if inspect.isclass(value)}
    return sorted((t for t in found if t in public), key=lambda t: t.__name__)


def make_httpx_exception(kind: type[Exception]) -> Exception:
    request = httpx.Request("GET", URL)
    if kind is httpx.HTTPStatusError:
        return kind("boom", request=request, response=httpx.Response(500, request=request))
    if issubclass(kind, httpx.StreamError) and kind is not httpx.StreamError:
        return kind()
    if issubclass(kind, httpx.RequestError):
        return kind("boom", request=request)
    return kind("boom")


EXPECTED_TYPES: dict[type[Exception], type[FetchError]] = {
    httpx.ConnectTimeout: FetchTimeout,
    httpx.ReadTimeout: FetchTimeout,
    httpx.WriteTimeout: FetchTimeout,
    httpx.PoolTimeout: FetchTimeout,
    httpx.TimeoutException: FetchTimeout,
    httpx.ConnectError: ConnectError,
    httpx.ReadError: ConnectError,
    httpx.WriteError: ConnectError,
    httpx.CloseError: ConnectError,
    httpx.NetworkError: ConnectError,
    httpx.ProxyError: ConnectError,
    httpx.TooManyRedirects: TooManyRedirects,
    httpx.HTTPStatusError: HTTPStatusError,
}


def test_the_httpx_exception_list_is_complete() -> None:
    names = {kind.__name__ for kind in httpx_exception_types()}
    assert {"ConnectTimeout", "RemoteProtocolError", "DecodingError", "StreamClosed"} <= names
    assert len(names) >= 25


@pytest.mark.parametrize("kind", httpx_exception_types(), ids=lambda kind: kind.__name__)
async def test_every_httpx_exception_is_mapped(
    httpx_mock: HTTPXMock, fetcher: Fetcher, kind: type[Exception]
) -> None:
    raised = make_httpx_exception(kind)
    httpx_mock.add_exception(raised, url=URL)  # type: ignore[arg-type]
    with pytest.raises(FetchError) as caught:
        await fetcher.fetch(URL)
    assert type(caught.value) is EXPECTED_TYPES.get(kind, FetchError)
    assert caught.value.__cause__ is raised
    assert "feeds.example" in str(caught.value)


def chained(*exceptions: BaseException) -> BaseException:
    """The first exception, raised from the second, raised from the third..."""
    for outer, inner in itertools.pairwise(exceptions):
        outer.__cause__ = inner
    return exceptions[0]


@pytest.mark.parametrize(
    ("exception", "expected", "message"),
    [
        (
            chained(httpx.ConnectError("x"), socket.gaierror(-2, "Name or service not known")),
            ConnectError,
            "could not resolve host feeds.example: check the host name",
        ),
        (
            chained(httpx.ConnectError("x"), ssl.SSLCertVerificationError(1, "self-signed")),
            ConnectError,
            "the TLS certificate of feeds.example is not valid: self-signed",
        ),
        (
            chained(httpx.ConnectError("x"), ssl.SSLError("handshake failure")),
            ConnectError,
            "TLS handshake with feeds.example failed",
        ),
        (
            chained(httpx.ConnectError("x"), ConnectionRefusedError(111, "refused")),
            ConnectError,
            "feeds.example refused the connection on port 443",
        ),
        # The aiohttp transport maps a server hang-up to ConnectTimeout; the cause wins.
        (
            chained(httpx.ConnectTimeout("x"), aiohttp.ServerDisconnectedError()),
            ConnectError,
            "feeds.example closed the connection before answering",
        ),
        (
            aiohttp.http_exceptions.BadStatusLine("HTTP/9 nope"),
            FetchError,
            "feeds.example sent a malformed HTTP response",
        ),
        (aiohttp.ClientPayloadError("truncated"), FetchError, "malformed HTTP response"),
        (
            chained(httpx.ReadTimeout("x"), aiohttp.SocketTimeoutError("read")),
            FetchTimeout,
            "timed out after 2s",
        ),
        (ConnectionResetError(104, "reset"), ConnectError, "the connection to feeds.example"),
        (UnicodeError("label too long"), FetchError, "invalid or unsupported URL"),
    ],
)
def test_transport_error_names_the_root_cause(
    exception: BaseException, expected: type[FetchError], message: str
) -> None:
    error = transport_error(exception, httpx.URL(URL), LIMITS)
    assert type(error) is expected
    assert message in str(error)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"timeout": 0}, "timeout must be a positive number of seconds"),
        ({"max_bytes": 0}, "max_bytes must be at least 1 byte"),
        ({"max_redirects": -1}, "max_redirects must be 0 or more"),
        ({"per_host": 0}, "concurrency and per_host must be at least 1"),
    ],
)
def test_limits_are_validated(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FetchLimits(**changes)  # type: ignore[arg-type]


async def test_a_fetch_result_feeds_the_policy(httpx_mock: HTTPXMock, fetcher: Fetcher) -> None:
    httpx_mock.add_response(url=URL, status_code=503, headers={"Retry-After": "3600"})
    result = await fetcher.fetch(URL)
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    decision = decide_next_poll(
        status=result.status, headers=result.headers, ttl=None,
        interval=timedelta(minutes=15), failures=0, now=now, jitter=0.0,
    )  # fmt: skip
    assert decision.next_poll_at == now + timedelta(hours=1)


# --- the production clients against a real server on 127.0.0.1 ----------------------------

Route = Callable[[dict[str, str], asyncio.StreamWriter], Awaitable[None]]


async def respond(
    writer: asyncio.StreamWriter, status: str, headers: dict[str, str], body: bytes = b""
) -> None:
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(head.encode("latin-1") + b"Connection: close\r\n\r\n" + body)
    await writer.drain()


class LoopbackServer:
    """A minimal HTTP/1.1 server on 127.0.0.1: one request per connection, routes by path."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.handlers: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for task in list(self.handlers):
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)  # type: ignore[arg-type]
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            request_line, *lines = head.split("\r\n")
            path = request_line.split(" ")[1]
            headers = {}
            for line in lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            await self.routes.get(path, not_found)(headers, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up: exactly what the limits are for
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self.handlers.discard(task)  # type: ignore[arg-type]


async def not_found(headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
    await respond(writer, "404 Not Found", {"Content-Length": "0"})


async def feed(headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
    if headers.get("if-none-match") == '"v1"':
        await respond(writer, "304 Not Modified", {"ETag": '"v1"'})
        return
    await respond(
        writer,
        "200 OK",
        {"ETag": '"v1"', "Content-Type": "application/rss+xml", "Content-Length": str(len(FEED))},
        FEED,
    )


async def gzipped_feed(headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
    body = zlib.compress(FEED, wbits=zlib.MAX_WBITS | 16)
    await respond(
        writer, "200 OK", {"Content-Encoding": "gzip", "Content-Length": str(len(body))}, body
    )


async def moved(headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
    await respond(writer, "301 Moved Permanently", {"Location": "/feed", "Content-Length": "0"})


async def temporary(headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
    await respond(writer, "302 Found", {"Location": "/moved", "Content-Length": "0"})


async def loop_a(headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
    await respond(writer, "302 Found", {"Location": "/loop-b", "Content-Length": "0"})


async def loop_b(headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
    await respond(writer, "302 Found", {"Location": "/loop-a", "Content-Length": "0"})


async def bomb(headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
    body = gzip_bomb(1024)  # 1 GB of zeros
    head = {"Content-Encoding": "gzip", "Content-Length": str(len(body))}
    await respond(writer, "200 OK", head)
    for start in range(0, len(body), 65536):
        writer.write(body[start : start + 65536])
        await writer.drain()


async def endless(headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
    await respond(writer, "200 OK", {"Content-Type": "application/rss+xml"})
    chunk = b"<item/>" * 9000
    while True:  # no Content-Length, no end: the body runs until someone hangs up
        writer.write(chunk)
        await writer.drain()


async def drip(headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
    await respond(writer, "200 OK", {"Transfer-Encoding": "chunked"})
    while True:
        writer.write(b"1\r\n<\r\n")
        await writer.drain()
        await asyncio.sleep(0.02)


async def hang(headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)


async def garbage(headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
    writer.write(b"this is not HTTP\r\n\r\n")
    await writer.drain()


async def consent(headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
    """The consent redirect of some news sites: a cookie, and on to the feed."""
    await respond(
        writer,
        "302 Found",
        {"Location": "/walled", "Set-Cookie": "consent=yes; Path=/", "Content-Length": "0"},
    )


async def cookie_wall(headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
    """The feed, only for a client that sends the consent cookie back."""
    if "consent=yes" in headers.get("cookie", ""):
        await feed(headers, writer)
        return
    await respond(writer, "403 Forbidden", {"Content-Length": "0"})


ROUTES: dict[str, Route] = {
    "/feed": feed,
    "/consent": consent,
    "/walled": cookie_wall,
    "/gzipped": gzipped_feed,
    "/moved": moved,
    "/temporary": temporary,
    "/loop-a": loop_a,
    "/loop-b": loop_b,
    "/bomb": bomb,
    "/endless": endless,
    "/drip": drip,
    "/hang": hang,
    "/garbage": garbage,
}
REAL_LIMITS = FetchLimits(timeout=0.5, max_bytes=1 << 20, max_redirects=3)


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    server = LoopbackServer(ROUTES)
    url = await server.start()
    yield url
    await server.stop()


@pytest.fixture(params=list(Transport), ids=lambda transport: transport.value)
def transport(request: pytest.FixtureRequest) -> Transport:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def real_fetcher(transport: Transport) -> AsyncIterator[Fetcher]:
    async with build_client(REAL_LIMITS, transport=transport, trust_env=False) as client:
        yield Fetcher(client, REAL_LIMITS)


def test_build_client_defaults_to_aiohttp() -> None:
    from httpx_aiohttp import HttpxAiohttpClient

    client = build_client(REAL_LIMITS)
    assert isinstance(client, HttpxAiohttpClient)


async def test_real_200_then_304(real_fetcher: Fetcher, base_url: str) -> None:
    first = await real_fetcher.fetch(f"{base_url}/feed")
    second = await real_fetcher.fetch(f"{base_url}/feed", etag=first.etag)
    assert (first.status, first.body) == (200, FEED)
    assert (second.status, second.body) == (304, None)


async def test_real_cookies_set_on_a_redirect_are_sent_on_later_requests(
    real_fetcher: Fetcher, base_url: str
) -> None:
    first = await real_fetcher.fetch(f"{base_url}/consent")
    # A 304 sets no cookie: the jar keeps what it had, and the next fetch still gets in.
    unchanged = await real_fetcher.fetch(f"{base_url}/feed", etag='"v1"')
    again = await real_fetcher.fetch(f"{base_url}/walled")
    assert (first.status, first.body, first.url) == (200, FEED, f"{base_url}/walled")
    assert unchanged.status == 304
    assert (again.status, again.body) == (200, FEED)


async def test_real_gzip_is_decompressed(real_fetcher: Fetcher, base_url: str) -> None:
    result = await real_fetcher.fetch(f"{base_url}/gzipped")
    assert result.body == FEED


async def test_real_redirects_are_ours(real_fetcher: Fetcher, base_url: str) -> None:
    moved_result = await real_fetcher.fetch(f"{base_url}/moved")
    temporary_result = await real_fetcher.fetch(f"{base_url}/temporary")
    assert moved_result.permanent_url == f"{base_url}/feed"
    assert temporary_result.permanent_url is None
    assert temporary_result.url == f"{base_url}/feed"
    with pytest.raises(TooManyRedirects, match="redirect loop"):
        await real_fetcher.fetch(f"{base_url}/loop-a")


# Peak traced memory while a 1 GB gzip bomb is refused (1 GB if the size limit failed). What
# remains is one decompressed transport read, held twice while zlib joins its output: about
# 45 MB under aiohttp and 140 MB under httpcore, whose reads are four times larger.
BOMB_MEMORY_BOUND = {Transport.AIOHTTP: 64 << 20, Transport.HTTPX: 192 << 20}


async def test_real_gzip_bomb_fails_fast_with_bounded_memory(
    base_url: str, transport: Transport
) -> None:
    # A roomy time limit, so only the size limit can end this fetch on a busy machine.
    limits = FetchLimits(timeout=30, max_bytes=1 << 20)
    gzip_bomb(1024)  # built before measuring
    async with build_client(limits, transport=transport, trust_env=False) as client:
        tracemalloc.start()
        started = time.monotonic()
        try:
            with pytest.raises(TooLarge, match="larger than 1MiB after decompression"):
                await Fetcher(client, limits).fetch(f"{base_url}/bomb")
            elapsed = time.monotonic() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert elapsed < 3  # inflating the whole gigabyte alone takes longer than that here
    assert peak < BOMB_MEMORY_BOUND[transport]


async def test_a_known_failure_beats_a_deadline_that_strikes_during_cleanup(
    httpx_mock: HTTPXMock, client: httpx.AsyncClient
) -> None:
    class SlowToClose(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield bytes(2 << 20)

        async def aclose(self) -> None:
            await asyncio.sleep(60)

    httpx_mock.add_response(url=URL, stream=SlowToClose())
    fetcher = Fetcher(client, FetchLimits(timeout=0.1, max_bytes=1 << 20))
    with pytest.raises(TooLarge):
        await fetcher.fetch(URL)


async def test_real_endless_body_is_cut_at_max_bytes(real_fetcher: Fetcher, base_url: str) -> None:
    with pytest.raises(TooLarge, match="after decompression"):
        await real_fetcher.fetch(f"{base_url}/endless")


@pytest.mark.parametrize("path", ["/drip", "/hang"])
async def test_real_slow_servers_are_cut_at_the_time_limit(
    real_fetcher: Fetcher, base_url: str, path: str
) -> None:
    started = time.monotonic()
    with pytest.raises(FetchTimeout, match=r"^timed out after 0\.5s fetching http://127"):
        await real_fetcher.fetch(f"{base_url}{path}")
    assert REAL_LIMITS.timeout <= time.monotonic() - started < REAL_LIMITS.timeout + 1.5


async def test_real_malformed_response(real_fetcher: Fetcher, base_url: str) -> None:
    with pytest.raises(FetchError, match="sent a malformed HTTP response"):
        await real_fetcher.fetch(f"{base_url}/garbage")


async def test_real_connection_refused(real_fetcher: Fetcher) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectError, match=f"127.0.0.1 refused the connection on port {port}"):
        await real_fetcher.fetch(f"http://127.0.0.1:{port}/feed")
