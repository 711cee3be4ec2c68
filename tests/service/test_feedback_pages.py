"""/feedback/{token}: the confirmation page stores nothing, its POST stores the label once, and
every refused link (cut short, changed, expired, used, its article gone) gets its own page and
4xx with nothing stored. Served by the daemon's real aiohttp endpoint on loopback, storing
into a real SQLite database through flows/feedback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from entries import T0, add_feed, entry
from sqlalchemy import Engine, delete

from monitor.adapters.db import article_store
from monitor.adapters.db.engine import make_engine, upgrade_database
from monitor.adapters.db.schema import articles
from monitor.core.feedback_tokens import FeedbackClaim, mint_token
from monitor.core.health import HealthSnapshot
from monitor.core.states import FeedbackLabel
from monitor.flows.feedback import LinkFeedback, list_labels
from monitor.service.http import HttpEndpoint, make_app
from monitor.service.metrics import Metrics

SECRET = b"pages-feedback-secret-0123456789"
TITLE = 'Erdoğan <script>alert("x")</script> & the S-400'


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def stored(tmp_path: Path) -> Iterator[tuple[Engine, int]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'monitor.db'}")
    upgrade_database(engine)
    feed_id = add_feed(engine)
    with engine.begin() as c:
        [new] = article_store.store_entries(c, feed_id, [entry(1, title=TITLE)], T0).new
    yield engine, new.article_id
    engine.dispose()


@pytest.fixture
async def client(stored: tuple[Engine, int]) -> AsyncIterator[httpx.AsyncClient]:
    engine, _ = stored

    async def probe() -> HealthSnapshot:
        raise AssertionError("not asked")

    desk = LinkFeedback(engine, SECRET, Clock())
    endpoint = HttpEndpoint(make_app(probe, Metrics(), feedback=desk), "127.0.0.1", 0)
    await endpoint.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{endpoint.port}") as c:
            yield c
    finally:
        await endpoint.stop()


def link(
    article_id: int,
    *,
    expires: datetime = T0 + timedelta(days=1),
    token_id: str = "t1",
    label: FeedbackLabel = FeedbackLabel.IRRELEVANT,
) -> str:
    claim = FeedbackClaim("s400", article_id, label, expires, token_id)
    return f"/feedback/{mint_token(SECRET, claim)}"


def labels(engine: Engine) -> list[str]:
    return [row.label.label for row in list_labels(engine, watchlist_id=None, since=None)]


async def test_the_get_confirms_and_stores_nothing_the_post_stores_once(
    stored: tuple[Engine, int], client: httpx.AsyncClient
) -> None:
    engine, article_id = stored
    url = link(article_id)
    for _ in range(3):  # a scanner, a preview pane, the analyst
        page = await client.get(url)
        assert page.status_code == 200
    assert labels(engine) == []
    assert "Mark as not relevant?" in page.text and 'method="post"' in page.text
    assert "<script" not in page.text and "&lt;script&gt;" in page.text  # the title, escaped
    assert "Erdoğan" in page.text
    assert "http://" not in page.text.split("<body>")[0]  # no external resources in <head>
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]

    done = await client.post(url)
    assert done.status_code == 200 and "Recorded" in done.text
    assert labels(engine) == ["irrelevant"]

    again = await client.post(url)
    assert again.status_code == 410 and "used already" in again.text
    assert (await client.get(url)).status_code == 410
    assert labels(engine) == ["irrelevant"]

    other = await client.post(link(article_id, token_id="t2", label=FeedbackLabel.RELEVANT))
    assert other.status_code == 200 and "recorded as relevant" in other.text
    assert labels(engine) == ["relevant"]  # the newest label is in force


@pytest.mark.parametrize(
    "case, status, heading",
    [
        ("cut short", 400, "This link is not complete"),
        ("a character changed", 403, "This link is not valid"),
        ("another secret", 403, "This link is not valid"),
        ("expired", 410, "This link has expired"),
        ("article gone", 410, "This article is no longer stored"),
    ],
)
async def test_refused_links_store_nothing(
    stored: tuple[Engine, int], client: httpx.AsyncClient, case: str, status: int, heading: str
) -> None:
    engine, article_id = stored
    url = link(article_id)
    if case == "cut short":
        url = url.split(".")[0]
    elif case == "a character changed":
        middle = len(url) // 2
        url = url[:middle] + ("A" if url[middle] != "A" else "B") + url[middle + 1 :]
    elif case == "another secret":
        claim = FeedbackClaim("s400", article_id, FeedbackLabel.RELEVANT, T0 + timedelta(1), "x")
        url = f"/feedback/{mint_token(b'another-secret-0123456789abc', claim)}"
    elif case == "expired":
        url = link(article_id, expires=T0)
    elif case == "article gone":
        with engine.begin() as c:
            c.execute(delete(articles))
    for response in (await client.get(url), await client.post(url)):
        assert response.status_code == status
        assert heading in response.text
        assert "<form" not in response.text
    assert labels(engine) == []


async def test_without_feedback_there_are_no_feedback_pages(stored: tuple[Engine, int]) -> None:
    async def probe() -> HealthSnapshot:
        raise AssertionError("not asked")

    endpoint = HttpEndpoint(make_app(probe, Metrics()), "127.0.0.1", 0)
    await endpoint.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{endpoint.port}") as c:
            assert (await c.get(link(stored[1]))).status_code == 404
    finally:
        await endpoint.stop()
