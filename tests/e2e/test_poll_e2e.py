"""End to end: `monitor poll --once` as a user runs it, against a real HTTP server on loopback
serving real outlet feeds from the corpus next to broken and hostile endpoints."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from entries import real_news_feeds
from harness import (
    monitor_command,
    monitor_environment,
    monitor_json,
    run_monitor,
    serve_feed,
    stored_by_first_poll,
    write_config,
)
from loopback import FeedServer, Route
from memory import run_measuring_memory

pytestmark = pytest.mark.slow

BROKEN_BUT_READABLE = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Broken & Co</title>'
    b"<item><title>Unescaped & ampersand</title><link>http://x.example/1</link>"
    b"<guid>b-1</guid></item></channel></rss>"
)


@pytest.fixture
def served(corpus: Path, tmp_path: Path, feed_server: FeedServer):  # type: ignore[no-untyped-def]
    expected: dict[str, int] = {}
    feeds = []
    for index, path in enumerate(real_news_feeds(corpus)):
        name, url = serve_feed(feed_server, f"outlet-{index:02d}", path.read_bytes())
        expected[name] = stored_by_first_poll(path.read_bytes(), url)
        feeds.append((name, url))
    hostile = {
        "hangs": Route(behaviour="hang"),
        "gzip-bomb": Route(behaviour="gzip-bomb"),
        "endless": Route(behaviour="endless"),
        "html-page": Route(b"<html><body><h1>Welcome</h1></body></html>", content_type="text/html"),
        "empty": Route(b""),
        "gone": Route(b"", status=410),
        "throttled": Route(b"", status=429, headers={"Retry-After": "120"}),
        "broken-xml": Route(BROKEN_BUT_READABLE, etag='"b1"'),
    }
    for name, route in hostile.items():
        feeds.append((name, feed_server.add(f"/{name}", route)))
    feed_server.add("/moved", Route(b"", status=301, headers={"Location": feeds[0][1]}))
    feeds.append(("moved", feed_server.url("/moved")))
    config = write_config(
        tmp_path / "config.toml",
        f'[database]\nurl = "sqlite:///{tmp_path}/monitor.db"\n',
        '[polling]\ntimeout = "2s"\nmax_bytes = "5MB"\nparse_processes = 2\n',
        f'[watchlists]\ndir = "{tmp_path}/watchlists"\n',
        feeds=feeds,
    )
    yield feed_server, config, expected


def test_poll_once_stores_everything_once_and_isolates_every_fault(served) -> None:  # type: ignore[no-untyped-def]
    server, config, expected = served
    started = time.monotonic()
    command = monitor_command(config, "poll", "--once", "--format", "json")
    measured = run_measuring_memory(
        command, env=monitor_environment(), timeout=120, scratch=config.parent
    )
    first = measured.result
    took = time.monotonic() - started
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    # The hanging endpoint is cut at its own 2 s limit; nothing waits for it beyond that.
    assert took < 30, f"poll took {took:.1f}s"
    print(f"poll --once peak memory: {measured.largest_mb:.0f} MB in the largest process,")
    print(f"{measured.total_mb:.0f} MB over all its processes")
    assert measured.total_mb < 400, f"peak memory {measured.total_mb:.0f} MB over all processes"
    assert 0 < measured.largest_mb < 256, f"peak memory {measured.largest_mb:.0f} MB"

    listed = monitor_json(config, "feeds", "list", "--format", "json")
    feeds = {f["name"]: f for f in listed}
    for name, count in expected.items():
        assert feeds[name]["articles"] == count, name
        assert feeds[name]["state"] == "active" and feeds[name]["last_error"] is None
    # Every outlet's entries, the broken-but-readable item, and "moved" (a 301 to outlet-00,
    # which is its own feed and so stores its own copies).
    assert summary["new_articles"] == sum(expected.values()) + 1 + expected["outlet-00"]
    assert "timed out after 2s" in feeds["hangs"]["last_error"]
    assert "larger than" in feeds["gzip-bomb"]["last_error"]
    assert "larger than" in feeds["endless"]["last_error"]
    assert "HTML" in feeds["html-page"]["last_error"]
    assert "empty" in feeds["empty"]["last_error"]
    assert feeds["gone"]["state"] == "stopped" and "410" in feeds["gone"]["last_error"]
    assert feeds["throttled"]["state"] == "backoff" and "429" in feeds["throttled"]["last_error"]
    assert feeds["broken-xml"]["articles"] == 1
    assert feeds["moved"]["url"] == server.url("/outlet-00.xml")
    for name in ("hangs", "gzip-bomb", "endless", "html-page", "empty", "throttled"):
        assert feeds[name]["state"] == "backoff" and feeds[name]["consecutive_failures"] == 1

    articles = monitor_json(config, "articles", "list", "--format", "json")
    assert len(articles) == summary["new_articles"]
    assert len({(a["feed"], a["guid"], a["url"]) for a in articles}) == len(articles)

    again = monitor_json(config, "poll", "--once", "--all", "--format", "json")
    assert again["new_articles"] == 0
    outcomes = {f["name"]: f["outcome"] for f in again["feeds"]}
    for name in [*expected, "broken-xml", "moved"]:
        assert outcomes[name] == "not_modified", name
    assert "gone" not in outcomes  # a stopped feed is not polled, even with --all
    # Each outlet got exactly one conditional request (outlet-00 two: it is also "moved").
    for name in expected:
        assert server.conditional_hits[f"/{name}.xml"] == (2 if name == "outlet-00" else 1)


def test_poll_text_summary_is_readable(served) -> None:  # type: ignore[no-untyped-def]
    _server, config, expected = served
    result = run_monitor(config, "poll", "--once")
    assert result.returncode == 0, result.stderr
    assert f"feeds polled: {len(expected) + 9}" in result.stdout
    assert "failed: 7" in result.stdout
    assert "gone: 410 Gone" in result.stdout


WORLD_WATCHLIST = """
name = "Russia, Ukraine and Iran"
threshold = 2.0
alert_threshold = 6.0
schedule = "@daily"
channels = ["local"]
max_alerts_per_hour = 3

[[terms]]
match = "Russia"
aliases = ["Russian", "Kremlin", "Moscow"]
weight = 2.0

[[terms]]
match = "Ukraine"
aliases = ["Ukrainian", "Kyiv", "Zelensky"]
weight = 2.0

[[terms]]
match = "Iran"
aliases = ["Iranian", "Tehran"]
weight = 2.0
"""


def test_poll_scores_groups_stories_and_alerts_within_the_cycle(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _server, config, _expected = served
    (tmp_path / "watchlists" / "world.toml").write_text(WORLD_WATCHLIST)
    (tmp_path / "watchlists" / "broken.toml").write_text('name = "x"\nthreshold = "high"\n')
    with config.open("a") as f:
        f.write(f'\n[channels.local]\ntype = "file"\npath = "{tmp_path}/digests"\n')
    result = run_monitor(config, "poll", "--once", "--format", "json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    # The invalid watchlist is reported and skipped; the valid one works.
    assert "broken.toml: threshold" in result.stderr
    assert summary["matches"] > 10
    # Immediate alerts, capped at max_alerts_per_hour, written by the file channel.
    assert [a["status"] for a in summary["alerts"]] == ["delivered"] * len(summary["alerts"])
    assert 1 <= len(summary["alerts"]) <= 3, result.stderr[-3000:]
    assert len(list((tmp_path / "digests").glob("*.json"))) == len(summary["alerts"])

    articles = monitor_json(config, "articles", "list", "--format", "json")
    assert all(a["story_id"] is not None for a in articles)
    matched = monitor_json(config, "articles", "list", "--watchlist", "world", "--format", "json")
    assert len(matched) == summary["matches"]
    # "moved" carries outlet-00's items again: each is a copy in the same story.
    by_feed: dict[str, dict[str, int]] = {}
    for a in articles:
        by_feed.setdefault(a["feed"], {})[a["guid"] or a["url"]] = a["story_id"]
    assert by_feed["moved"] == by_feed["outlet-00"]
    stories = monitor_json(config, "stories", "list", "--since", "3650d", "--format", "json")
    shared = [s for s in stories if {"moved", "outlet-00"} <= set(s["feeds"])]
    assert len(shared) == len(by_feed["outlet-00"])
