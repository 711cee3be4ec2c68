"""Parse workers score a feed's entries while the database writer is behind
(adapters/worker_scoring.py): `monitor poll --once` stores the same matches, with the same
scores, as a poll in which the writer scores every article."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from entries import real_news_feeds
from harness import monitor_json, run_monitor, serve_feed, write_config
from loopback import FeedServer

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SCORED = re.compile(r"(\d+) of (\d+) new articles were scored in a parse worker")


def _poll(run: Path, feeds: list[tuple[str, str]], parse_processes: int) -> tuple[dict, int]:  # type: ignore[type-arg]
    run.mkdir()
    shutil.copytree(REPO / "watchlists", run / "watchlists")  # the shipped ones, examples too
    config = write_config(
        run / "config.toml",
        f'[database]\nurl = "sqlite:///{run}/monitor.db"\n',
        # Every feed is on one loopback host: let them all be fetched at once, as feeds on
        # many hosts would be.
        f'[polling]\ntimeout = "5s"\nper_host = 100\nparse_processes = {parse_processes}\n',
        f'[watchlists]\ndir = "{run}/watchlists"\n',
        f'[channels.local]\ntype = "file"\npath = "{run}/digests"\n',  # as config.toml
        feeds=feeds,
    )
    result = run_monitor(config, "--log-level", "DEBUG", "poll", "--once", "--format", "json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "watchlist skipped" not in result.stderr
    assert json.loads(result.stdout)["failed"] == 0
    in_workers = sum(int(m.group(1)) for m in SCORED.finditer(result.stderr))
    matches = {}
    for watchlist in sorted(p.stem for p in (run / "watchlists").glob("*.toml")):
        listed = monitor_json(
            config, "articles", "list", "--watchlist", watchlist, "--format", "json"
        )
        for article in listed:
            key = (watchlist, article["feed"], article["guid"] or article["url"])
            matches[key] = (article["score"], article["matched"])
    return matches, in_workers


def test_the_parse_workers_score_as_the_writer_would(
    corpus: Path, tmp_path: Path, feed_server: FeedServer
) -> None:
    # Each outlet feed four times over: more feeds than the writer keeps up with, so parse
    # jobs are made while feeds wait for it.
    feeds = [
        serve_feed(feed_server, f"outlet-{index:02d}-{copy}", path.read_bytes())
        for index, path in enumerate(real_news_feeds(corpus))
        for copy in range(4)
    ]
    by_workers, scored_in_workers = _poll(tmp_path / "workers", feeds, parse_processes=2)
    by_writer, scored_elsewhere = _poll(tmp_path / "writer", feeds, parse_processes=0)
    assert scored_elsewhere == 0
    assert scored_in_workers > 0
    assert len(by_writer) >= 20
    assert by_workers == by_writer
