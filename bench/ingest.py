"""Ingest benchmark: what `monitor poll --once --all` runs, against a naive feedparser loop.

A loopback server in its own process (several 127.0.0.x hosts, so per-host limits behave as
in real life) with a configurable latency serves N real outlet feeds from the corpus. The
poll is the command's own (`monitor.cli.poll`: the shipped config.toml's [polling] limits and
its watchlists, stories, scoring, matches, alerts), on a new SQLite database (created, as by
`monitor db upgrade`, in a process of its own before the measured one opens it). Prints feeds
per second and CPU per feed for a first poll (everything new) and a second poll (everything
304), the ratios against the naive loop measured in the same run, the peak memory of the
whole process tree (this process, the forkserver and the parse workers; the loopback server
is not ours), and the SQLite size per 10,000 stored articles.

    python bench/ingest.py [--feeds 1200] [--latency 0.2] [--naive 10] [--second-polls 3]
    python bench/ingest.py --growth          # first poll of 1,000 and of 5,000 feeds
    python bench/ingest.py --distinct        # no exact copies between feeds (see below)

The 1,200 feeds serve the 12 outlet bodies 100 times each, so most stored articles are exact
copies of another feed's (a wire report in many feeds, at its most extreme): story assignment
finds them by content hash. `--distinct` marks every title (and most links) as the feed's own,
so no article is an exact copy of another feed's: each is a near copy found through the band
index instead, the costlier path.

Targets (issue 16): first poll >= 15x the naive loop at <= 20 ms CPU per feed (set against a
naive loop of 18.6 ms per feed, so also printed as a ratio to this run's naive loop), second poll
>= 150x; peak memory <= 300 MB at 1,200 feeds, growing <= 20% from 1,000 to 5,000 feeds;
SQLite per 10,000 articles at most half of the 77 MB measured before.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from contextlib import ExitStack
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import feedparser  # noqa: E402
from entries import real_news_feeds  # noqa: E402
from loopback import FeedServer, Route  # noqa: E402
from tree_meter import TreeMeter, cpu_and_rss, descendants, name_os_threads  # noqa: E402

from monitor.app import open_database  # noqa: E402
from monitor.cli.poll import _poll  # noqa: E402  # the command's own poll, not a look-alike
from monitor.config import parse_settings  # noqa: E402

CORPUS = Path(os.environ.get("MONITOR_CORPUS", REPO.parent / "shared" / "corpus"))


def real_news_bodies() -> list[bytes]:
    # The 1 MB file would dominate every figure; a typical outlet feed is 10-120 KB.
    return [p.read_bytes() for p in real_news_feeds(CORPUS, max_bytes=300_000)]


def distinct(body: bytes, feed: int) -> bytes:
    """`body` as feed `feed`'s own: every title marked, and the links (of the feeds whose
    entries' URLs are in <link>, <guid>, <id>) under a path of its own, so no entry is an
    exact copy of another feed's (each is a near copy: the LSH path)."""
    link = rb"(<link>|<guid[^>]*>|<id>|<link [^>]*href=\")(https?://[^/\s\"'<>]+)/"
    body = re.sub(link, rb"\1\2/f%d/" % feed, body)
    return re.sub(rb"(<title[^>]*>)", rb"\1F%d " % feed, body)


def serve(
    hosts: int,
    latency: float,
    count: int,
    bodies: list[bytes],
    urls: Queue,
    stop: Event,
    unique: bool = False,
) -> None:
    """The loopback servers, in a process of their own: a real server does not share our GIL."""
    with ExitStack() as stack:
        servers = [
            stack.enter_context(FeedServer(latency=latency, host=f"127.0.0.{2 + i}"))
            for i in range(hosts)
        ]
        urls.put(
            [
                servers[i % hosts].add(
                    f"/feed-{i}.xml",
                    Route(
                        distinct(bodies[i % len(bodies)], i) if unique else bodies[i % len(bodies)],
                        etag=f'"{i}"',
                    ),
                )
                for i in range(count)
            ]
        )
        stop.wait()


NOT_OURS: set[int] = set()  # the loopback server and the resource tracker: not monitor's


def meter() -> TreeMeter:
    """The meter runs in a process of its own (bench/tree_meter.py), so the measured process
    pays nothing for it; `meter_cpu` says what it cost the machine."""
    return TreeMeter(os.getpid(), NOT_OURS)


def naive(urls: list[str]) -> tuple[float, float, int]:
    with meter() as tree:
        wall = time.perf_counter()
        for url in urls:
            feedparser.parse(url)
        elapsed = time.perf_counter() - wall
    return len(urls) / elapsed, tree.cpu / len(urls), tree.peak


def ours(settings: Any, engine: Any, count: int) -> dict[str, Any]:
    with meter() as tree:
        wall = time.perf_counter()
        summary = asyncio.run(_poll(settings, engine, True, show_progress=False))
        elapsed = time.perf_counter() - wall  # pool start-up and shutdown included: honest
    assert summary.polled == count, summary.as_dict()
    assert summary.failed == 0, [f for f in summary.feeds if f.error][:3]
    return {
        "rate": count / elapsed,
        "cpu": tree.cpu / count,
        "main_cpu": tree.main_cpu / count,
        "threads": {name: cpu / count for name, cpu in tree.threads.items()},
        "meter_cpu": tree.meter_cpu / count,
        "peak": tree.peak,
        "peak_pss": tree.peak_pss,
        "roles": tree.roles,
        "most_workers": tree.most_workers,
        "main_peak": tree.main_peak,
        # What the main process still holds once the poll is over (its own heap: caches,
        # what the summary keeps, the allocator's free lists it did not give back).
        "main_after": cpu_and_rss(os.getpid())[1],  # type: ignore[index]
        "new": summary.new_articles,
        "not_modified": summary.not_modified,
        "matches": summary.matches,
    }


def settings_for(tmp: str, urls: list[str], polling: dict[str, Any]) -> Any:
    """The shipped config.toml with the bench's feeds and database, paths made absolute."""
    data = tomllib.loads((REPO / "config.toml").read_text(encoding="utf-8"))
    data["database"] = {"url": f"sqlite:///{tmp}/bench.db"}
    data["polling"] = polling
    data["watchlists"] = {**data.get("watchlists", {}), "dir": str(REPO / "watchlists")}
    data["server"] = {"listen": ""}
    for channel in data.get("channels", {}).values():
        if channel.get("type") == "file":
            channel["path"] = f"{tmp}/digests"
    data["feeds"] = [{"name": f"f{i}", "url": u} for i, u in enumerate(urls)]
    return parse_settings(data, Path(tmp) / "config.toml")


def create_database(url: str) -> None:
    """The empty database, made by `monitor db upgrade`'s own code in a process of its own.

    A service polls a database that exists: opened at the newest revision, it is used
    without importing Alembic (11 MB with Mako). Migrating in this process would leave that
    in the main process's peak memory, which `monitor poll` on an existing database never
    pays. The first poll of a new database does pay it once."""
    code = (
        "import sys; from monitor.adapters.db.engine import make_engine, upgrade_database; "
        "engine = make_engine(sys.argv[1]); upgrade_database(engine); engine.dispose()"
    )
    subprocess.run([sys.executable, "-c", code, url], check=True, cwd=REPO)


def db_size(path: Path) -> tuple[int, dict[str, int]]:
    """Bytes of the SQLite file after a checkpoint, and the largest tables and indexes."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        try:
            rows = db.execute(
                "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 6"
            ).fetchall()
        except sqlite3.OperationalError:  # built without SQLITE_ENABLE_DBSTAT_VTAB
            rows = []
    return path.stat().st_size, dict(rows)


def run(args: argparse.Namespace) -> dict[str, Any]:
    # Measured at the limits monitor ships with: the [polling] table of config.toml.
    polling = tomllib.loads((REPO / "config.toml").read_text(encoding="utf-8"))["polling"]
    if args.concurrency:
        polling["concurrency"] = args.concurrency
    bodies = real_news_bodies()
    context = multiprocessing.get_context("spawn")
    queue, stop = context.Queue(), context.Event()
    server = context.Process(
        target=serve,
        args=(args.hosts, args.latency, args.feeds, bodies, queue, stop, args.distinct),
        daemon=True,
    )
    server.start()
    urls = queue.get(timeout=120)
    NOT_OURS.update([server.pid or 0, *descendants(server.pid or 0)])
    NOT_OURS.update(p.pid for p in multiprocessing.active_children() if p.pid)
    NOT_OURS.update(descendants(os.getpid()))  # the resource tracker, spawned with the queue
    result: dict[str, Any] = {"polling": polling, "feeds": args.feeds}
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(tmp, urls, polling)
        create_database(f"sqlite:///{tmp}/bench.db")
        engine = open_database(settings)  # at the newest revision: Alembic is not imported
        if args.naive:
            result["naive"] = naive(urls[: args.naive])
        result["first"] = ours(settings, engine, args.feeds)
        if not args.first_only:
            # Each a poll of all 304s on the same database; the median one is reported, the
            # others give the spread (a 2-second poll varies with whatever else the machine
            # does).
            seconds = sorted(
                (ours(settings, engine, args.feeds) for _ in range(args.second_polls)),
                key=lambda poll: poll["rate"],
            )
            result["second"] = seconds[len(seconds) // 2]
            result["second_rates"] = [poll["rate"] for poll in seconds]
        engine.dispose()
        result["db"] = db_size(Path(tmp) / "bench.db")
        if args.keep_db:  # for a look at where the bytes go (dbstat, length() per column)
            shutil.copyfile(Path(tmp) / "bench.db", args.keep_db)
    stop.set()
    server.join(10)
    return result


def report(args: argparse.Namespace, r: dict[str, Any]) -> None:
    polling, mb = r["polling"], 1024 * 1024
    print(
        f"concurrency {polling['concurrency']}, per host {polling['per_host']}; "
        f"{args.feeds} feeds on {args.hosts} loopback hosts, {args.latency * 1000:.0f} ms latency, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    naive_rate, naive_cpu, naive_peak = r["naive"]
    print(
        f"naive feedparser loop ({args.naive} feeds): {naive_rate:7.1f} feeds/s  "
        f"{naive_cpu * 1000:6.1f} ms CPU/feed  peak {naive_peak / mb:.0f} MB"
    )
    first = r["first"]
    print(
        f"first poll  ({first['new']} new articles, {first['matches']} matches): "
        f"{first['rate']:7.1f} feeds/s  {first['cpu'] * 1000:6.1f} ms CPU/feed  "
        f"ratio {first['rate'] / naive_rate:6.1f}x (target >= 15x, <= 20 ms)  "
        f"peak {first['peak'] / mb:.0f} MB"
    )
    # This machine's speed swings by half within minutes, and an absolute CPU figure swings
    # with it; the naive loop's own CPU in the same run is the baseline that moves along.
    # The issue set 20 ms against a naive loop of 18.6 ms: a ratio of at most 1.08.
    print(
        f"  first poll CPU/feed against the naive loop's in this run: "
        f"{first['cpu'] / naive_cpu:.2f}x (the issue's 20 ms against its naive 18.6 ms: <= 1.08x)"
    )
    if second := r.get("second"):
        print(
            f"second poll ({second['not_modified']} not modified): "
            f"{second['rate']:7.1f} feeds/s  {second['cpu'] * 1000:6.1f} ms CPU/feed  "
            f"ratio {second['rate'] / naive_rate:6.1f}x (target >= 150x)  "
            f"peak {second['peak'] / mb:.0f} MB"
        )
        if len(rates := r["second_rates"]) > 1:
            print(
                f"  the median of {len(rates)} second polls; all: "
                + ", ".join(f"{rate:.0f} ({rate / naive_rate:.0f}x)" for rate in rates)
            )
    print(
        f"main process CPU/feed (loop, writer, scoring): first {first['main_cpu'] * 1000:.1f} ms,"
        f" second {(second or first)['main_cpu'] * 1000:.1f} ms"
    )
    print(
        "  first poll, by thread (ms/feed): "
        + ", ".join(f"{name} {cpu * 1000:.1f}" for name, cpu in first["threads"].items() if cpu)
        + f"; the meter's own process (not counted) {first['meter_cpu'] * 1000:.1f}"
    )
    size, tables = r["db"]
    print(
        f"peak memory of the process tree: {max(first['peak'], (second or first)['peak']) / mb:.0f}"
        f" MB (target <= 300 MB at 1,200 feeds)"
    )
    if first["new"]:
        per = 10_000 / first["new"]
        print(
            f"SQLite: {size / mb:.1f} MB for {first['new']} articles, "
            f"{size * per / mb:.1f} MB per 10,000 articles (before: 77 MB); largest: "
            + ", ".join(f"{name} {b * per / mb:.1f}" for name, b in tables.items())
        )
    for name, poll in (("first poll", first), ("second poll", second)):
        if poll:
            print(f"{name} memory: {memory(poll)}")
    if second:
        capacity(r)


def memory(poll: dict[str, Any]) -> str:
    """Where the peak is: which processes, what PSS says, what the main process keeps."""
    mb, roles = 2**20, poll["roles"]
    return (
        f"peak RSS {poll['peak'] / mb:.0f} MB = main {roles['main'] / mb:.0f} + forkserver "
        f"{roles['forkserver'] / mb:.0f} + workers {roles['workers'] / mb:.0f}; peak PSS "
        f"{poll['peak_pss'] / mb:.0f} MB; at most {poll['most_workers']} parse workers alive at "
        f"once; main process peak {poll['main_peak'] / mb:.0f} MB, after the poll "
        f"{poll['main_after'] / mb:.0f} MB"
    )


def capacity(r: dict[str, Any], feeds: int = 100_000, every: float = 900.0) -> None:
    """`feeds` feeds polled every `every` seconds, from this run's own figures: a changed feed
    costs what a first-poll feed cost (its whole body parsed, all of its entries new: an upper
    bound), an unchanged one what a 304 cost. One worker's main process (event loop, writer
    thread, scoring) is one core at most, counted at 70% to leave room for peaks; its parse
    processes and the rest are cores of their own. CPU only: what several workers on
    PostgreSQL share (story assignment's advisory lock) is measured by bench/workers.py, and
    when most feeds change that lock, not the cores, is the limit (README Performance)."""
    first, second = r["first"], r["second"]
    rate = feeds / every
    print(
        f"{feeds:,} feeds every {every / 60:.0f} min = {rate:.0f} feeds/s, CPU only "
        "(the story lock several workers share: bench/workers.py):"
    )
    for changed in (0.1, 0.3, 1.0):
        total = rate * (changed * first["cpu"] + (1 - changed) * second["cpu"])
        main = rate * (changed * first["main_cpu"] + (1 - changed) * second["main_cpu"])
        workers = max(1, -(-main // 0.7))
        print(
            f"  {changed:4.0%} of feeds changed per poll: {total:5.1f} cores of CPU in all, "
            f"{main:5.1f} in main processes -> {workers:.0f} worker(s) "
            f"(`monitor run`, PostgreSQL), {total * 1.5:.0f} cores with 50% headroom"
        )


def growth(args: argparse.Namespace) -> None:
    """First polls of 1,000 and 5,000 feeds, each in a fresh process (peaks are per process)."""
    peaks = {}
    for feeds in (1000, 5000):
        out = subprocess.run(
            [
                *(sys.executable, __file__, "--feeds", str(feeds), "--first-only", "--json"),
                *("--latency", str(args.latency), "--hosts", str(args.hosts), "--naive", "0"),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        first = json.loads(out.splitlines()[-1])["first"]
        peaks[feeds] = first["peak"], first["peak_pss"]
        print(
            f"{feeds} feeds: first poll {first['rate']:.1f} feeds/s, "
            f"{first['cpu'] * 1000:.1f} ms CPU/feed, peak {first['peak'] / 2**20:.0f} MB"
        )
        print(f"  {memory(first)}")
    print(
        f"growth 1,000 -> 5,000 feeds: {peaks[5000][0] / peaks[1000][0] - 1:+.0%} "
        f"(target <= +20%); in PSS {peaks[5000][1] / peaks[1000][1] - 1:+.0%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1200)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per request")
    parser.add_argument("--hosts", type=int, default=128)
    parser.add_argument("--naive", type=int, default=10, help="feeds the naive loop fetches")
    parser.add_argument("--concurrency", type=int, help="override the shipped [polling] value")
    parser.add_argument("--growth", action="store_true", help="1,000 against 5,000 feeds")
    parser.add_argument(
        "--distinct",
        action="store_true",
        help="no feed serves another's exact items (every one a near copy instead)",
    )
    parser.add_argument(
        "--second-polls", type=int, default=3, help="polls of all 304s; the median is shown"
    )
    parser.add_argument("--keep-db", type=Path, help="copy the SQLite database here at the end")
    parser.add_argument("--first-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    name_os_threads()  # before any thread starts, so the meter can tell the writer apart
    if args.growth:
        growth(args)
        return
    result = run(args)
    if args.json:
        print(json.dumps(result))
    else:
        report(args, result)


if __name__ == "__main__":
    main()
