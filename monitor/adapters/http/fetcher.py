"""Fetching feed documents over HTTP with httpx: limits, conditional GET, redirects, errors.

It fetches and nothing else: it decides nothing about schedules (core/polling.py does), parses
nothing and touches no database. Every HTTP answer, 4xx and 5xx included, comes back as a
`FetchResult` for the policy to judge; only transport failures raise, and every httpx (and
aiohttp) exception is mapped onto monitor.errors here, with a message a user can act on.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
import httpx
from aiohttp.http_exceptions import HttpProcessingError
from httpx_aiohttp import AiohttpTransport, HttpxAiohttpClient

from monitor.errors import (
    ConnectError,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    TooLarge,
    TooManyRedirects,
)

DEFAULT_USER_AGENT = "monitor/0.1 (+https://github.com/monitor-news/monitor)"
# Feed types first; */* last because many servers label feeds text/html or octet-stream.
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/feed+json;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
PERMANENT_REDIRECTS = frozenset({301, 308})
REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """What one fetch may cost, and how many run at once."""

    timeout: float = 30.0  # seconds for the whole fetch: every redirect hop and the body
    max_bytes: int = 10 * 1024 * 1024  # of body, after decompression
    max_redirects: int = 5
    concurrency: int = 32  # requests in flight
    per_host: int = 2  # requests in flight to one host

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout}")
        if self.max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1 byte, got {self.max_bytes}")
        if self.max_redirects < 0:
            raise ValueError(f"max_redirects must be 0 or more, got {self.max_redirects}")
        if self.concurrency < 1 or self.per_host < 1:
            raise ValueError(
                f"concurrency and per_host must be at least 1, got {self.concurrency} "
                f"and {self.per_host}"
            )


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The final HTTP answer for one feed URL, after following redirects."""

    status: int
    url: str  # where the answer came from, after redirects
    # The feed's new address when the redirects that began the chain were permanent (301/308)
    # and the final answer a success (2xx/304): store it in place of the old URL. A 301 to a
    # dead page reports nothing, so a publisher's mistake does not lose the feed.
    permanent_url: str | None
    headers: dict[str, str]  # lower-case names; repeated fields joined with ", "
    body: bytes | None  # None for 304, 3xx and error statuses: only 2xx bodies are read
    elapsed: float  # seconds, from the first request going out to the last byte read

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")


class Transport(enum.Enum):
    """Which HTTP engine `build_client` puts under httpx."""

    AIOHTTP = "aiohttp"  # httpx-aiohttp: aiohttp's connection pool, httpx's API
    HTTPX = "httpx"  # httpx's own httpcore pool (slower at high concurrency, httpx#3215)


def build_client(
    limits: FetchLimits, *, transport: Transport = Transport.AIOHTTP, trust_env: bool = True
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
    session = _aiohttp_session_factory(limits, context)
    return HttpxAiohttpClient(
        timeout=timeout,
        limits=pool,
        trust_env=trust_env,
        transport=AiohttpTransport(verify=context, client=session),
    )


def _aiohttp_session_factory(
    limits: FetchLimits, context: ssl.SSLContext
) -> Callable[[], aiohttp.ClientSession]:
    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=limits.concurrency, ssl=context)
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


class Fetcher:
    """Fetches feed URLs through an injected httpx client, within `FetchLimits`.

    The client is the test seam: pytest-httpx works with a plain `httpx.AsyncClient`.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        limits: FetchLimits | None = None,
        *,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        if not _is_header_safe(user_agent):
            raise ValueError(f"user_agent must be printable ASCII on one line, got {user_agent!r}")
        self._client = client
        self._limits = limits or FetchLimits()
        self._user_agent = user_agent
        self._slots = _Slots(self._limits.concurrency, self._limits.per_host)

    @property
    def limits(self) -> FetchLimits:
        return self._limits

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """GET `url`, conditionally when a stored ETag or Last-Modified is given.

        Returns the final answer for any HTTP status. Raises a FetchError subclass when no
        answer came within the limits: FetchTimeout, TooLarge, TooManyRedirects, ConnectError.
        """
        headers = self._request_headers(etag, last_modified)
        budget = _Budget(self._limits.timeout)
        chain = [_parse_url(url)]
        permanent_url: str | None = None
        permanent_so_far = True
        while True:
            answer = await self._exchange(chain[-1], headers, budget)
            target = self._redirect_target(answer, chain)
            if target is None:
                if not (answer.status == 304 or 200 <= answer.status < 300):
                    permanent_url = None
                return answer.result(permanent_url, budget.elapsed())
            permanent_so_far = permanent_so_far and answer.status in PERMANENT_REDIRECTS
            if permanent_so_far:
                permanent_url = str(target)
            chain.append(target)

    def _request_headers(self, etag: str | None, last_modified: str | None) -> dict[str, str]:
        headers = {"User-Agent": self._user_agent, "Accept": FEED_ACCEPT}
        # Validators come from servers; one that cannot be sent back is not worth a failure.
        if etag and _is_header_safe(etag):
            headers["If-None-Match"] = etag
        if last_modified and _is_header_safe(last_modified):
            headers["If-Modified-Since"] = last_modified
        return headers

    def _redirect_target(self, answer: _Answer, chain: list[httpx.URL]) -> httpx.URL | None:
        location = answer.headers.get("location")
        if answer.status not in REDIRECTS or not location:
            return None
        try:
            target = chain[-1].join(location.strip())
        except httpx.InvalidURL as exc:
            raise FetchError(f"{chain[-1]} redirected to an invalid URL {location!r}") from exc
        _check_scheme(target, f"{chain[-1]} redirected to")
        route = " -> ".join(str(hop) for hop in [*chain, target])
        if target in chain:
            raise TooManyRedirects(f"redirect loop: {route}")
        if len(chain) > self._limits.max_redirects:
            raise TooManyRedirects(
                f"more than {self._limits.max_redirects} redirects: {route}; "
                "use the last URL as the feed's address"
            )
        return target

    async def _exchange(self, url: httpx.URL, headers: dict[str, str], budget: _Budget) -> _Answer:
        """One request and its body, within the per-host and global limits and the budget."""
        async with self._slots.hold(url.host):
            deadline = budget.start()
            scope = asyncio.timeout_at(deadline)
            try:
                async with scope:
                    return await self._request(url, headers)
            except TRANSPORT_EXCEPTIONS as exc:  # TimeoutError included: it is an OSError
                if scope.expired():
                    raise self._deadline_error(exc, url) from exc
                raise transport_error(exc, url, self._limits) from exc

    def _deadline_error(self, exc: BaseException, url: httpx.URL) -> FetchError:
        # A failure found just before the deadline (TooLarge, while the connection was being
        # closed) is the better reason; otherwise whatever a client raises while cancelled
        # at the deadline is caused by the deadline.
        for cause in _cause_chain(exc):
            if isinstance(cause, FetchError):
                return cause
        return FetchTimeout(f"timed out after {_seconds(self._limits.timeout)} fetching {url}")

    async def _request(self, url: httpx.URL, headers: dict[str, str]) -> _Answer:
        request = self._client.stream(
            "GET", url, headers=headers, follow_redirects=False, timeout=self._limits.timeout
        )
        async with request as response:
            status = response.status_code
            answer_headers = dict(response.headers.items())
            if not 200 <= status < 300:
                # Error pages and redirect bodies are not read: nothing would use them.
                return _Answer(status, str(url), answer_headers, None)
            self._check_declared_length(response)
            body = await self._read_body(response)
            return _Answer(status, str(url), answer_headers, body)

    def _check_declared_length(self, response: httpx.Response) -> None:
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        declared = response.headers.get("content-length", "").strip()
        # A compressed body's Content-Length says nothing about its decompressed size.
        if encoding == "identity" and declared.isdigit() and int(declared) > self._limits.max_bytes:
            raise TooLarge(
                f"response larger than {_size(self._limits.max_bytes)} (Content-Length: {declared})"
            )

    async def _read_body(self, response: httpx.Response) -> bytes:
        # aiter_bytes yields decompressed bytes, so a gzip bomb is cut after max_bytes of
        # output. Memory stays under max_bytes plus one decompressed transport read (about
        # 1000 times the read size for zeros: 16 MB under aiohttp, 64 MB under httpcore).
        body = bytearray()
        async for chunk in response.aiter_bytes():
            # Checked before appending, so an oversized chunk is never copied as well.
            if len(body) + len(chunk) > self._limits.max_bytes:
                raise TooLarge(
                    f"response larger than {_size(self._limits.max_bytes)} after decompression"
                )
            body += chunk
        return bytes(body)


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    url: str
    headers: dict[str, str]
    body: bytes | None

    def result(self, permanent_url: str | None, elapsed: float) -> FetchResult:
        return FetchResult(self.status, self.url, permanent_url, self.headers, self.body, elapsed)


@dataclass(slots=True)
class _Budget:
    """The time limit of one fetch; it starts when the first request may go out.

    Waiting for a free slot does not count: with a thousand due feeds, the last in the
    queue would otherwise time out before it sent a byte.
    """

    seconds: float
    started: float | None = None
    deadline: float = 0.0

    def start(self) -> float:
        if self.started is None:
            self.started = asyncio.get_running_loop().time()
            self.deadline = self.started + self.seconds
        return self.deadline

    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return asyncio.get_running_loop().time() - self.started


class _Slots:
    """The global and per-host concurrency limits.

    A request takes its host's slot first, then a global one, and gives both back before a
    redirect's next hop: one order and no slot held while waiting for another host, so two
    feeds redirecting to each other's hosts cannot deadlock. A feed queued behind its busy
    host does not hold a global slot that another host's feed could use.
    """

    def __init__(self, concurrency: int, per_host: int) -> None:
        self._global = asyncio.Semaphore(concurrency)
        self._per_host = per_host
        self._hosts: dict[str, _HostSlot] = {}

    @contextlib.asynccontextmanager
    async def hold(self, host: str) -> AsyncIterator[None]:
        slot = self._hosts.get(host)
        if slot is None:
            slot = self._hosts[host] = _HostSlot(asyncio.Semaphore(self._per_host))
        slot.users += 1
        try:
            async with slot.semaphore, self._global:
                yield
        finally:
            slot.users -= 1
            if slot.users == 0:
                # Forget idle hosts, so a long-running worker's table stays small.
                del self._hosts[host]


@dataclass(slots=True)
class _HostSlot:
    semaphore: asyncio.Semaphore
    users: int = 0


def _parse_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url.strip())
    except httpx.InvalidURL as exc:
        raise FetchError(f"invalid feed URL {url!r}: {exc}") from exc
    _check_scheme(parsed, "feed URL")
    return parsed


def _check_scheme(url: httpx.URL, what: str) -> None:
    if url.scheme not in ("http", "https") or not url.host:
        raise FetchError(f"{what} {url}: only http:// and https:// URLs with a host are fetched")


def _is_header_safe(value: str) -> bool:
    return value.isascii() and value.isprintable()


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _size(count: int) -> str:
    for unit, factor in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= factor:
            return f"{count / factor:.3g} {unit}"
    return f"{count} bytes"


# Everything a request can raise that means "no usable answer", as opposed to a bug of ours.
# TimeoutError and ssl errors are OSErrors; aiohttp's parser errors are not ClientErrors.
TRANSPORT_EXCEPTIONS: tuple[type[BaseException], ...] = (
    httpx.HTTPError,
    httpx.InvalidURL,
    httpx.CookieConflict,
    httpx.StreamError,
    aiohttp.ClientError,
    HttpProcessingError,
    OSError,
    EOFError,
    UnicodeError,
)


def transport_error(exc: BaseException, url: httpx.URL, limits: FetchLimits) -> FetchError:
    """The FetchError for a transport failure, named after its most specific cause.

    The cause chain is read from the root outwards: the root (a socket or TLS error) says the
    most, and the aiohttp transport sometimes wraps it in a misleading httpx type.
    """
    chain = _cause_chain(exc)
    for cause in reversed(chain):
        error = _describe(cause, url, limits)
        if error is not None:
            return error
    return FetchError(f"fetching {url} failed: {_detail(exc)}")


def _cause_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _describe(exc: BaseException, url: httpx.URL, limits: FetchLimits) -> FetchError | None:
    for types, build in _DESCRIPTIONS:
        if isinstance(exc, types):
            return build(exc, url, limits)
    return None


def _detail(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _timeout(exc: BaseException, url: httpx.URL, limits: FetchLimits) -> FetchError:
    phase = {
        httpx.ConnectTimeout: " while connecting",
        httpx.ReadTimeout: " waiting for data",
        httpx.WriteTimeout: " sending the request",
        httpx.PoolTimeout: " waiting for a free connection",
    }.get(type(exc), "")
    return FetchTimeout(f"timed out after {_seconds(limits.timeout)}{phase} fetching {url}")


def _dns(exc: BaseException, url: httpx.URL, limits: FetchLimits) -> FetchError:
    return ConnectError(
        f"could not resolve host {url.host}: check the host name in the feed URL ({_detail(exc)})"
    )


def _certificate(exc: BaseException, url: httpx.URL, limits: FetchLimits) -> FetchError:
    return ConnectError(f"the TLS certificate of {url.host} is not valid: {_detail(exc)}")


def _tls(exc: BaseException, url: httpx.URL, limits: FetchLimits) -> FetchError:
    return ConnectError(f"TLS handshake with {url.host} failed: {_detail(exc)}")


def _refused(exc: BaseException, url: httpx.URL, limits: FetchLimits) -> FetchError:
    return ConnectError(
        f"{url.host} refused the connection on port {url.port or _default_port(url)}: "
        "is the server down, or the port in the feed URL wrong?"
    )


def _connect(exc: BaseException, url: httpx.URL, limits: FetchLimits) -> FetchError:
    return ConnectError(f"could not connect to {url.host}: {_detail(exc)}")


def _dropped(exc: BaseException, url: httpx.URL, limits: FetchLimits) -> FetchError:
    return ConnectError(f"the connection to {url.host} broke off: {_detail(exc)}")


def _disconnected(exc: BaseException, url: httpx.URL, limits: FetchLimits) -> FetchError:
    return ConnectError(f"{url.host} closed the connection before answering")


def _protocol(exc: BaseException, url: httpx.URL, limits: FetchLimits) -> FetchError:
    return FetchError(f"{url.host} sent a malformed HTTP response: {_detail(exc)}")


def _decoding(exc: BaseException, url: httpx.URL, limits: FetchLimits) -> FetchError:
    return FetchError(
        f"could not decompress the response from {url.host} "
        f"(its Content-Encoding does not match the body): {_detail(exc)}"
    )


def _bad_url(exc: BaseException, url: httpx.URL, limits: FetchLimits) -> FetchError:
    return FetchError(f"invalid or unsupported URL {url}: {_detail(exc)}")


def _redirects(exc: BaseException, url: httpx.URL, limits: FetchLimits) -> FetchError:
    return TooManyRedirects(f"more than {limits.max_redirects} redirects from {url}")


def _status(exc: BaseException, url: httpx.URL, limits: FetchLimits) -> FetchError:
    status = exc.response.status_code if isinstance(exc, httpx.HTTPStatusError) else None
    return HTTPStatusError(f"{url} answered HTTP {status}", status=status)


def _internal(exc: BaseException, url: httpx.URL, limits: FetchLimits) -> FetchError:
    return FetchError(f"fetching {url} failed inside the HTTP client: {_detail(exc)}")


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


_Build = Callable[[BaseException, httpx.URL, FetchLimits], FetchError]

# Most specific first: several of these types inherit from each other (a DNS error is an
# OSError; aiohttp's DNS error is also its connector error).
_DESCRIPTIONS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], _Build], ...] = (
    ((httpx.TimeoutException, aiohttp.ServerTimeoutError, TimeoutError, socket.timeout), _timeout),
    ((socket.gaierror, aiohttp.ClientConnectorDNSError), _dns),
    ((ssl.SSLCertVerificationError, aiohttp.ClientConnectorCertificateError), _certificate),
    ((ssl.SSLError, aiohttp.ClientSSLError), _tls),
    (ConnectionRefusedError, _refused),
    ((httpx.ProxyError, httpx.ConnectError, aiohttp.ClientConnectorError), _connect),
    (aiohttp.ServerDisconnectedError, _disconnected),
    ((httpx.NetworkError, aiohttp.ClientConnectionError, OSError, EOFError), _dropped),
    (httpx.DecodingError, _decoding),
    ((httpx.ProtocolError, HttpProcessingError, aiohttp.ClientResponseError), _protocol),
    ((aiohttp.ClientPayloadError,), _protocol),
    ((httpx.UnsupportedProtocol, httpx.InvalidURL, aiohttp.InvalidURL, UnicodeError), _bad_url),
    ((aiohttp.NonHttpUrlClientError,), _bad_url),
    (httpx.TooManyRedirects, _redirects),
    (httpx.HTTPStatusError, _status),
    ((httpx.HTTPError, httpx.CookieConflict, httpx.StreamError, aiohttp.ClientError), _internal),
)
