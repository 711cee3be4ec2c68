"""The HTTP endpoint of `monitor run`: /healthz (JSON) and /metrics (Prometheus text).

Built on aiohttp.web: the fetcher's transport already depends on aiohttp, so the endpoint adds
no dependency, and it gets a real HTTP/1.1 parser, keep-alive and a clean shutdown for free
(a hand-rolled asyncio server would have to get all of that right itself). What counts as
healthy is core/health.py's; this module only serves it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from monitor.core.health import HealthSnapshot, HealthStatus, health_document
from monitor.service.metrics import Metrics

log = logging.getLogger(__name__)


HealthProbe = Callable[[], Awaitable[HealthSnapshot]]
RunBlocking = Callable[[Callable[[], bytes]], Awaitable[bytes]]


async def _default_executor(function: Callable[[], bytes]) -> bytes:
    return await asyncio.get_running_loop().run_in_executor(None, function)


def make_app(
    probe: HealthProbe, metrics: Metrics, *, run_blocking: RunBlocking | None = None
) -> web.Application:
    """The endpoint's routes. `run_blocking` runs the scrape (which may query the database)
    off the event loop; the default is the loop's default executor."""
    in_thread = run_blocking or _default_executor

    async def healthz(_request: web.Request) -> web.Response:
        snapshot = await probe()
        document = health_document(snapshot)
        status = HealthStatus(document["status"]).http_status
        return web.Response(
            text=json.dumps(document, indent=2) + "\n",
            status=status,
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    async def metrics_page(_request: web.Request) -> web.Response:
        body = await in_thread(metrics.exposition)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    return app


class HttpEndpoint:
    """The running server: `await endpoint.start()`, `endpoint.port`, `await endpoint.stop()`."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        # A scrape stuck on the database must not hold up shutdown: 1 s, not aiohttp's 60.
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        self._host = host
        self._port = port
        self.port: int | None = None

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, reuse_address=True)
        await site.start()
        addresses = self._runner.addresses
        self.port = int(addresses[0][1]) if addresses else self._port
        log.info("serving /healthz and /metrics on http://%s:%s", self._host, self.port)

    async def stop(self) -> None:
        await self._runner.cleanup()
