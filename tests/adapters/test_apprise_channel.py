"""The Apprise channel through the outbox, against a real receiver on loopback (Apprise's
json:// and form:// schemas) that fails first and accepts the retry: one delivery, retried
with backoff, the digest's text within the message, the URLs (tokens) never in an error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from delivery_fixtures import Rows, WebhookReceiver, delivery_rows, settings_for, watchlist
from sqlalchemy import Engine

from monitor.adapters.channels import SenderDeps
from monitor.flows.digests import create_digest
from monitor.flows.outbox import Outbox

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


async def deliver(engine: Engine, settings: object, environ: dict[str, str], at: datetime) -> list:  # type: ignore[type-arg]
    async with httpx.AsyncClient() as client:
        deps = SenderDeps(http_client=client, environ=environ, clock=lambda: at)
        return await Outbox(engine, settings, deps=deps).deliver_pending(now=at)  # type: ignore[arg-type]


@pytest.mark.parametrize("schema", ["json", "form"])
async def test_a_receiver_failing_first_gets_the_digest_once_on_retry(
    schema: str, sqlite_engine: Engine, tmp_path: Path
) -> None:
    rows = Rows(sqlite_engine, NOW)
    rows.match("s400", "ap", title="Turkey receives second S-400 batch")
    rows.match("s400", "dw", title="CAATSA sanctions loom over Ankara", score=6.0)
    with WebhookReceiver([500]) as receiver:
        url = receiver.url.replace("http://", f"{schema}://")
        settings = settings_for(tmp_path, {"push": {"type": "apprise", "urls_env": "PUSH_URLS"}})
        create_digest(sqlite_engine, settings, watchlist(channels=("push",)), now=NOW)
        environ = {"PUSH_URLS": f"{url}?token=tok-SECRET-123"}
        first = await deliver(sqlite_engine, settings, environ, NOW)
        [row] = delivery_rows(sqlite_engine)
        assert [o.status.value for o in first] == ["pending"]
        assert row.status == "pending" and "Apprise could not deliver" in row.last_error
        assert "tok-SECRET-123" not in row.last_error
        # Nothing is due before the backoff has passed; then the retry is accepted.
        assert await deliver(sqlite_engine, settings, environ, NOW) == []
        second = await deliver(sqlite_engine, settings, environ, NOW + timedelta(minutes=5))
    assert [o.status.value for o in second] == ["delivered"]
    assert [r.status for r in receiver.requests] == [500, 200]
    [accepted] = receiver.accepted
    if schema == "json":
        body = accepted.json()
        title, message = body["title"], body["message"]
    else:
        form = parse_qs(accepted.body.decode())
        title, message = form["title"][0], form["message"][0]
    assert title == "S-400 air defence system: 2 new stories"
    assert "Turkey receives second S-400 batch" in message
    assert "CAATSA sanctions loom over Ankara" in message
    [row] = delivery_rows(sqlite_engine)
    assert (row.status, row.attempts) == ("delivered", 2)


async def test_an_unusable_url_is_permanent_and_not_repeated(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    Rows(sqlite_engine, NOW).match("s400", "ap")
    settings = settings_for(tmp_path, {"push": {"type": "apprise", "urls_env": "PUSH_URLS"}})
    create_digest(sqlite_engine, settings, watchlist(channels=("push",)), now=NOW)
    environ = {"PUSH_URLS": "nosuchservice://user:hunter2-pass@example.org/x"}
    [outcome] = await deliver(sqlite_engine, settings, environ, NOW)
    assert outcome.status.value == "dead"
    assert "URL 1 of 1 in $PUSH_URLS (nosuchservice://...)" in (outcome.error or "")
    assert "hunter2-pass" not in (outcome.error or "")


async def test_the_variable_must_be_set(sqlite_engine: Engine, tmp_path: Path) -> None:
    Rows(sqlite_engine, NOW).match("s400", "ap")
    settings = settings_for(tmp_path, {"push": {"type": "apprise", "urls_env": "PUSH_URLS"}})
    create_digest(sqlite_engine, settings, watchlist(channels=("push",)), now=NOW)
    [outcome] = await deliver(sqlite_engine, settings, {}, NOW)
    assert outcome.status.value == "pending" and "PUSH_URLS" in (outcome.error or "")


async def test_a_retry_goes_only_to_the_urls_that_failed(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    Rows(sqlite_engine, NOW).match("s400", "ap", title="Turkey receives second S-400 batch")
    with WebhookReceiver() as steady, WebhookReceiver([503]) as flaky:
        urls = [
            r.url.replace("http://", "json://") + "?token=tok-SECRET-9" for r in (steady, flaky)
        ]
        settings = settings_for(tmp_path, {"push": {"type": "apprise", "urls_env": "PUSH_URLS"}})
        create_digest(sqlite_engine, settings, watchlist(channels=("push",)), now=NOW)
        environ = {"PUSH_URLS": " ".join(urls)}
        [first] = await deliver(sqlite_engine, settings, environ, NOW)
        assert first.status.value == "pending"
        assert "URL 2 of 2 (json://...)" in (first.error or "")
        assert "1 of 2 accepted it" in (first.error or "")
        [row] = delivery_rows(sqlite_engine)
        assert len(row.delivered_parts) == 1
        assert "tok-SECRET-9" not in str(row.delivered_parts) + (row.last_error or "")
        [second] = await deliver(sqlite_engine, settings, environ, NOW + timedelta(minutes=5))
    assert second.status.value == "delivered"
    # The URL that accepted the first attempt did not get the digest a second time.
    assert [r.status for r in steady.requests] == [200]
    assert [r.status for r in flaky.requests] == [503, 200]
