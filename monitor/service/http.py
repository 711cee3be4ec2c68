"""The HTTP endpoint of `monitor run`: /healthz (JSON), /metrics (Prometheus text) and, when
`[server] public_url` is set, /feedback/{token}: the pages of the one-click feedback links.

Built on aiohttp.web: the fetcher's transport already depends on aiohttp, so the endpoint adds
no dependency, and it gets a real HTTP/1.1 parser, keep-alive and a clean shutdown for free
(a hand-rolled asyncio server would have to get all of that right itself). What counts as
healthy is core/health.py's; this module only serves it. The feedback pages store nothing
on GET (mail scanners open every link): the label is stored by the confirmation page's POST,
through flows/feedback.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from monitor.adapters.render import render_feedback_page
from monitor.core.feedback_tokens import FeedbackClaim, TokenError, TokenProblem
from monitor.core.health import HealthSnapshot, HealthStatus, health_document
from monitor.core.states import FeedbackLabel
from monitor.errors import InputError, MonitorError
from monitor.service.metrics import Metrics

log = logging.getLogger(__name__)


HealthProbe = Callable[[], Awaitable[HealthSnapshot]]
RunBlocking = Callable[[Callable[[], bytes]], Awaitable[bytes]]


async def _default_executor(function: Callable[[], bytes]) -> bytes:
    return await asyncio.get_running_loop().run_in_executor(None, function)


class FeedbackDesk(Protocol):
    """flows.feedback.LinkFeedback, as the pages use it (blocking calls, run in a thread)."""

    def verify(self, token: str) -> FeedbackClaim: ...
    def used(self, claim: FeedbackClaim) -> bool: ...
    def article(self, claim: FeedbackClaim) -> _Article | None: ...
    def record(self, claim: FeedbackClaim) -> object | None: ...


class _Article(Protocol):
    @property
    def title(self) -> str: ...
    @property
    def url(self) -> str | None: ...


def make_app(
    probe: HealthProbe,
    metrics: Metrics,
    *,
    run_blocking: RunBlocking | None = None,
    feedback: FeedbackDesk | None = None,
) -> web.Application:
    """The endpoint's routes. `run_blocking` runs the scrape (which may query the database)
    off the event loop; the default is the loop's default executor. `feedback` serves the
    /feedback pages; without it there are none (404)."""
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
    if feedback is not None:
        add_feedback_routes(app, feedback)
    return app


# ---- /feedback/{token} ------------------------------------------------------------------------

_WORDS = {FeedbackLabel.RELEVANT: "relevant", FeedbackLabel.IRRELEVANT: "not relevant"}
# The page carries a capability in its URL: no caching, no referrer, no framing, no scripts.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
_REFUSED = {
    TokenProblem.MALFORMED: (
        400,
        "This link is not complete",
        "The address is not a feedback link monitor made: it may have been cut off when it "
        "was copied. Open the link from the digest again.",
    ),
    TokenProblem.TAMPERED: (
        403,
        "This link is not valid",
        "The link's signature does not match: it was changed, or made for another monitor. "
        "Nothing was recorded.",
    ),
    TokenProblem.EXPIRED: (
        410,
        "This link has expired",
        "Feedback links work for a limited time. Nothing was recorded; label the article "
        "with `monitor feedback` instead.",
    ),
}


def _page(
    status: int,
    heading: str,
    message: str,
    *,
    article_title: str | None = None,
    article_url: str | None = None,
    button: str | None = None,
    watchlist: str | None = None,
) -> web.Response:
    body = render_feedback_page(
        heading,
        message,
        article_title=article_title,
        article_url=article_url,
        button=button,
        watchlist=watchlist,
        refused=status >= 400,
    )
    return web.Response(
        text=body, status=status, content_type="text/html", charset="utf-8", headers=_PAGE_HEADERS
    )


def _refused(problem: TokenProblem) -> web.Response:
    status, heading, message = _REFUSED[problem]
    return _page(status, heading, message)


def _used(claim: FeedbackClaim) -> web.Response:
    return _page(
        410,
        "This link was used already",
        "Each feedback link records its label once, and this one has. Nothing new was recorded.",
        watchlist=claim.watchlist_id,
    )


def _gone(claim: FeedbackClaim) -> web.Response:
    return _page(
        410,
        "This article is no longer stored",
        "The article has been removed from monitor's database, so there is nothing to label.",
        watchlist=claim.watchlist_id,
    )


def _unavailable() -> web.Response:
    return _page(
        503, "Try again in a moment", "monitor could not reach its database. Nothing was recorded."
    )


def add_feedback_routes(app: web.Application, desk: FeedbackDesk) -> None:
    async def confirm(request: web.Request) -> web.Response:
        try:
            claim = desk.verify(request.match_info["token"])
        except TokenError as exc:
            return _refused(exc.problem)
        try:
            if await asyncio.to_thread(desk.used, claim):
                return _used(claim)
            article = await asyncio.to_thread(desk.article, claim)
        except MonitorError as exc:
            log.error("feedback page: %s", exc)
            return _unavailable()
        if article is None:
            return _gone(claim)
        words = _WORDS[claim.label]
        return _page(
            200,
            f"Mark as {words}?",
            f"You are about to tell monitor that this article was {words} for the "
            f"watchlist \u201c{claim.watchlist_id}\u201d.",
            article_title=article.title or "(no title)",
            article_url=article.url,
            button=f"Yes, it is {words}",
            watchlist=claim.watchlist_id,
        )

    async def record(request: web.Request) -> web.Response:
        try:
            claim = desk.verify(request.match_info["token"])
        except TokenError as exc:
            return _refused(exc.problem)
        try:
            stored = await asyncio.to_thread(desk.record, claim)
        except InputError:
            return _gone(claim)
        except MonitorError as exc:
            log.error("feedback page: %s", exc)
            return _unavailable()
        if stored is None:
            return _used(claim)
        log.info(
            "feedback recorded: %s for article %d",
            claim.label.value,
            claim.article_id,
            extra={"watchlist": claim.watchlist_id},
        )
        return _page(
            200,
            "Recorded",
            f"Thank you: recorded as {_WORDS[claim.label]} for the watchlist "
            f"\u201c{claim.watchlist_id}\u201d. You can close this page.",
            watchlist=claim.watchlist_id,
        )

    app.router.add_get("/feedback/{token}", confirm)
    app.router.add_post("/feedback/{token}", record)


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
