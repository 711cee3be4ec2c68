"""The order in which a cycle's claimed feeds are started: each host's feeds spread evenly.

Pure: no network, no clock. A cycle starts its feeds in order, and each host takes at most
`per_host` requests at once. Feeds claimed most overdue first bunch by host at random (the
jitter in their next poll times): a host whose feeds fall late in the order is still
fetching, two at a time, after every other host is done. In the ingest benchmark's second
poll (1,200 304s on 128 hosts) that tail was the last quarter of the cycle, with fewer than
half of the requests in flight. Spreading every host's feeds evenly over the order keeps
each host busy from the start to the end of the cycle, and the host with the most feeds,
which bounds the cycle's length, starts first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")


def spread_by_host(items: Sequence[T], host: Callable[[T], str]) -> list[T]:
    """`items` reordered so the k-th of a host's n items sits at the fraction (k + 1/2) / n
    of the order; each host's items keep their order, and at equal fractions the host with
    more items comes first, then the host that came first in `items`."""
    by_host: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        by_host.setdefault(host(item), []).append(index)
    keyed: list[tuple[float, int, int, int]] = []
    for indexes in by_host.values():
        count = len(indexes)
        keyed.extend(
            ((k + 0.5) / count, -count, indexes[0], index) for k, index in enumerate(indexes)
        )
    keyed.sort()
    return [items[index] for *_, index in keyed]


def url_host(url: str) -> str:
    """The host a feed's requests go to, for ordering only: a URL that does not parse is a
    host of its own (its fetch fails, and says why, later)."""
    try:
        return urlsplit(url).hostname or url
    except ValueError:  # "http://[::1/feed": an unclosed IPv6 literal
        return url
