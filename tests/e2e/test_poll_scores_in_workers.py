"""Parse workers score a feed's first body while the database writer is behind
(adapters/worker_scoring.py): `monitor poll --once` stores the same matches, with the same
scores, as a poll in which the writer scores every article; a feed stored before is scored
by the writer."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from entries import real_news_feeds
from harness import monitor_json, run_monitor, write_config
from loopback import FeedServer, Route

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SCORED = re.compile(r"(\d+) of (\d+) new articles were scored in a parse worker")


def _configure(run: Path, feeds: list[tuple[str, str]], parse_processes: int) -> Path:
    run.mkdir()
    shutil.copytree(REPO / "watchlists", run / "watchlists")  # the shipped ones, examples too
    return write_config(
        run / "config.toml",
        f'[database]\nurl = "sqlite:///{run}/monitor.db"\n',
        # Every feed is on one loopback host: let them all be fetched at once, as feeds on
        # many hosts would be.
        f'[polling]\ntimeout = "5s"\nper_host = 100\nparse_processes = {parse_processes}\n',
        f'[watchlists]\ndir = "{run}/watchlists"\n',
        f'[channels.local]\ntype = "file"\npath = "{run}/digests"\n',  # as config.toml
        feeds=feeds,
    )


def _poll(config: Path) -> tuple[dict[str, Any], int]:
    """The poll's summary (every feed, due or not), and how many new articles the parse
    workers scored."""
    command = ("--log-level", "DEBUG", "poll", "--once", "--all", "--format", "json")
    result = run_monitor(config, *command)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "watchlist skipped" not in result.stderr
    summary = json.loads(result.stdout)
    assert summary["failed"] == 0
    return summary, sum(int(m.group(1)) for m in SCORED.finditer(result.stderr))


def _matches(config: Path) -> dict[tuple[str, str, str], tuple[float, bool]]:
    found = {}
    for watchlist in sorted(p.stem for p in (config.parent / "watchlists").glob("*.toml")):
        listed = monitor_json(
            config, "articles", "list", "--watchlist", watchlist, "--format", "json"
        )
        for article in listed:
            key = (watchlist, article["feed"], article["guid"] or article["url"])
            found[key] = (article["score"], article["matched"])
    return found


def test_the_parse_workers_score_as_the_writer_would(
    corpus: Path, tmp_path: Path, feed_server: FeedServer
) -> None:
    # Each outlet feed four times over: more feeds than the writer keeps up with, so parse
    # jobs are handed over while feeds wait for it.
    bodies = [path.read_bytes() for path in real_news_feeds(corpus)]
    names = [f"outlet-{index:02d}-{copy}" for index in range(len(bodies)) for copy in range(4)]
    feeds = []
    for n, name in enumerate(names):
        route = Route(bodies[n // 4], etag=f'"{name}-1"')
        feeds.append((name, feed_server.add(f"/{name}.xml", route)))
    by_workers = _configure(tmp_path / "workers", feeds, parse_processes=2)
    by_writer = _configure(tmp_path / "writer", feeds, parse_processes=0)
    _, scored_in_workers = _poll(by_workers)
    _, scored_elsewhere = _poll(by_writer)
    assert scored_elsewhere == 0
    assert scored_in_workers > 0
    assert len(_matches(by_writer)) >= 20
    assert _matches(by_workers) == _matches(by_writer)

    # Every feed changes (another outlet's items): a feed stored before is the writer's to
    # score, since a changed feed's entries are mostly stored already.
    for n, name in enumerate(names):
        route = Route(bodies[(n // 4 + 1) % len(bodies)], etag=f'"{name}-2"')
        feed_server.add(f"/{name}.xml", route)
    summary, scored_again = _poll(by_workers)
    assert summary["new_articles"] > 0
    assert scored_again == 0
