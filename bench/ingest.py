"""Ingest benchmark: what `monitor poll --once --all` runs, against a naive feedparser loop.

A loopback server in its own process (several 127.0.0.x hosts, so per-host limits behave as
in real life) with a configurable latency serves N real outlet feeds from the corpus. The
poll is the command's own (`monitor.cli.poll`: the shipped config.toml's [polling] limits and
its watchlists, stories, scoring, matches, alerts), on a fresh SQLite database. Prints feeds
per second and CPU per feed for a first poll (everything new) and a second poll (everything
304), the ratios against the naive loop measured in the same run, the peak memory of the
whole process tree (this process, the forkserver and the parse workers; the loopback server
is not ours), and the SQLite size per 10,000 stored articles.

    python bench/ingest.py [--feeds 1200] [--latency 0.2] [--naive 10]
    python bench/ingest.py --growth          # first poll of 1,000 and of 5,000 feeds

Targets (issue 16): first poll >= 15x the naive loop at <= 20 ms CPU per feed, second poll
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
import threading
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

from monitor.app import open_database  # noqa: E402
from monitor.cli.poll import _poll  # noqa: E402  # the command's own poll, not a look-alike
from monitor.config import parse_settings  # noqa: E402

CORPUS = Path(os.environ.get("MONITOR_CORPUS", REPO.parent / "shared" / "corpus"))
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def real_news_bodies() -> list[bytes]:
    # The 1 MB file would dominate every figure; a typical outlet feed is 10-120 KB.
    return [p.read_bytes() for p in real_news_feeds(CORPUS, max_bytes=300_000)]


def serve(
    hosts: int, latency: float, count: int, bodies: list[bytes], urls: Queue, stop: Event
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
                    f"/feed-{i}.xml", Route(bodies[i % len(bodies)], etag=f'"{i}"')
                )
                for i in range(count)
            ]
        )
        stop.wait()


def _descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *_descendants(child)]
    return found


def _cpu_and_rss(pid: int) -> tuple[float, int] | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK, int(fields[21]) * PAGE


def _thread_cpu(tid: int) -> float | None:
    try:
        fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


NOT_OURS: set[int] = set()  # the loopback server and the resource tracker: not monitor's


def _role(pid: int) -> str:
    """main (this process: event loop, writer, scoring), forkserver, or worker (parse)."""
    if pid == os.getpid():
        return "main"
    # Workers are forked from the forkserver without exec, so they share its command line;
    # the forkserver is the one whose parent is this process.
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return "worker"
    if b"multiprocessing.forkserver" in command and parent == os.getpid():
        return "forkserver"
    return "worker"


def _pss(pid: int) -> int | None:
    """Proportional set size: each shared page divided among the processes that map it, so
    the tree's PSS adds up to what it really costs (its RSS counts the forkserver's pages
    once in it and again in every worker forked from it)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class TreeMeter:
    """Samples CPU and resident memory of this process and all its live descendants.

    Parse workers live under a forkserver, so they are grandchildren that neither os.times()
    nor RUSAGE_CHILDREN ever counts; and they exit when the pool closes. So every process is
    sampled every `every` seconds and keeps its last CPU reading after it is gone (a worker's
    last fraction of a sample period is lost: under 1% of a poll). Peak memory is the largest
    sum of RSS over the tree at one moment (shared pages counted in each process: an upper
    bound, and the figure issue 16 sets its target on); `peak_pss` the largest sum of PSS
    (sampled every `pss_every` samples: smaps_rollup walks page tables); `roles` the RSS of
    the main process, the forkserver and the workers at the RSS peak, and `most_workers` the
    most parse workers alive at once."""

    def __init__(self, every: float = 0.05, pss_every: int = 5) -> None:
        self.every = every
        self.pss_every = pss_every
        self.peak = 0
        self.peak_pss = 0
        self.roles: dict[str, int] = {}
        self.most_workers = 0
        self.main_peak = 0
        self._samples = 0
        self._start: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench-meter")
        # This process's CPU by thread (its name, "_N" suffixes dropped), first and last
        # reading: where the main process spends it, and the meter's own share of it.
        self._threads: dict[int, tuple[str, float, float]] = {}

    def _sample(self, initial: bool = False) -> None:
        total, pss, roles, workers = 0, 0, {"main": 0, "forkserver": 0, "workers": 0}, 0
        with_pss = self._samples % self.pss_every == 0
        self._samples += 1
        for pid in [os.getpid(), *_descendants(os.getpid())]:
            if pid in NOT_OURS or (reading := _cpu_and_rss(pid)) is None:
                continue
            cpu, rss = reading
            self._start.setdefault(pid, cpu if initial else 0.0)
            self._last[pid] = cpu
            total += rss
            role = _role(pid)
            roles["workers" if role == "worker" else role] += rss
            workers += role == "worker"
            if with_pss:
                pss += _pss(pid) or 0
        if total > self.peak:
            self.peak, self.roles = total, roles
        self.peak_pss = max(self.peak_pss, pss)
        self.most_workers = max(self.most_workers, workers)
        self.main_peak = max(self.main_peak, roles["main"])
        # Every thread's /proc stat on every sample cost the measured process 16 ms of CPU
        # per feed (its wall time too): threads live for the whole poll, so read them as
        # seldom as PSS.
        if with_pss or initial:
            self._sample_threads(initial)

    def _sample_threads(self, initial: bool) -> None:
        names = {t.native_id: t.name for t in threading.enumerate()}
        for tid, name in names.items():
            if tid is None or (cpu := _thread_cpu(tid)) is None:
                continue
            first = self._threads.get(tid, (name, cpu if initial else 0.0, 0.0))[1]
            self._threads[tid] = (re.sub(r"(_\d+|-\d+)$", "", name), first, cpu)

    def by_thread(self) -> dict[str, float]:
        """CPU seconds of this process per kind of thread (a thread's last moments between
        two samples are lost)."""
        out: dict[str, float] = {}
        for name, first, last in self._threads.values():
            out[name] = out.get(name, 0.0) + last - first
        return dict(sorted(out.items(), key=lambda item: -item[1]))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def __enter__(self) -> TreeMeter:
        self._sample(initial=True)  # processes alive now count from here, later ones whole
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self._sample_threads(False)  # the last readings, whichever sample that was

    @property
    def own_cpu(self) -> float:
        """The meter's own thread: not monitor's, so left out of the figures below."""
        return self.by_thread().get("bench-meter", 0.0)

    @property
    def cpu(self) -> float:
        return sum(self._last[pid] - self._start[pid] for pid in self._last) - self.own_cpu

    @property
    def main_cpu(self) -> float:
        """This process alone: the event loop, the database writer thread, scoring."""
        pid = os.getpid()
        return self._last.get(pid, 0.0) - self._start.get(pid, 0.0) - self.own_cpu


def naive(urls: list[str]) -> tuple[float, float, int]:
    with TreeMeter() as meter:
        wall = time.perf_counter()
        for url in urls:
            feedparser.parse(url)
        elapsed = time.perf_counter() - wall
    return len(urls) / elapsed, meter.cpu / len(urls), meter.peak


def ours(settings: Any, engine: Any, count: int) -> dict[str, Any]:
    with TreeMeter() as meter:
        wall = time.perf_counter()
        summary = asyncio.run(_poll(settings, engine, True, show_progress=False))
        elapsed = time.perf_counter() - wall  # pool start-up and shutdown included: honest
    assert summary.polled == count, summary.as_dict()
    assert summary.failed == 0, [f for f in summary.feeds if f.error][:3]
    return {
        "rate": count / elapsed,
        "cpu": meter.cpu / count,
        "main_cpu": meter.main_cpu / count,
        "threads": {name: cpu / count for name, cpu in meter.by_thread().items()},
        "peak": meter.peak,
        "peak_pss": meter.peak_pss,
        "roles": meter.roles,
        "most_workers": meter.most_workers,
        "main_peak": meter.main_peak,
        # What the main process still holds once the poll is over (its own heap: caches,
        # what the summary keeps, the allocator's free lists it did not give back).
        "main_after": _cpu_and_rss(os.getpid())[1],  # type: ignore[index]
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
        target=serve, args=(args.hosts, args.latency, args.feeds, bodies, queue, stop), daemon=True
    )
    server.start()
    urls = queue.get(timeout=120)
    NOT_OURS.update([server.pid or 0, *_descendants(server.pid or 0)])
    NOT_OURS.update(p.pid for p in multiprocessing.active_children() if p.pid)
    NOT_OURS.update(_descendants(os.getpid()))  # the resource tracker, spawned with the queue
    result: dict[str, Any] = {"polling": polling, "feeds": args.feeds}
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(tmp, urls, polling)
        engine = open_database(settings)
        if args.naive:
            result["naive"] = naive(urls[: args.naive])
        result["first"] = ours(settings, engine, args.feeds)
        if not args.first_only:
            result["second"] = ours(settings, engine, args.feeds)
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
    if second := r.get("second"):
        print(
            f"second poll ({second['not_modified']} not modified): "
            f"{second['rate']:7.1f} feeds/s  {second['cpu'] * 1000:6.1f} ms CPU/feed  "
            f"ratio {second['rate'] / naive_rate:6.1f}x (target >= 150x)  "
            f"peak {second['peak'] / mb:.0f} MB"
        )
    print(
        f"main process CPU/feed (loop, writer, scoring): first {first['main_cpu'] * 1000:.1f} ms,"
        f" second {(second or first)['main_cpu'] * 1000:.1f} ms"
    )
    print(
        "  first poll, by thread (ms/feed): "
        + ", ".join(f"{name} {cpu * 1000:.1f}" for name, cpu in first["threads"].items() if cpu)
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
    processes and the rest are cores of their own."""
    first, second = r["first"], r["second"]
    rate = feeds / every
    print(f"{feeds:,} feeds every {every / 60:.0f} min = {rate:.0f} feeds/s:")
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
    parser.add_argument("--keep-db", type=Path, help="copy the SQLite database here at the end")
    parser.add_argument("--first-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
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
