"""Soak benchmark: `monitor run`, the daemon itself, over many poll cycles of changing feeds.

What it answers (issue 16, "bound memory end to end"): does the service stay flat in memory
cycle after cycle, or does it grow with what it has stored? bench/ingest.py measures one poll
in the benchmark's own process; this runs the real daemon (`python -m monitor --config ...
run`, this tree's code, a SQLite database made by `monitor db upgrade`) as a user starts it,
on the shipped watchlists and [polling] limits, with a file channel. Two departures from the
shipped config.toml: `interval = "1m"` (not 15m, so a run takes minutes), and the /healthz
and /metrics server off (`listen = ""`, so runs never contend for its port).

A loopback server in its own process (several 127.0.0.x hosts, --latency per request) serves
--feeds real outlet feeds from the corpus with ETags; every --tick seconds each feed gets
--new-items new entries on top and a new ETag, so every cycle stores new articles, assigns
them to stories and scores them, while the feeds' other entries are known ones. The bodies'
<ttl> elements are removed so every feed is polled at the config's `interval` (a feed asking
for 60 minutes would otherwise sit out the run). Read from /proc half a second after each
cycle's log line: the resident memory of the daemon's whole tree (main process, forkserver,
parse workers) and its CPU. That is the memory a cycle leaves behind, not its peak during
the cycle (bench/ingest.py measures a poll's peak).

Prints one line per poll cycle (from the daemon's own "polled N feeds" log line): feeds,
new articles, CPU of the tree in the cycle, RSS of the tree and of the main process after it;
then the growth from the end of the second cycle (the first stores every feed's backlog) to
the end of the last, in MB and percent, per cycle and per 10,000 new articles, and the growth
over the second half of the run alone: the process's bounded caches (stems, parsed story
leads, compiled statements) fill over the first cycles, so a daemon whose memory is bounded
shows a second half near zero, and one that leaks grows there as in the first.

    MONITOR_CORPUS=../shared/corpus python bench/soak.py [--feeds 600] [--cycles 12]
        [--tick 60] [--new-items 1] [--latency 0.05] [--hosts 32]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from contextlib import ExitStack
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from entries import real_news_feeds  # noqa: E402
from loopback import FeedServer, Route  # noqa: E402
from tree_meter import cpu_and_rss, descendants  # noqa: E402

CORPUS = Path(os.environ.get("MONITOR_CORPUS", REPO.parent / "shared" / "corpus"))
POLLED = re.compile(r"polled (\d+) feeds: (\d+) new articles")
TTL = re.compile(rb"<ttl>\s*\d+\s*</ttl>|<sy:updatePeriod>[^<]*</sy:updatePeriod>")
MB = 1024 * 1024


def new_entries(body: bytes, feed: int, tick: int, count: int) -> bytes:
    """`body` with `count` entries of this tick on top (RSS items or Atom entries)."""
    stamp = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
    updated = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    added = []
    for n in range(count):
        key = f"{feed}-{tick}-{n}"
        title = f"Report {key}: talks in Ankara on the future of the air base"
        text = f"Officials met on day {tick} of the talks (feed {feed}, item {n})."
        if b"<item" in body:
            added.append(
                f"<item><title>{title}</title><link>http://soak.example/{key}</link>"
                f"<guid>soak-{key}</guid><pubDate>{stamp}</pubDate>"
                f"<description>{text}</description></item>"
            )
        else:
            added.append(
                f"<entry><title>{title}</title><id>soak-{key}</id>"
                f"<link href='http://soak.example/{key}'/><updated>{updated}</updated>"
                f"<summary>{text}</summary></entry>"
            )
    at = body.find(b"<item") if b"<item" in body else body.find(b"<entry")
    return body if at < 0 else body[:at] + "".join(added).encode() + body[at:]


def serve(args: argparse.Namespace, bodies: list[bytes], urls: Queue, stop: Event) -> None:
    """The loopback servers and the ticker, in a process of their own."""
    with ExitStack() as stack:
        servers = [
            stack.enter_context(FeedServer(latency=args.latency, host=f"127.0.0.{2 + i}"))
            for i in range(args.hosts)
        ]
        routes = [
            Route(TTL.sub(b"", bodies[i % len(bodies)]), etag=f'"{i}-0"') for i in range(args.feeds)
        ]
        urls.put([servers[i % args.hosts].add(f"/feed-{i}.xml", r) for i, r in enumerate(routes)])
        tick = 0
        while not stop.wait(args.tick):
            tick += 1
            for i, route in enumerate(routes):
                route.body = new_entries(route.body, i, tick, args.new_items)
                route.etag = f'"{i}-{tick}"'


def config_text(folder: Path, urls: list[str]) -> str:
    """The shipped config's polling limits and watchlists, these feeds, a file channel."""
    polling = tomllib.loads((REPO / "config.toml").read_text(encoding="utf-8"))["polling"]
    polling["interval"] = "1m"
    lines = ["[database]", f'url = "sqlite:///{folder}/soak.db"', "[polling]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in polling.items()]
    lines += ["[watchlists]", f'dir = "{REPO / "watchlists"}"']
    lines += ["[server]", 'listen = ""', "[channels.local]", 'type = "file"']
    lines += [f'path = "{folder}/digests"']
    for i, url in enumerate(urls):
        lines += ["[[feeds]]", f'name = "f{i}"', f'url = "{url}"']
    return "\n".join(lines) + "\n"


@dataclass
class Cycle:
    feeds: int
    new: int
    cpu: float  # seconds of the tree's CPU since the previous cycle ended
    main_cpu: float  # of that, the main process's (event loop, writer, scoring)
    rss: int  # bytes, the whole tree, just after the cycle
    main: int  # bytes, the main process


def tree(pid: int) -> tuple[float, float, int, int]:
    """CPU seconds of the daemon's tree and of its main process, and their RSS."""
    cpu, main_cpu, rss, main = 0.0, 0.0, 0, 0
    for member in [pid, *descendants(pid)]:
        reading = cpu_and_rss(member)
        if reading is not None:
            cpu += reading[0]
            rss += reading[1]
            if member == pid:
                main_cpu, main = reading
    return cpu, main_cpu, rss, main


def watch(daemon: subprocess.Popen[str], cycles: int, log: list[str]) -> list[Cycle]:
    """Cycles as the daemon's log announces them, each with the tree read right after."""
    found: list[Cycle] = []
    previous_cpu = previous_main = 0.0
    assert daemon.stderr is not None
    for line in daemon.stderr:
        log.append(line)
        matched = POLLED.search(line)
        if matched is None:
            continue
        time.sleep(0.5)  # the cycle's last commit and the parse pool settle
        cpu, main_cpu, rss, main = tree(daemon.pid)
        found.append(
            Cycle(
                int(matched[1]), int(matched[2]), cpu - previous_cpu, main_cpu - previous_main,
                rss, main,
            )
        )  # fmt: skip
        previous_cpu, previous_main = cpu, main_cpu
        c = found[-1]
        print(
            f"cycle {len(found):3d}: {c.feeds:5d} feeds, {c.new:6d} new articles, "
            f"CPU {c.cpu:6.1f} s (main {c.main_cpu:5.1f}), "
            f"tree {c.rss / MB:6.1f} MB (main {c.main / MB:6.1f})",
            flush=True,
        )
        if len(found) == cycles:
            break
    return found


def report(cycles: list[Cycle]) -> None:
    if len(cycles) < 3:
        print("fewer than 3 cycles: no growth to report")
        return
    base, last = cycles[1], cycles[-1]
    steady = cycles[2:]
    grown = (last.rss - base.rss) / MB
    articles = sum(c.new for c in steady)
    print(
        f"tree RSS after cycle 2 {base.rss / MB:.1f} MB, after cycle {len(cycles)} "
        f"{last.rss / MB:.1f} MB: {grown:+.1f} MB ({grown * MB / base.rss:+.1%}), "
        f"{grown / len(steady):+.2f} MB per cycle, "
        f"{grown / max(1, articles) * 10_000:+.1f} MB per 10,000 new articles "
        f"({articles} stored in cycles 3-{len(cycles)}); main process "
        f"{(last.main - base.main) / MB:+.1f} MB"
    )
    # Caches that are bounded fill over the first cycles; a leak goes on growing. So the
    # second half of the run on its own, too.
    middle = max(2, len(cycles) // 2)  # never from cycle 1: it stores every backlog
    half = cycles[middle - 1]
    late = (last.rss - half.rss) / MB
    print(
        f"second half, from the end of cycle {middle} to the end of cycle {len(cycles)}: "
        f"{late:+.1f} MB ({late * MB / half.rss:+.1%}), "
        f"{late / (len(cycles) - middle):+.2f} MB per cycle"
    )
    per_feed = [(c.cpu / c.feeds * 1000, c.main_cpu / c.feeds * 1000) for c in steady if c.feeds]
    if per_feed:
        print(
            f"CPU per polled feed in cycles 3-{len(cycles)}: the tree "
            f"{min(t for t, _ in per_feed):.1f}-{max(t for t, _ in per_feed):.1f} ms, the main "
            f"process {min(m for _, m in per_feed):.1f}-{max(m for _, m in per_feed):.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=600)
    parser.add_argument("--cycles", type=int, default=12)
    parser.add_argument("--tick", type=float, default=60.0, help="seconds between feed changes")
    parser.add_argument("--new-items", type=int, default=1, help="new entries per feed per tick")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--hosts", type=int, default=32)
    args = parser.parse_args()
    bodies = [p.read_bytes() for p in real_news_feeds(CORPUS, max_bytes=300_000)]
    context = multiprocessing.get_context("spawn")
    queue, stop = context.Queue(), context.Event()
    server = context.Process(target=serve, args=(args, bodies, queue, stop), daemon=True)
    server.start()
    urls = queue.get(timeout=120)
    print(
        f"monitor run: {args.feeds} feeds on {args.hosts} loopback hosts, {args.latency * 1000:.0f}"
        f" ms latency, {args.new_items} new entries per feed every {args.tick:.0f} s, interval 1m"
    )
    log: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "config.toml").write_text(config_text(folder, urls), encoding="utf-8")
        command = [sys.executable, "-m", "monitor", "--config", str(folder / "config.toml")]
        env = {**os.environ, "PYTHONPATH": str(REPO)}  # this tree's code, installed or not
        subprocess.run([*command, "db", "upgrade"], check=True, capture_output=True, cwd=tmp,
                       env=env)  # fmt: skip
        daemon = subprocess.Popen(
            [*command, "run"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
            cwd=tmp, env=env,
        )  # fmt: skip
        try:
            cycles = watch(daemon, args.cycles, log)
        finally:
            ended = daemon.poll()
            daemon.terminate()
            # Drain stderr while it shuts down, so a full pipe cannot hold it.
            drain = threading.Thread(target=lambda: log.extend(daemon.stderr or ()), daemon=True)
            drain.start()
            daemon.wait(60)
            drain.join(10)
        if ended is not None:
            print(f"the daemon exited by itself after {len(cycles)} cycles, status {ended}")
    stop.set()
    server.join(10)
    problems = [line for line in log if " WARNING " in line or " ERROR " in line]
    print(f"daemon log: {len(log)} lines, {len(problems)} warnings or errors")
    for line in problems[:10]:
        print("  " + line.rstrip())
    report(cycles)


if __name__ == "__main__":
    main()
