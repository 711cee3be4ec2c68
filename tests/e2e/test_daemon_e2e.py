"""End to end: `monitor run` as an operator runs it, a real subprocess against real outlet
feeds served on loopback. It answers /healthz and /metrics, polls, writes the digest of an
every-minute watchlist to a file channel, rides out an invalid watchlist edit (and says so
in /healthz), refuses a second daemon on its SQLite file, and exits 0 soon after SIGTERM."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from delivery_fixtures import free_port
from harness import (
    digest_files,
    monitor_command,
    run_monitor,
    running,
    serve_feed,
    wait_for,
    write_config,
)
from loopback import FeedServer
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.slow

# Outlets from the corpus that carry the watchlist's terms (Russia, Ukraine) on the same day.
OUTLETS = ("0c1cef22da7ddc10", "18138c717652f678", "4bf53cb602417030", "1796df62c4a287cc")

WATCHLIST = """name = "Ukraine desk"
threshold = 1.0
schedule = "* * * * *"
channels = ["local"]

[[terms]]
match = "Ukraine"
weight = 2.0

[[terms]]
match = "Russia"
"""


@pytest.fixture
def deployment(
    corpus: Path, tmp_path: Path, feed_server: FeedServer
) -> Iterator[tuple[FeedServer, Path, int]]:
    base = corpus / "feeds" / "fastfeedparser" / "benchmark_data"
    feeds = [
        serve_feed(feed_server, f"outlet-{index}", (base / name).read_bytes())
        for index, name in enumerate(OUTLETS)
    ]
    port = free_port()
    config = write_config(
        tmp_path / "config.toml",
        '[database]\nurl = "sqlite:///data/monitor.db"\n',
        "[polling]\nparse_processes = 1\n",
        f'[server]\nlisten = "127.0.0.1:{port}"\n',
        '[watchlists]\ndir = "watchlists"\n',
        '[channels.local]\ntype = "file"\npath = "data/digests"\n',
        feeds=feeds,
    )
    (tmp_path / "watchlists" / "desk.toml").write_text(WATCHLIST, encoding="utf-8")
    yield feed_server, config, port


def get(port: int, path: str) -> httpx.Response | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    except httpx.TransportError:
        return None


def metric_total(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def stored_matches(config: Path) -> str:
    """For the failure message: a digest needs matches, and matches need scoring."""
    engine = create_engine(f"sqlite:///{config.parent / 'data' / 'monitor.db'}")
    try:
        with engine.connect() as connection:
            return str(connection.execute(text("SELECT count(*) FROM matches")).scalar_one())
    finally:
        engine.dispose()


def test_monitor_run_end_to_end(deployment: tuple[FeedServer, Path, int], tmp_path: Path) -> None:
    server, config, port = deployment
    log_path = tmp_path / "run.log"
    started = time.monotonic()
    with running(monitor_command(config, "--log-format", "json", "run"), log_path) as daemon:
        # Health and metrics answer.
        health = wait_for(
            lambda: (r := get(port, "/healthz")) is not None and r.status_code == 200 and r,
            30,
            "/healthz to answer 200",
        )
        assert health.json()["database"]["reachable"] is True
        assert health.json()["scheduler"]["running"] is True
        metrics = get(port, "/metrics")
        assert metrics is not None and metrics.status_code == 200
        assert "monitor_database_up 1.0" in metrics.text

        # A second daemon on the same SQLite file refuses, clearly, and at once.
        second = run_monitor(config, "run", timeout=30)
        assert second.returncode == 1
        assert "another `monitor run`" in second.stderr
        assert f"pid {daemon.pid}" in second.stderr
        assert "PostgreSQL" in second.stderr

        # It polls every feed.
        polled = wait_for(
            lambda: (
                (r := get(port, "/metrics")) is not None
                and metric_total(r.text, "monitor_feeds_polled_total") >= len(OUTLETS)
                and r
            ),
            30,
            "every feed to be polled",
        )
        assert metric_total(polled.text, "monitor_articles_stored_total") > 0
        assert all(server.hits[f"/outlet-{i}.xml"] == 1 for i in range(len(OUTLETS)))
        assert (get(port, "/healthz") or health).json()["last_poll"]["age_seconds"] is not None

        # An invalid edit: the daemon keeps running and /healthz names the watchlist.
        (config.parent / "watchlists" / "desk.toml").write_text(
            WATCHLIST.replace('schedule = "* * * * *"', 'schedule = "whenever"'),
            encoding="utf-8",
        )
        degraded = wait_for(
            lambda: (
                (r := get(port, "/healthz")) is not None and r.json()["watchlists"]["invalid"] and r
            ),
            15,
            "/healthz to report the invalid watchlist",
        )
        assert degraded.status_code == 200
        assert degraded.json()["status"] == "degraded"
        [invalid] = degraded.json()["watchlists"]["invalid"]
        assert invalid["id"] == "desk"
        assert any("schedule" in error for error in invalid["errors"])
        assert degraded.json()["watchlists"]["loaded"] == 1  # the last good version
        assert daemon.poll() is None

        # The every-minute digest lands in the file channel (the last good version of the
        # watchlist is still in force), within 90 s of starting.
        digests = wait_for(
            lambda: digest_files(config.parent / "data" / "digests"),
            max(1.0, 90 - (time.monotonic() - started)),
            f"a digest file ({stored_matches(config)} matches stored)",
            every=0.5,
        )
        assert {digest["watchlist"]["id"] for digest in digests} == {"desk"}
        stories = [story for digest in digests for story in digest["stories"]]
        assert stories, "the digest holds the matching stories"
        assert all({"Ukraine", "Russia"} & set(story["matched_terms"]) for story in stories)
        digest_seconds = time.monotonic() - started

        # SIGTERM: exit 0 within 10 s.
        daemon.send_signal(signal.SIGTERM)
        stop_started = time.monotonic()
        assert daemon.wait(timeout=15) == 0
        stop_seconds = time.monotonic() - stop_started
        assert stop_seconds < 10

    lines = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines() if line]
    messages = [line["message"] for line in lines]
    assert any(line.get("feed") == "outlet-0" for line in lines), "feed lines name their feed"
    assert any(line.get("channel") == "local" for line in lines), "channel lines name it"
    assert any("watchlist desk is invalid" in m for m in messages)
    assert messages[-1] == "monitor run stopped"
    print(f"digest after {digest_seconds:.1f} s, stopped in {stop_seconds:.2f} s")
