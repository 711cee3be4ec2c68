"""The parse workers import the same `monitor` as the command, wherever it is started from,
and a poll in which no fetched feed parsed says so and fails instead of passing for quiet."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from entries import real_news_feeds
from harness import monitor_environment, run_monitor, serve_feed, write_config
from loopback import FeedServer, Route

ROOT = Path(__file__).resolve().parents[2]

# A console script of an editable install: run as a file from its bin/ folder (so the working
# directory is not on sys.path), it finds `monitor` through a finder behind the path search
# (setuptools appends its editable finder to sys.meta_path), not through a sys.path entry.
# Ours goes right after the path search, so it wins over the venv's own (another checkout).
_EDITABLE_LAUNCHER = f"""
import importlib.machinery, runpy, sys

class Editable:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != "monitor":
            return None
        return importlib.machinery.PathFinder.find_spec(name, [{str(ROOT)!r}])

sys.meta_path.insert(sys.meta_path.index(importlib.machinery.PathFinder) + 1, Editable)
sys.argv = ["monitor", *sys.argv[1:]]
runpy.run_module("monitor", run_name="__main__", alter_sys=True)
"""


@pytest.mark.slow
def test_parse_workers_ignore_a_monitor_folder_in_the_working_directory(
    tmp_path: Path, feed_server: FeedServer, corpus: Path
) -> None:
    above_a_checkout = tmp_path / "work"
    (above_a_checkout / "monitor").mkdir(parents=True)  # a checkout's folder: no __init__.py
    (above_a_checkout / "monitor" / "README.md").write_text("a checkout\n", encoding="utf-8")
    body = real_news_feeds(corpus)[0].read_bytes()
    config = write_config(
        tmp_path / "config.toml",
        f'[database]\nurl = "sqlite:///{tmp_path}/monitor.db"\n',
        "[polling]\nparse_processes = 2\n",
        f'[watchlists]\ndir = "{tmp_path}/watchlists"\n',
        feeds=[serve_feed(feed_server, "outlet", body)],
    )
    script = tmp_path / "bin" / "monitor"
    script.parent.mkdir()
    script.write_text(_EDITABLE_LAUNCHER, encoding="utf-8")
    env = monitor_environment()
    env.pop("PYTHONPATH", None)  # the package comes from the "editable install" only
    result = subprocess.run(
        [
            sys.executable,
            str(script),
            "--config",
            str(config),
            *("poll", "--once", "--format", "json"),
        ],
        cwd=above_a_checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["failed"] == 0, summary["feeds"]
    assert summary["new_articles"] > 0


def test_a_poll_in_which_no_feed_parsed_exits_1_saying_so(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    html = Route(b"<html><body><h1>Welcome</h1></body></html>", content_type="text/html")
    config = write_config(
        tmp_path / "config.toml",
        f'[database]\nurl = "sqlite:///{tmp_path}/monitor.db"\n',
        "[polling]\nparse_processes = 0\n",
        f'[watchlists]\ndir = "{tmp_path}/watchlists"\n',
        feeds=[
            ("page", feed_server.add("/page", html)),
            ("gone", feed_server.add("/gone", Route(status=410))),
        ],
    )
    result = run_monitor(config, "poll", "--once")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "every fetched feed failed to parse (1 of 1)" in result.stderr
    assert "page: not a feed" in result.stderr


def test_one_readable_feed_among_unreadable_ones_exits_0(
    tmp_path: Path, feed_server: FeedServer, corpus: Path
) -> None:
    html = Route(b"<html><body><h1>Welcome</h1></body></html>", content_type="text/html")
    body = real_news_feeds(corpus)[0].read_bytes()
    config = write_config(
        tmp_path / "config.toml",
        f'[database]\nurl = "sqlite:///{tmp_path}/monitor.db"\n',
        "[polling]\nparse_processes = 0\n",
        f'[watchlists]\ndir = "{tmp_path}/watchlists"\n',
        feeds=[("page", feed_server.add("/page", html)), serve_feed(feed_server, "outlet", body)],
    )
    result = run_monitor(config, "poll", "--once")
    assert result.returncode == 0, result.stderr
    assert "failed to parse" not in result.stderr
