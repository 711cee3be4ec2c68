"""HTTP for feeds: the client and its transport, the conditional fetcher, its limits, and the
map from httpx's exceptions to ours."""

from monitor.adapters.http.client import Transport, build_client
from monitor.adapters.http.fetcher import DEFAULT_USER_AGENT, Fetcher, FetchResult
from monitor.adapters.http.limits import FetchLimits

__all__ = [
    "DEFAULT_USER_AGENT",
    "FetchLimits",
    "FetchResult",
    "Fetcher",
    "Transport",
    "build_client",
]
