"""Fetching feed documents over HTTP with httpx: limits, conditional GET, redirects, errors.

It fetches and nothing else: it decides nothing about schedules (core/polling.py does), parses
nothing and touches no database. Every HTTP answer, 4xx and 5xx included, comes back as a
`FetchResult` for the policy to judge; only transport failures raise, and every httpx (and
aiohttp) exception is mapped onto monitor.errors here, with a message a user can act on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

import httpx

from monitor.adapters.http.errors import TRANSPORT_EXCEPTIONS, cause_chain, transport_error
from monitor.adapters.http.guard import REQUIRE_PUBLIC, AddressGuard, AddressRefused
from monitor.adapters.http.limits import Budget, FetchLimits, Slots, seconds_text, size_text
from monitor.errors import BlockedAddress, FetchError, FetchTimeout, TooLarge, TooManyRedirects

T = TypeVar("T")

DEFAULT_USER_AGENT = "monitor/0.1 (+https://github.com/monitor-news/monitor)"
# Feed types first; */* last because many servers label feeds text/html or octet-stream.
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/feed+json;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
PERMANENT_REDIRECTS = frozenset({301, 308})
REDIRECTS = frozenset({301, 302, 303, 307, 308})


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
        guard: AddressGuard | None = None,
    ) -> None:
        """`guard`: the SSRF guard (adapters/http/guard.py); None lets every hop through, as
        `[polling] allow_private_networks = true` asks."""
        if not _is_header_safe(user_agent):
            raise ValueError(f"user_agent must be printable ASCII on one line, got {user_agent!r}")
        self._client = client
        self._limits = limits or FetchLimits()
        self._user_agent = user_agent
        self._slots = Slots(self._limits.concurrency, self._limits.per_host)
        self._guard = guard

    @property
    def limits(self) -> FetchLimits:
        return self._limits

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        trusted: bool = True,
    ) -> FetchResult:
        """GET `url`, conditionally when a stored ETag or Last-Modified is given.

        `trusted`: the operator wrote this URL (config.toml), so it may point anywhere; an
        OPML-imported URL is not, and must resolve to a public address while the guard is on.
        Returns the final answer for any HTTP status. Raises a FetchError subclass when no
        answer came within the limits: FetchTimeout, TooLarge, TooManyRedirects,
        ConnectError, BlockedAddress.
        """
        headers = self._request_headers(etag, last_modified)
        budget = Budget(self._limits.timeout)
        chain = [_parse_url(url)]
        # Per hop: is its address public? None until the guard needed to know.
        public: list[bool | None] = [None]
        require_public: str | None = None  # what the connector enforces for this hop
        if self._guard is not None and not trusted:
            await self._guarded(self._guard.check(chain[0], redirected_from=None), chain[0], budget)
            public[0], require_public = True, ""
        permanent_url: str | None = None
        permanent_so_far = True
        while True:
            answer = await self._exchange(chain[-1], headers, budget, require_public)
            target = self._redirect_target(answer, chain)
            if target is None:
                if not (answer.status == 304 or 200 <= answer.status < 300):
                    permanent_url = None
                return answer.result(permanent_url, budget.elapsed())
            require_public = await self._check_redirect(chain[-1], target, public, budget)
            permanent_so_far = permanent_so_far and answer.status in PERMANENT_REDIRECTS
            if permanent_so_far:
                permanent_url = str(target)
            chain.append(target)

    async def _check_redirect(
        self, source: httpx.URL, target: httpx.URL, public: list[bool | None], budget: Budget
    ) -> str | None:
        """Refuse a redirect from a public address to a non-public one; returns what the
        connector must enforce for the target (its source URL), or None."""
        if self._guard is None:
            public.append(None)
            return None
        if public[-1] is None:
            # Resolved only now: most feeds never redirect, and those cost no extra lookup.
            public[-1] = await self._guarded(self._guard.is_public(source), source, budget)
        if not public[-1]:
            public.append(None)  # an intranet feed may redirect within the intranet
            return None
        await self._guarded(self._guard.check(target, redirected_from=source), target, budget)
        public.append(True)
        return str(source)

    async def _guarded(self, check: Awaitable[T], url: httpx.URL, budget: Budget) -> T:
        """Run a guard check within the fetch's time budget, its failures mapped to ours."""
        try:
            async with asyncio.timeout_at(budget.start()):
                return await check
        except AddressRefused as exc:
            raise BlockedAddress(str(exc)) from None
        except TRANSPORT_EXCEPTIONS as exc:
            raise transport_error(exc, url, self._limits) from exc

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

    async def _exchange(
        self, url: httpx.URL, headers: dict[str, str], budget: Budget, require_public: str | None
    ) -> _Answer:
        """One request and its body, within the per-host and global limits and the budget."""
        async with self._slots.hold(url.host):
            deadline = budget.start()
            scope = asyncio.timeout_at(deadline)
            token = REQUIRE_PUBLIC.set(require_public)
            try:
                async with scope:
                    return await self._request(url, headers)
            except TRANSPORT_EXCEPTIONS as exc:  # TimeoutError included: it is an OSError
                if scope.expired():
                    raise self._deadline_error(exc, url) from exc
                raise transport_error(exc, url, self._limits) from exc
            finally:
                REQUIRE_PUBLIC.reset(token)

    def _deadline_error(self, exc: BaseException, url: httpx.URL) -> FetchError:
        # A failure found just before the deadline (TooLarge, while the connection was being
        # closed) is the better reason; otherwise whatever a client raises while cancelled
        # at the deadline is caused by the deadline.
        for cause in cause_chain(exc):
            if isinstance(cause, FetchError):
                return cause
        return FetchTimeout(f"timed out after {seconds_text(self._limits.timeout)} fetching {url}")

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
                f"response larger than {size_text(self._limits.max_bytes)} "
                f"(Content-Length: {declared})"
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
                    f"response larger than {size_text(self._limits.max_bytes)} after decompression"
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
