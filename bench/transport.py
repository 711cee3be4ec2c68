"""Benchmark: our Fetcher over httpx's own transport against the httpx-aiohttp transport.

A loopback aiohttp server in a child process (so its CPU is not counted) answers every feed
URL after a fixed latency. The Fetcher fetches N URLs at each concurrency through both
transports; the table gives feeds per second, client CPU per feed and the ratio between the
two. Only 127.0.0.1 is contacted.

    /work/venv/bin/python bench/transport.py [--n 400] [--latency 0.2] [--concurrency 32 100]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

from aiohttp import web

from monitor.adapters.http import Fetcher, FetchLimits, Transport, build_client

FEED = (
    '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
    "<title>Bench</title><link>http://127.0.0.1/</link><description>bench</description>"
    + "".join(
        f"<item><title>Item {i}</title><link>http://127.0.0.1/a/{i}</link>"
        f"<guid>bench-{i}</guid><description>Short text about S-400 number {i}.</description>"
        "</item>"
        for i in range(10)
    )
    + "</channel></rss>"
).encode()


def serve(latency: float, port_out: Connection) -> None:
    """The child process: an aiohttp server on 127.0.0.1 until the parent ends it."""

    async def feed(request: web.Request) -> web.Response:
        await asyncio.sleep(latency)
        return web.Response(body=FEED, content_type="application/rss+xml")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/feed/{n}", feed)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port_out.send(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


@dataclass(frozen=True, slots=True)
class Run:
    transport: Transport
    concurrency: int
    feeds_per_second: float
    cpu_ms_per_feed: float
    failures: int


async def measure(port: int, n: int, transport: Transport, concurrency: int) -> Run:
    # One host serves everything here, so per_host is raised to the concurrency under test.
    limits = FetchLimits(timeout=30, concurrency=concurrency, per_host=concurrency)
    urls = [f"http://127.0.0.1:{port}/feed/{i}" for i in range(n)]
    async with build_client(limits, transport=transport, trust_env=False) as client:
        fetcher = Fetcher(client, limits)
        wall, cpu = time.perf_counter(), time.process_time()
        results = await asyncio.gather(
            *(fetcher.fetch(url) for url in urls), return_exceptions=True
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    failures = sum(1 for r in results if isinstance(r, BaseException) or r.status != 200)
    return Run(transport, concurrency, n / wall, cpu * 1000 / n, failures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400, help="feeds per run (default 400)")
    parser.add_argument("--latency", type=float, default=0.2, help="server latency, seconds")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 100])
    args = parser.parse_args()

    receive, send = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.Process(target=serve, args=(args.latency, send), daemon=True)
    server.start()
    try:
        port = receive.recv()
        print(f"{args.n} feeds, {args.latency * 1000:.0f} ms latency, loopback port {port}")
        for concurrency in args.concurrency:
            ceiling = concurrency / args.latency
            print(f"\nconcurrency {concurrency} (ceiling {ceiling:.0f} feeds/s)")
            runs = {t: asyncio.run(measure(port, args.n, t, concurrency)) for t in Transport}
            for run in runs.values():
                print(
                    f"  {run.transport.value:8} {run.feeds_per_second:7.1f} feeds/s  "
                    f"{run.cpu_ms_per_feed:6.2f} ms CPU/feed  failures {run.failures}"
                )
            fast, stock = runs[Transport.AIOHTTP], runs[Transport.HTTPX]
            print(
                f"  aiohttp/httpx: {fast.feeds_per_second / stock.feeds_per_second:.2f}x "
                f"feeds/s, {stock.cpu_ms_per_feed / fast.cpu_ms_per_feed:.2f}x less CPU/feed"
            )
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
