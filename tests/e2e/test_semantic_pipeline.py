"""The semantic part in the product: `monitor poll --once` against a feed on loopback, with
the shipped watchlists and their examples, as a user runs it.

One report names none of the S-400 watchlist's terms and is matched on similarity, with the
semantic line in its stored explanation; the Mercedes S 400 (an `exclude`) and India's S-400s
without sanctions (a CAATSA term named, its `require` unmet) stay out.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from harness import monitor_json, run_monitor, serve_feed, write_config
from loopback import FeedServer

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow  # a real poll and three CLI runs: about 8 s

ITEMS = [
    (
        "interceptors",
        "Moscow finishes delivering long-range interceptors to Turkey",
        "The last cargo flights carrying launchers, radars and command vehicles of the "
        "Russian-made anti-aircraft system landed at an air base near Ankara, the Turkish "
        "defence ministry said, defying Washington's objections.",
    ),
    (
        "mercedes",
        "Mercedes-Benz S 400 d review: the long-range luxury saloon",
        "We drove the S400 d 4MATIC from Moscow to the Black Sea: a quiet, fast diesel with a "
        "range of more than a thousand kilometres and radar-guided cruise control.",
    ),
    (
        "india",
        "India's air force deploys another S-400 squadron on its western border",
        "The Russian-made long-range air defence system, bought from Moscow in a 2018 deal, "
        "now guards the Punjab sector, officials in New Delhi said.",
    ),
]


def rss(base: str) -> bytes:
    items = "".join(
        f"<item><title>{title}</title><link>{base}/{slug}</link><guid>{slug}</guid>"
        f"<description>{text}</description>"
        "<pubDate>Tue, 01 Dec 2026 08:00:00 GMT</pubDate></item>"
        for slug, title, text in ITEMS
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Desk</title><link>{base}</link>{items}</channel></rss>"
    ).encode()


@pytest.fixture
def config(tmp_path: Path, feed_server: FeedServer) -> Path:
    feed = serve_feed(feed_server, "desk", rss("https://news.example"))
    path = write_config(
        tmp_path / "config.toml",
        f'[database]\nurl = "sqlite:///{tmp_path}/monitor.db"\n',
        '[polling]\ntimeout = "5s"\nparse_processes = 1\n',
        f'[watchlists]\ndir = "{tmp_path}/watchlists"\n',
        f'[channels.local]\ntype = "file"\npath = "{tmp_path}/digests"\n',
        feeds=[feed],
    )
    shutil.copytree(REPO / "watchlists", tmp_path / "watchlists", dirs_exist_ok=True)
    return path


def matched(config: Path, watchlist: str) -> set[str]:
    rows = monitor_json(config, "articles", "list", "--watchlist", watchlist, "--format", "json")
    return {row["title"] for row in rows}


def stored_explanation(config: Path, url: str, watchlist: str) -> dict[str, Any]:
    report = monitor_json(config, "explain", url, "--format", "json")
    for verdict in report["watchlists"]:
        if verdict["watchlist"] == watchlist:
            explanation: dict[str, Any] = verdict["explanation"]
            return explanation
    raise AssertionError(f"no verdict for {watchlist}: {json.dumps(report)[:500]}")


def test_a_report_naming_no_term_is_matched_through_the_pipeline(config: Path) -> None:
    polled = run_monitor(config, "poll", "--once")
    assert polled.returncode == 0, polled.stderr
    interceptors, mercedes, india = (title for _, title, _ in ITEMS)

    s400 = matched(config, "s400")
    assert interceptors in s400
    assert mercedes not in s400  # exclude Mercedes* vetoes, whatever the similarity
    assert india in s400  # the S-400 watchlist covers every buyer
    assert india not in matched(config, "caatsa")  # names S-400, so CAATSA's require holds

    explanation = stored_explanation(config, "https://news.example/interceptors", "s400")
    assert explanation["terms"] == []
    semantic = explanation["semantic"]
    assert semantic["verdict"] == "similar"
    assert semantic["require_met"] is True
    assert semantic["contribution"] == explanation["score"] > 0
    assert all(
        label.startswith("examples/s400/") or label in ("name", "description")
        for label in semantic["examples"]
    )
