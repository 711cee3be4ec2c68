"""Ingest benchmark: monitor's poll cycle against a naive `feedparser.parse(url)` loop.

A loopback server in its own process (several 127.0.0.x hosts, so per-host limits behave
as in real life) with
a configurable latency serves N real outlet feeds from the corpus. Prints feeds per second
and CPU per feed for a first poll (everything new) and a second poll (everything 304),
and the ratios against the naive loop measured in the same run.

    python bench/ingest.py [--feeds 200] [--latency 0.2] [--naive 20]

Targets (issue 2): first poll >= 10x the naive loop, second poll >= 100x.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import sys
import tempfile
import time
import tomllib
from contextlib import ExitStack
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import feedparser  # noqa: E402
from entries import real_news_feeds  # noqa: E402
from loopback import FeedServer, Route  # noqa: E402

from monitor.app import open_database, poller  # noqa: E402
from monitor.config import parse_settings  # noqa: E402

CORPUS = Path(os.environ.get("MONITOR_CORPUS", REPO.parent / "shared" / "corpus"))


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


def _process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


NOT_OURS: set[int] = set()  # the loopback server process: its CPU is not monitor's


def cpu_seconds() -> float:
    """This process and every live descendant (the parse pool runs under a forkserver, so
    its workers are grandchildren that os.times() never counts), user + system."""
    t = os.times()
    ours = [pid for pid in _descendants(os.getpid()) if pid not in NOT_OURS]
    return t.user + t.system + sum(map(_process_cpu, ours))


def naive(urls: list[str]) -> tuple[float, float]:
    cpu, wall = cpu_seconds(), time.perf_counter()
    for url in urls:
        feedparser.parse(url)
    return len(urls) / (time.perf_counter() - wall), (cpu_seconds() - cpu) / len(urls)


async def ours(settings, engine, count: int) -> tuple[float, float, int, int]:  # type: ignore[no-untyped-def]
    cpu, wall = cpu_seconds(), time.perf_counter()
    async with poller(settings, engine) as p:
        summary = await p.poll_once(ignore_schedule=True)
        used = cpu_seconds() - cpu  # before the pool's workers exit and take their CPU along
    elapsed = time.perf_counter() - wall  # includes pool start-up and shutdown: honest
    assert summary.polled == count, summary.as_dict()
    assert summary.failed == 0, [f for f in summary.feeds if f.error][:3]
    return (
        count / elapsed,
        used / count,
        summary.new_articles,
        summary.not_modified,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1200)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per request")
    parser.add_argument("--hosts", type=int, default=128)
    parser.add_argument("--naive", type=int, default=10, help="feeds the naive loop fetches")
    parser.add_argument("--concurrency", type=int, help="override the shipped [polling] value")
    args = parser.parse_args()
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
    urls = queue.get(timeout=60)
    NOT_OURS.update([server.pid or 0, *_descendants(server.pid or 0)])
    NOT_OURS.update(p.pid for p in multiprocessing.active_children())  # resource tracker
    with tempfile.TemporaryDirectory() as tmp:
        feeds = "\n".join(f'[[feeds]]\nname = "f{i}"\nurl = "{u}"' for i, u in enumerate(urls))
        data = tomllib.loads(f'[database]\nurl = "sqlite:///{tmp}/bench.db"\n' + feeds)
        data["polling"] = polling
        settings = parse_settings(data, Path(tmp) / "config.toml")
        engine = open_database(settings)

        naive_rate, naive_cpu = naive(urls[: args.naive])
        first_rate, first_cpu, new, _ = asyncio.run(ours(settings, engine, args.feeds))
        second_rate, second_cpu, _, not_modified = asyncio.run(ours(settings, engine, args.feeds))
        engine.dispose()
    stop.set()
    server.join(10)

    peak = (
        max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        )
        / 1024
    )
    print(
        f"concurrency {polling['concurrency']}, per host {polling['per_host']}; "
        f"{args.feeds} feeds on {args.hosts} loopback hosts, {args.latency * 1000:.0f} ms latency, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    print(
        f"naive feedparser loop ({args.naive} feeds): {naive_rate:7.1f} feeds/s  "
        f"{naive_cpu * 1000:6.1f} ms CPU/feed"
    )
    print(
        f"first poll  ({new} new articles):       {first_rate:7.1f} feeds/s  "
        f"{first_cpu * 1000:6.1f} ms CPU/feed  "
        f"ratio {first_rate / naive_rate:6.1f}x (target >= 10x)"
    )
    print(
        f"second poll ({not_modified} not modified):        {second_rate:7.1f} feeds/s  "
        f"{second_cpu * 1000:6.1f} ms CPU/feed  "
        f"ratio {second_rate / naive_rate:6.1f}x (target >= 100x)"
    )
    print(f"peak memory (largest process): {peak:.0f} MB")


if __name__ == "__main__":
    main()
