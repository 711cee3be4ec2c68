"""Several workers on PostgreSQL: K real `monitor poll --once` processes sharing one database.

What it answers (issue 16): how many workers and cores 100,000 feeds polled every 15 minutes
(111 feeds/s) need, from a measurement rather than arithmetic on one SQLite run.

The loopback server of bench/ingest.py (a process of its own, N real outlet feeds on many
127.0.0.x hosts, ETags) serves every feed; before each cycle a set share of them changes
(`--changed`): a changed feed gets a new ETag and a body with `--new-items` new entries on top
(re-headlined copies of its own newest items: new articles that join existing stories), the
others answer 304. A cycle makes every feed due and starts K workers together, each the real
CLI (`python -m monitor --config ... poll --once --format json`, this tree's code) on a
PostgreSQL database recreated for the run. Measured per cycle:

- feeds per second of the whole: N over the polling window (the server's first request to
  the last feed recorded);
- CPU per feed by process: the workers' main processes (event loop, database writer thread,
  scoring), their parse processes (forkserver and workers), and the PostgreSQL backends
  serving them (/proc of each, sampled every 50 ms; the loopback server is not counted);
- the story lock: the share of the window in which a backend held story assignment's
  advisory lock, and backend-seconds spent waiting on locks, by kind (pg_stat_activity and
  pg_locks sampled every 100 ms);
- exactly once: every feed fetched once (the server's counts) and recorded once (the
  workers' JSON summaries, the feeds table: no lease left, none polled before the cycle).

Each `poll --once` process also pays its start-up (imports, syncing N feeds from its config,
watchlists, the parse pool) and exit, which `monitor run` pays once; a run with a single due
feed measures that fixed cost, and the per-feed figures are given net of it.

    python bench/workers.py [--feeds 1000] [--workers 1,2,3,4] [--changed 0.1,0.3,1.0]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test_scale_bench]

The database named by --database-url (default test_scale_bench, or $MONITOR_BENCH_DATABASE_URL)
is dropped and created again at the start. On a machine with C cores, K > C workers measure
contention, not scaling: the table says so and the estimate uses per-core figures.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# ingest puts tests/ on sys.path: loopback comes from there.
from ingest import REPO, real_news_bodies
from loopback import FeedServer, Route
from sqlalchemy import Engine, create_engine, make_url, text
from tree_meter import cpu_and_rss, descendants

from monitor.adapters.db.story_store import STORY_LOCK_KEY

DEFAULT_URL = os.environ.get(
    "MONITOR_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test_scale_bench"
)
TARGET_FEEDS, TARGET_EVERY = 100_000, 900.0  # 100,000 feeds every 15 minutes
MAIN_CORE_SHARE = 0.7  # a worker's main process is one core at most; plan it at 70%
HEADROOM = 1.5  # cores planned per core measured


# --- the loopback feeds ---------------------------------------------------------------------

_ITEM = re.compile(rb"<item[\s>].*?</item>", re.S)


def with_new_items(body: bytes, tag: str, count: int) -> bytes:
    """`body` with `count` new items on top: copies of its newest items under a new guid,
    link and headline (so they are new entries to the feed that join the stories of the
    originals, as re-headlined wire copy does)."""
    items = _ITEM.findall(body)
    if not items:
        return body
    new = [_renamed(item, f"{tag}-{n}".encode()) for n, item in enumerate(items[:count])]
    first = body.index(items[0])
    return body[:first] + b"".join(new) + body[first:]


def _renamed(item: bytes, marker: bytes) -> bytes:
    def guid(m: re.Match[bytes]) -> bytes:
        return m[1] + m[2] + b"#" + marker + m[3]

    def link(m: re.Match[bytes]) -> bytes:
        return m[1] + m[2] + (b"&" if b"?" in m[2] else b"?") + b"update=" + marker + m[3]

    item = re.sub(rb"(<guid[^>]*>)(.*?)(</guid>)", guid, item, count=1, flags=re.S)
    item = re.sub(rb"(<link>)(.*?)(</link>)", link, item, count=1, flags=re.S)
    return re.sub(
        rb"<title>(<!\[CDATA\[)?", lambda m: m[0] + b"Update " + marker + b": ", item, count=1
    )


def serve(
    hosts: int, latency: float, count: int, bodies: list[bytes], new_items: int, control: Pipe
) -> None:
    """The loopback servers, in a process of their own; `control` changes feeds and takes
    the counts. Feed i is /feed-i.xml on host i % hosts."""
    with ExitStack() as stack:
        servers = [
            stack.enter_context(FeedServer(latency=latency, host=f"127.0.0.{2 + i}"))
            for i in range(hosts)
        ]

        def route(i: int, version: int) -> str:
            body = bodies[i % len(bodies)]
            if version:
                body = with_new_items(body, f"v{version}-f{i}", new_items)
            return servers[i % hosts].add(f"/feed-{i}.xml", Route(body, etag=f'"{i}-{version}"'))

        control.send([route(i, 0) for i in range(count)])
        while True:
            command, *args = control.recv()
            if command == "change":
                feeds, version = args
                for i in feeds:
                    route(i, version)
                control.send(len(feeds))
            elif command == "counts":
                hits: Counter[str] = Counter()
                not_modified, first, last = 0, [], []
                for server in servers:
                    h, nm, f, latest = server.take_counts()
                    hits.update(h)
                    not_modified += sum(nm.values())
                    first += [f] if f else []
                    last += [latest] if latest else []
                control.send(
                    (dict(hits), not_modified, min(first, default=0.0), max(last, default=0.0))
                )
            else:
                return


class Feeds:
    """The bench's side of the loopback server process."""

    def __init__(self, args: argparse.Namespace) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._control, theirs = context.Pipe()
        bodies = real_news_bodies()
        self.process = context.Process(
            target=serve,
            args=(args.hosts, args.latency, args.feeds, bodies, args.new_items, theirs),
            daemon=True,
        )
        self.process.start()
        self.urls: list[str] = self._control.recv()
        self.version = 0

    def change(self, feeds: list[int]) -> None:
        self.version += 1
        self._control.send(("change", feeds, self.version))
        self._control.recv()

    def counts(self) -> tuple[dict[str, int], int, float, float]:
        self._control.send(("counts",))
        counts: tuple[dict[str, int], int, float, float] = self._control.recv()
        return counts

    def pids(self) -> set[int]:
        pid = self.process.pid or 0
        return {pid, *descendants(pid)}

    def close(self) -> None:
        self._control.send(("stop",))
        self.process.join(10)


# --- the database and the workers' config -----------------------------------------------------


def recreate_database(url: str) -> None:
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(folder: Path, url: str, feed_urls: list[str], polling: dict[str, Any]) -> Path:
    """The shipped config.toml's settings (polling limits, stories, retention, delivery, its
    watchlists) with the bench's database, feeds and a file channel in `folder`."""
    shipped = tomllib.loads((REPO / "config.toml").read_text(encoding="utf-8"))
    tables: dict[str, dict[str, Any]] = {
        "database": {"url": url},
        "polling": {**shipped["polling"], **polling},
        "watchlists": {**shipped.get("watchlists", {}), "dir": str(REPO / "watchlists")},
        "server": {"listen": ""},
        **{
            name: table
            for name, table in shipped.items()
            if name not in ("database", "polling", "watchlists", "server", "channels", "feeds")
        },
        "channels.local": {"type": "file", "path": str(folder / "digests")},
    }
    lines = []
    for name, table in tables.items():
        lines += [f"[{name}]", *(f"{key} = {_toml(value)}" for key, value in table.items()), ""]
    for i, feed_url in enumerate(feed_urls):
        lines += ["[[feeds]]", f'name = "feed-{i}"', f'url = "{feed_url}"', ""]
    path = folder / "config.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# --- measuring --------------------------------------------------------------------------------

_PG_SAMPLE = text(
    """
    SELECT a.pid, a.state, a.wait_event_type, a.wait_event,
           EXISTS (SELECT 1 FROM pg_locks l
                   WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted
                     AND l.classid = :high AND l.objid = :low AND l.objsubid = 1) AS holds_story
    FROM pg_stat_activity a
    WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
      AND a.backend_type = 'client backend'
    """
)


@dataclass
class Meter:
    """Samples the CPU of the workers' processes (main, and their descendants: the parse
    pool) and of the PostgreSQL backends serving this database, and what those backends
    wait on. A process keeps its last reading after it is gone."""

    engine: Engine
    workers: list[int]
    not_ours: set[int]
    every: float = 0.05
    pg_every: float = 0.1
    last: dict[int, tuple[str, float]] = field(default_factory=dict)  # pid -> (role, cpu)
    backends: set[int] = field(default_factory=set)
    sampled: float = 0.0  # seconds covered by PostgreSQL samples
    story_held: float = 0.0  # seconds in which a backend held the story lock
    # ... and its transaction was idle: the worker, not PostgreSQL, had the next move
    story_held_client: float = 0.0
    waits: Counter[str] = field(default_factory=Counter)  # backend-seconds per wait_event
    active: float = 0.0  # backend-seconds active and not waiting on a lock
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._pg = self.engine.connect()
        self._pg.execution_options(isolation_level="AUTOCOMMIT")
        self._key = {"high": STORY_LOCK_KEY >> 32, "low": STORY_LOCK_KEY & 0xFFFFFFFF}

    def _sample_cpu(self) -> None:
        for worker in self.workers:
            for pid, role in [(worker, "main")] + [(p, "parse") for p in descendants(worker)]:
                if pid not in self.not_ours and (reading := cpu_and_rss(pid)):
                    self.last[pid] = (role, reading[0])
        for pid in self.backends:
            if reading := cpu_and_rss(pid):
                self.last[pid] = ("postgres", reading[0])

    def _sample_pg(self, dt: float) -> None:
        rows = self._pg.execute(_PG_SAMPLE, self._key).all()
        self.sampled += dt
        for row in rows:
            self.backends.add(row.pid)  # a backend forked since we started: all of it ours
            if row.wait_event_type == "Lock":
                self.waits[row.wait_event] += dt
            elif row.state == "active":
                self.active += dt
        holders = [row for row in rows if row.holds_story]
        if holders:
            self.story_held += dt
            if all(row.state == "idle in transaction" for row in holders):
                self.story_held_client += dt

    def _run(self) -> None:
        pg_next = time.monotonic()
        previous = pg_next
        while not self._stop.wait(self.every):
            self._sample_cpu()
            now = time.monotonic()
            if now >= pg_next:
                self._sample_pg(now - previous)
                previous, pg_next = now, now + self.pg_every

    def __enter__(self) -> Meter:
        # Backends already connected (the bench's own pool) count from now, if at all.
        self._start: dict[int, float] = {}
        for pid in self._pg.execute(_PG_SAMPLE, self._key).scalars():
            if (reading := cpu_and_rss(pid)) is not None:
                self._start[pid] = reading[0]
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sample_cpu()  # the workers are zombies until reaped: their last reading is whole
        self._pg.close()

    def __exit__(self, *exc: object) -> None:
        if not self._stop.is_set():
            self.stop()

    def cpu(self, role: str) -> float:
        return sum(
            cpu - self._start.get(pid, 0.0) for pid, (r, cpu) in self.last.items() if r == role
        )


def _environment() -> dict[str, str]:
    """The workers run this tree's monitor, with the config's database and no other."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)}
    env.pop("MONITOR_DATABASE_URL", None)
    return env


def _wait_unreaped(process: subprocess.Popen[str]) -> None:
    """Wait for `process` to exit but leave it a zombie, so /proc still has its final CPU."""
    os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)


@dataclass
class Cycle:
    workers: int
    changed: float
    feeds: int
    changed_feeds: int
    wall: float  # first worker started to last one exited
    window: float  # first request to last feed recorded
    cpu: dict[str, float]
    polled: list[int]  # feeds each worker polled
    story_held: float
    story_held_client: float
    waits: dict[str, float]
    active: float
    new_articles: int
    problems: list[str]

    @property
    def rate(self) -> float:
        return self.feeds / self.window if self.window > 0 else 0.0


def run_cycle(
    feeds: Feeds, engine: Engine, config: Path, workers: int, changed: list[int], label: float
) -> Cycle:
    count = len(feeds.urls)
    if changed:
        feeds.change(changed)
    with engine.begin() as connection:
        connection.execute(text("UPDATE feeds SET next_poll_at = now() - interval '1 second'"))
        articles_before = connection.execute(text("SELECT count(*) FROM articles")).scalar_one()
    feeds.counts()  # start the server's counts from zero
    started_at = datetime.now(UTC)
    command = [
        *(sys.executable, "-m", "monitor", "--config", str(config)),
        *("poll", "--once", "--format", "json"),
    ]
    env = _environment()
    logs = [tempfile.TemporaryFile("w+") for _ in range(workers)]  # noqa: SIM115  (closed below)
    wall = time.perf_counter()
    processes = [
        subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            # A file, not a pipe: a worker's log lines (one per feed with new articles) fill
            # a pipe nobody reads while stdout is being read, and the worker blocks on it.
            stderr=logs[n],
            text=True,
            env=env,
            cwd=config.parent,  # not a folder holding a monitor/ folder (see issue 16)
        )
        for n in range(workers)
    ]
    outputs: dict[int, str] = {}

    def read(process: subprocess.Popen[str]) -> None:
        outputs[process.pid] = process.stdout.read()  # type: ignore[union-attr]

    readers = [threading.Thread(target=read, args=(p,)) for p in processes]
    for reader in readers:
        reader.start()
    with Meter(engine, [p.pid for p in processes], feeds.pids()) as meter:
        for process in processes:
            _wait_unreaped(process)
        wall = time.perf_counter() - wall
        meter.stop()
    for process in processes:
        process.wait()
    for reader in readers:
        reader.join()

    import json

    problems: list[str] = []
    summaries = []
    for process, log in zip(processes, logs, strict=True):
        out = outputs[process.pid]
        log.seek(0)
        err = log.read()
        log.close()
        if process.returncode != 0:
            problems.append(f"worker exited {process.returncode}: {err.strip()[-300:]}")
            continue
        summaries.append(json.loads(out))
    hits, _, first_hit, _ = feeds.counts()
    polled_names = Counter(f["name"] for s in summaries for f in s["feeds"])
    with engine.begin() as connection:
        last_recorded, leased, stale = connection.execute(
            text(
                "SELECT max(last_polled_at), count(*) FILTER (WHERE lease_owner IS NOT NULL),"
                " count(*) FILTER (WHERE last_polled_at IS NULL OR last_polled_at < :t) FROM feeds"
            ),
            {"t": started_at},
        ).one()
        articles_after = connection.execute(text("SELECT count(*) FROM articles")).scalar_one()
    fetched = Counter(hits.get(f"/feed-{i}.xml", 0) for i in range(count))
    if set(fetched) != {1}:
        problems.append(f"fetches per feed (count of feeds): {dict(fetched)}; expected 1 each")
    recorded = Counter(polled_names.get(f"feed-{i}", 0) for i in range(count))
    if set(recorded) != {1}:
        problems.append(f"polls per feed in the summaries: {dict(recorded)}; expected 1 each")
    failed = sum(s["failed"] for s in summaries)
    if failed:
        first = next(f for s in summaries for f in s["feeds"] if f["error"])
        problems.append(f"{failed} feeds failed, e.g. {first['name']}: {first['error']}")
    if leased or stale:
        problems.append(f"{leased} feeds still leased, {stale} not polled in this cycle")
    window = (last_recorded.timestamp() - first_hit) if first_hit and last_recorded else wall
    return Cycle(
        workers=workers,
        changed=label,
        feeds=count,
        changed_feeds=len(changed),
        wall=wall,
        window=window,
        cpu={role: meter.cpu(role) for role in ("main", "parse", "postgres")},
        polled=sorted((s["feeds_polled"] for s in summaries), reverse=True),
        story_held=meter.story_held,
        story_held_client=meter.story_held_client,
        waits=dict(meter.waits),
        active=meter.active,
        new_articles=articles_after - articles_before,
        problems=problems,
    )


# --- the run and its report -------------------------------------------------------------------


def fixed_cost(feeds: Feeds, engine: Engine, config: Path) -> dict[str, float]:
    """CPU of one `poll --once` process with a single (changed) feed due: start-up, syncing
    every configured feed, the watchlists, the parse pool, the outbox, exit."""
    with engine.begin() as connection:
        connection.execute(text("UPDATE feeds SET next_poll_at = now() + interval '1 hour'"))
        connection.execute(
            text("UPDATE feeds SET next_poll_at = now() WHERE name = 'feed-0'"),
        )
    feeds.change([0])
    feeds.counts()
    command = [sys.executable, "-m", "monitor", "--config", str(config), "poll", "--once"]
    env = _environment()
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=config.parent,
    )
    with Meter(engine, [process.pid], feeds.pids()) as meter:
        _wait_unreaped(process)
        meter.stop()
    _, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"the fixed-cost run failed: {err[-500:]}")
    return {role: meter.cpu(role) for role in ("main", "parse", "postgres")}


def run(args: argparse.Namespace) -> tuple[Cycle, dict[str, float], list[Cycle]]:
    recreate_database(args.database_url)
    engine = create_engine(args.database_url, pool_size=2)
    feeds = Feeds(args)
    rng = random.Random(args.seed)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = write_config(Path(tmp), args.database_url, feeds.urls, {})
            # As the compose file does: migrate once, then start the workers.
            subprocess.run(
                [sys.executable, "-m", "monitor", "--config", str(config), "db", "upgrade"],
                check=True,
                capture_output=True,
                env=_environment(),
                cwd=tmp,
            )
            # The first poll stores every feed's entries: the state the cycles start from.
            first = run_cycle(feeds, engine, config, min(2, max(args.workers)), [], 1.0)
            print(_line("first poll (all new)", first), flush=True)
            fixed = fixed_cost(feeds, engine, config)
            print(
                f"fixed cost of one `poll --once` process: {fixed['main']:.2f} s main, "
                f"{fixed['parse']:.2f} s parse pool, {fixed['postgres']:.2f} s PostgreSQL",
                flush=True,
            )
            cycles = []
            for workers in args.workers:
                for share in args.changed:
                    changed = rng.sample(range(args.feeds), round(share * args.feeds))
                    cycle = run_cycle(feeds, engine, config, workers, changed, share)
                    cycles.append(cycle)
                    print(_line(f"K={workers} {share:4.0%} changed", cycle, fixed), flush=True)
    finally:
        feeds.close()
        engine.dispose()
    return first, fixed, cycles


def _net(cycle: Cycle, fixed: dict[str, float] | None, role: str) -> float:
    """CPU per feed of `role`, less the fixed cost of the cycle's processes."""
    less = cycle.workers * fixed[role] if fixed else 0.0
    return max(0.0, cycle.cpu[role] - less) / cycle.feeds


def _line(label: str, c: Cycle, fixed: dict[str, float] | None = None) -> str:
    ms = {role: _net(c, fixed, role) * 1000 for role in ("main", "parse", "postgres")}
    waits = sum(c.waits.values())
    text_ = (
        f"{label}: {c.rate:6.1f} feeds/s, split {'/'.join(map(str, c.polled))}; CPU/feed "
        f"main {ms['main']:.1f} ms, parse {ms['parse']:.1f}, PostgreSQL {ms['postgres']:.1f}"
        f"{' (net of start-up)' if fixed else ''}; story lock held {c.story_held / c.window:.0%}"
        f" of {c.window:.1f} s ({c.story_held_client / max(c.story_held, 1e-9):.0%} of that"
        f" waiting on the worker), lock waits {waits:.1f} backend-s"
        f" ({', '.join(f'{k} {v:.1f}' for k, v in sorted(c.waits.items())) or 'none'});"
        f" {c.new_articles} new articles"
    )
    if c.problems:
        text_ += "\n    PROBLEMS: " + "; ".join(c.problems)
    else:
        text_ += "; every feed fetched and recorded exactly once"
    return text_


def report(
    args: argparse.Namespace, first: Cycle, fixed: dict[str, float], cycles: list[Cycle]
) -> None:
    cores = os.cpu_count() or 1
    print()
    print(
        f"{args.feeds} feeds on {args.hosts} loopback hosts, {args.latency * 1000:.0f} ms latency,"
        f" {args.new_items} new entries per changed feed; {cores} cores; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average {os.getloadavg()[0]:.1f} at the end"
    )
    print(
        "| workers | changed | feeds/s | split | CPU/feed main | parse | PostgreSQL | "
        "cores busy | story lock held | lock waits (backend-s) | exactly once |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for c in cycles:
        busy = sum(c.cpu.values()) / c.window
        print(
            f"| {c.workers}{' (> cores)' if c.workers > cores else ''} | {c.changed:.0%} "
            f"| {c.rate:.0f} | {'/'.join(map(str, c.polled))} "
            f"| {_net(c, fixed, 'main') * 1000:.1f} ms | {_net(c, fixed, 'parse') * 1000:.1f} ms "
            f"| {_net(c, fixed, 'postgres') * 1000:.1f} ms | {busy:.2f} "
            f"| {c.story_held / c.window:.0%} | {sum(c.waits.values()):.1f} "
            f"| {'yes' if not c.problems else 'NO'} |"
        )
    capacity(args, fixed, cycles)


def capacity(args: argparse.Namespace, fixed: dict[str, float], cycles: list[Cycle]) -> None:
    """Workers and cores for TARGET_FEEDS every TARGET_EVERY seconds at each changed share.

    From the one-worker cycles (no other worker competing for the cores): CPU per feed of
    each kind of process, net of `poll --once`'s start-up (`monitor run` starts once). Cores:
    all of it at the target rate, times HEADROOM. Workers: a worker's main process (event
    loop, writer thread, scoring) runs on one core at most, planned at MAIN_CORE_SHARE; its
    parse processes and PostgreSQL are the other cores. The story lock serialises story
    assignment across workers: its measured hold time per changed feed caps the changed
    feeds per second of the whole system, however many workers there are."""
    rate = TARGET_FEEDS / TARGET_EVERY
    print()
    print(f"{TARGET_FEEDS:,} feeds every {TARGET_EVERY / 60:.0f} min = {rate:.0f} feeds/s:")
    print(
        "| changed | CPU per feed (main + parse + PostgreSQL) | cores in all | "
        f"cores, {HEADROOM - 1:.0%} headroom | `monitor run` workers | story lock at target |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for share in args.changed:
        ones = [c for c in cycles if c.workers == 1 and c.changed == share]
        if not ones:
            continue
        c = ones[0]
        per = {role: _net(c, fixed, role) for role in ("main", "parse", "postgres")}
        total = sum(per.values())
        workers = max(1, math.ceil(rate * per["main"] / MAIN_CORE_SHARE))
        # Seconds the lock is held per changed feed, and the share of time it would be held
        # at the target rate.
        held_per_changed = c.story_held / c.changed_feeds if c.changed_feeds else 0.0
        lock_load = rate * share * held_per_changed
        print(
            f"| {share:.0%} | {total * 1000:.1f} ms ({per['main'] * 1000:.1f} + "
            f"{per['parse'] * 1000:.1f} + {per['postgres'] * 1000:.1f}) | {rate * total:.1f} "
            f"| {math.ceil(rate * total * HEADROOM)} | {workers} | {lock_load:.0%} held"
            f"{' (over 70%: the lock, not the workers, is the limit)' if lock_load > 0.7 else ''} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument(
        "--workers", type=lambda s: [int(k) for k in s.split(",")], default=[1, 2, 3, 4]
    )
    parser.add_argument(
        "--changed", type=lambda s: [float(x) for x in s.split(",")], default=[0.1, 0.3, 1.0]
    )
    parser.add_argument("--new-items", type=int, default=3, help="new entries per changed feed")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--hosts", type=int, default=64)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()
    first, fixed, cycles = run(args)
    report(args, first, fixed, cycles)


if __name__ == "__main__":
    main()
