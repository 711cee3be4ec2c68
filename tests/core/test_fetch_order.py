"""The start order of a cycle's feeds (monitor/core/fetch_order.py)."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from monitor.core.fetch_order import spread_by_host, url_host


def host(feed: str) -> str:
    return feed.split("/")[0]


def rounds_to_fetch(
    order: list[str], *, per_host: int = 2, concurrency: int = 200, window: int = 400
) -> int:
    """Rounds of equally slow requests a cycle takes when it starts `order` as the poller
    does: at most `window` feeds past the backlog, in order; each host at most `per_host`
    at once and `concurrency` in all; a feed waiting for its host blocks no other host."""
    waiting, rounds = list(order), 0
    while waiting:
        rounds += 1
        busy: Counter[str] = Counter()
        started: list[int] = []
        for index, feed in enumerate(waiting[:window]):
            if len(started) == concurrency:
                break
            if busy[host(feed)] < per_host:
                busy[host(feed)] += 1
                started.append(index)
        for index in reversed(started):
            del waiting[index]
    return rounds


feeds_on_hosts = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 10**6)), max_size=60).map(
    lambda pairs: [f"h{h}/{n}-{i}" for i, (h, n) in enumerate(pairs)]
)


@given(feeds_on_hosts)
def test_every_feed_is_started_once_and_each_host_keeps_its_order(feeds: list[str]) -> None:
    spread = spread_by_host(feeds, host)
    assert sorted(spread) == sorted(feeds)
    for name in {host(f) for f in feeds}:
        assert [f for f in spread if host(f) == name] == [f for f in feeds if host(f) == name]


@given(feeds_on_hosts)
def test_a_host_with_more_feeds_starts_sooner(feeds: list[str]) -> None:
    """The host with the most feeds bounds the cycle's length: it starts before any host
    with fewer."""
    spread = spread_by_host(feeds, host)
    counts = Counter(host(f) for f in feeds)
    first = {name: next(i for i, f in enumerate(spread) if host(f) == name) for name in counts}
    for a in counts:
        for b in counts:
            if counts[a] > counts[b]:
                assert first[a] < first[b]


def test_one_big_host_claimed_last_still_starts_first() -> None:
    """40 feeds of one outlet, most overdue last, among 300 single feeds: fetched in the
    order claimed the outlet starts after the rest and the cycle takes 20 rounds more than
    its 20 (two at a time); spread, it takes no more than the outlet itself needs."""
    singles = [f"s{i}/feed" for i in range(300)]
    outlet = [f"outlet/feed-{i}" for i in range(40)]
    claimed = singles + outlet
    assert rounds_to_fetch(claimed) >= 21
    assert rounds_to_fetch(spread_by_host(claimed, host)) == 20


def test_feeds_bunched_by_chance_finish_in_the_fewest_rounds() -> None:
    """The benchmark's case: 1,200 feeds on 128 hosts in a random order (jittered poll
    times). The fewest rounds possible: 1,200 / 200 at once = 6, and no host has more than
    10 feeds (5 rounds)."""
    feeds = [f"h{i % 128}/feed-{i}" for i in range(1200)]
    random.Random(7).shuffle(feeds)
    assert rounds_to_fetch(feeds) > 6
    assert rounds_to_fetch(spread_by_host(feeds, host)) == 6


def test_nothing_to_order() -> None:
    assert spread_by_host([], host) == []


def test_the_host_of_a_feed_url() -> None:
    assert url_host("https://Feeds.Example.com:8443/rss?x=1") == "feeds.example.com"
    # Unparsable: a host of its own, never an error that would stop the cycle's start.
    assert url_host("http://[::1/feed") == "http://[::1/feed"
    assert url_host("not a url") == "not a url"
