"""The one map from httpx's (and aiohttp's) exceptions to monitor.errors, with messages a
user can act on. Every exception a request can raise is in TRANSPORT_EXCEPTIONS, and each is
described by the most specific entry of _DESCRIPTIONS that fits it."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable

import aiohttp
import httpx
from aiohttp.http_exceptions import HttpProcessingError

from monitor.adapters.http.guard import AddressRefused
from monitor.adapters.http.limits import FetchLimits, seconds_text
from monitor.errors import (
    BlockedAddress,
    ConnectError,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    TooManyRedirects,
)

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
    chain = cause_chain(exc)
    for cause in reversed(chain):
        error = _describe(cause, url, limits)
        if error is not None:
            return error
    return FetchError(f"fetching {url} failed: {_detail(exc)}")


def cause_chain(exc: BaseException) -> list[BaseException]:
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
    phases: dict[type[BaseException], str] = {
        httpx.ConnectTimeout: " while connecting",
        httpx.ReadTimeout: " waiting for data",
        httpx.WriteTimeout: " sending the request",
        httpx.PoolTimeout: " waiting for a free connection",
    }
    phase = phases.get(type(exc), "")
    return FetchTimeout(f"timed out after {seconds_text(limits.timeout)}{phase} fetching {url}")


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


def _refused_address(exc: BaseException, url: httpx.URL, limits: FetchLimits) -> FetchError:
    return BlockedAddress(str(exc))


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


_Build = Callable[[BaseException, httpx.URL, FetchLimits], FetchError]

# Most specific first: several of these types inherit from each other (a DNS error is an
# OSError; aiohttp's DNS error is also its connector error).
_DESCRIPTIONS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], _Build], ...] = (
    (AddressRefused, _refused_address),
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
