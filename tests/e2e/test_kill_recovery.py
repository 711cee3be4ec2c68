"""A SIGKILLed `monitor run` leaves no process behind (its parse workers die with it), and
the next `poll --once` on the same SQLite file polls at once instead of waiting out the dead
worker's leases (issue 13)."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

import pytest
from harness import monitor_command, run_monitor, running, wait_for, write_config
from loopback import FeedServer, Route

from monitor.flows.workers import dead_local_owners

OUTLET = "0c1cef22da7ddc10"


@pytest.mark.parametrize(
    ("owner", "dead"),
    [
        ("here:4242:ab12cd", True),  # this host, pid gone
        ("here:1:ab12cd", False),  # this host, pid alive
        ("elsewhere:4242:ab12cd", False),  # another host: its pid means nothing here
        ("here:x:ab12cd", False),  # not one of ours
        ("garbage", False),
    ],
)
def test_only_this_hosts_dead_owners_are_released(owner: str, dead: bool) -> None:
    found = dead_local_owners([owner], host="here", alive=lambda pid: pid == 1)
    assert found == ([owner] if dead else [])


def children() -> dict[int, int]:
    """pid -> parent pid of every live (not zombie) process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state != "Z":
            found[int(entry.name)] = int(ppid)
    return found


def descendants(root: int) -> set[int]:
    parents = children()
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    return pids & set(children())


def count(database: Path, query: str) -> int:
    if not database.exists():
        return 0
    with sqlite3.connect(database) as connection:
        try:
            return int(connection.execute(query).fetchone()[0])
        except sqlite3.OperationalError:  # not migrated yet
            return 0


@pytest.mark.slow
def test_a_killed_daemon_leaves_no_process_and_no_lease_behind(
    corpus: Path, tmp_path: Path
) -> None:
    body = (corpus / "feeds" / "fastfeedparser" / "benchmark_data" / OUTLET).read_bytes()
    with FeedServer() as server:
        fast = server.add("/fast.xml", Route(body, etag='"fast"'))
        slow = server.add("/slow.xml", Route(behaviour="hang"))
        config = write_config(
            tmp_path / "config.toml",
            '[database]\nurl = "sqlite:///data/monitor.db"\n'
            '[polling]\nparse_processes = 2\ntimeout = "120s"\nlease = "10m"\n'
            '[server]\nlisten = ""\n'
            '[watchlists]\ndir = "watchlists"\n'
            '[channels.local]\ntype = "file"\npath = "data/digests"\n',
            feeds=[("fast", fast), ("slow", slow)],
        )
        database = tmp_path / "data" / "monitor.db"
        with running(monitor_command(config, "run"), tmp_path / "run.log") as daemon:
            wait_for(
                lambda: count(database, "select count(*) from articles"), 60, "the fast feed", 0.2
            )
            wait_for(
                lambda: count(database, "select count(*) from feeds where lease_owner is not null"),
                30,
                "the slow feed's lease",
                0.2,
            )
            tree = wait_for(lambda: descendants(daemon.pid), 10, "the parse workers", 0.2)
            assert len(tree) >= 2, tree  # the forkserver and at least one parse worker
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(timeout=10)
            left = wait_for(lambda: not alive(tree) or None, 15, "the workers to exit", 0.2)
            assert left
        assert alive(tree) == set()
        # The slow feed answers now; its lease belongs to the killed daemon.
        server.routes["/slow.xml"] = Route(body, etag='"slow"')
        done = run_monitor(config, "poll", "--once", "--format", "json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert [feed["name"] for feed in summary["feeds"]] == ["slow"]
    assert "no longer running" in done.stderr
