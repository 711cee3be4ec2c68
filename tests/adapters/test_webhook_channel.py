"""The webhook channel: headers, signature, status and exception mapping (pytest-httpx), and
retries against a real HTTP receiver on 127.0.0.1 through the outbox."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from delivery_fixtures import (
    Mailbox,
    Rows,
    WebhookReceiver,
    alert_matches,
    delivery_rows,
    settings_for,
    smtp_server,
    verify_signature,
    watchlist,
)
from fixed_time import NOW
from pytest_httpx import HTTPXMock
from sqlalchemy import Engine

from monitor.adapters.channels import build_sender
from monitor.adapters.channels.base import Outgoing, SenderDeps
from monitor.adapters.channels.webhook import map_httpx_error, signature
from monitor.adapters.db.schema import DeliveryStatus, DigestKind
from monitor.config import WebhookChannel
from monitor.core.digest import DigestContent
from monitor.errors import DeliveryError, PermanentDeliveryError
from monitor.flows.digests import create_digest
from monitor.flows.outbox import Outbox

URL = "https://hooks.example.org/monitor"
SECRET = "whsec-test"


def content() -> DigestContent:
    return DigestContent(
        DigestKind.DIGEST, "s400", "S-400 air defence system", NOW, None, NOW, (), 0
    )


def hook(**options: Any) -> WebhookChannel:
    values: dict[str, Any] = {"type": "webhook", "url": URL, "secret_env": "HOOK_SECRET"}
    values.update(options)
    return WebhookChannel.model_validate(values)


async def post(
    config: WebhookChannel, key: str = "monitor-key-1", environ: dict[str, str] | None = None
) -> None:
    async with httpx.AsyncClient() as client:
        deps = SenderDeps(
            http_client=client,
            environ={"HOOK_SECRET": SECRET} if environ is None else environ,
            clock=lambda: NOW,
        )
        await build_sender("desk-hook", config, deps).send(
            Outgoing(5, 42, "desk-hook", key, content())
        )


async def test_headers_body_and_signature(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, method="POST", status_code=202)
    await post(hook(headers={"Authorization": "Bearer t0ken", "Idempotency-Key": "mine"}))
    (request,) = httpx_mock.get_requests()
    headers = dict(request.headers)
    assert headers["idempotency-key"] == "monitor-key-1"  # ours win over configured extras
    assert headers["authorization"] == "Bearer t0ken"
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["x-monitor-timestamp"] == str(int(NOW.timestamp()))
    expected = signature(SECRET, headers["x-monitor-timestamp"], request.content)
    assert headers["x-monitor-signature"] == expected
    assert verify_signature(
        SECRET,
        {
            "X-Monitor-Timestamp": headers["x-monitor-timestamp"],
            "X-Monitor-Signature": headers["x-monitor-signature"],
        },
        request.content,
    )
    body = json.loads(request.content)
    assert body["schema"] == "monitor.digest/v1"
    assert body["digest_id"] == 42
    assert body["watchlist"] == {"id": "s400", "name": "S-400 air defence system"}


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    # Known-answer test: what a receiver in any language must compute.
    assert signature("key", "1700000000", b'{"a":1}') == (
        "sha256=" + __import__("hmac").new(b"key", b'1700000000.{"a":1}', "sha256").hexdigest()
    )


async def test_no_signature_without_a_secret(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL)
    await post(hook(secret_env=None), environ={})
    (request,) = httpx_mock.get_requests()
    assert "x-monitor-signature" not in request.headers


async def test_a_missing_secret_variable_is_named_and_nothing_is_posted(
    httpx_mock: HTTPXMock,
) -> None:
    with pytest.raises(DeliveryError, match="HOOK_SECRET"):
        await post(hook(), environ={})
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize("fmt", ["slack", "discord", "teams"])
async def test_chat_formats_are_posted_as_their_services_expect(
    httpx_mock: HTTPXMock, fmt: str
) -> None:
    httpx_mock.add_response(url=URL)
    await post(hook(format=fmt))
    body = json.loads(httpx_mock.get_requests()[0].content)
    expected_key = {"slack": "blocks", "discord": "embeds", "teams": "attachments"}[fmt]
    assert expected_key in body


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (200, None),
        (201, None),
        (204, None),
        (408, DeliveryError),
        (429, DeliveryError),
        (500, DeliveryError),
        (502, DeliveryError),
        (503, DeliveryError),
        (301, PermanentDeliveryError),
        (400, PermanentDeliveryError),
        (401, PermanentDeliveryError),
        (403, PermanentDeliveryError),
        (404, PermanentDeliveryError),
        (410, PermanentDeliveryError),
        (422, PermanentDeliveryError),
    ],
)
async def test_statuses(
    httpx_mock: HTTPXMock, status: int, error: type[DeliveryError] | None
) -> None:
    headers = {"Location": "https://new.example.org/hook"} if status == 301 else {}
    httpx_mock.add_response(url=URL, status_code=status, headers=headers, text="why")
    if error is None:
        await post(hook())
        return
    with pytest.raises(error, match=f"answered {status}") as caught:
        await post(hook())
    assert isinstance(caught.value, PermanentDeliveryError) is (error is PermanentDeliveryError)


def all_httpx_exceptions() -> list[type[Exception]]:
    roots: list[type[Exception]] = [
        httpx.HTTPError,
        httpx.InvalidURL,
        httpx.StreamError,
        httpx.CookieConflict,
    ]
    found: list[type[Exception]] = []
    while roots:
        cls = roots.pop()
        found.append(cls)
        roots.extend(c for c in cls.__subclasses__() if c.__module__.startswith("httpx"))
    return sorted(set(found), key=lambda c: c.__name__)


PERMANENT = {"UnsupportedProtocol", "InvalidURL", "LocalProtocolError"}


def instance(cls: type[Exception]) -> Exception:
    if cls is httpx.HTTPStatusError:
        request = httpx.Request("POST", URL)
        return cls("bad", request=request, response=httpx.Response(500, request=request))
    try:
        return cls("boom")
    except TypeError:  # StreamConsumed and friends take no message
        return cls()


@pytest.mark.parametrize("cls", all_httpx_exceptions(), ids=lambda c: c.__name__)
def test_every_httpx_exception_maps_to_a_delivery_error(cls: type[Exception]) -> None:
    error = map_httpx_error(instance(cls), "channel desk-hook: webhook example.org", 15.0)
    assert isinstance(error, DeliveryError)
    assert isinstance(error, PermanentDeliveryError) is (cls.__name__ in PERMANENT)
    assert str(error).startswith("channel desk-hook")


@pytest.mark.parametrize(
    "exc",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("x")],
)
async def test_transport_errors_are_retryable(httpx_mock: HTTPXMock, exc: Exception) -> None:
    httpx_mock.add_exception(exc, url=URL)
    with pytest.raises(DeliveryError) as caught:
        await post(hook())
    assert not isinstance(caught.value, PermanentDeliveryError)


async def test_the_idempotency_key_is_stable_across_retries_through_the_outbox(
    httpx_mock: HTTPXMock, sqlite_engine: Engine, tmp_path: Path
) -> None:
    for status in (503, 429, 200):
        httpx_mock.add_response(url=URL, status_code=status)
    Rows(sqlite_engine, NOW).match("s400", "ap")
    settings = hook_settings(tmp_path, URL)
    create_digest(sqlite_engine, settings, watchlist(channels=("desk-hook",)), now=NOW)
    async with httpx.AsyncClient() as client:
        deps = SenderDeps(http_client=client, environ={"HOOK_SECRET": SECRET})
        for minutes in (0, 5, 10):
            await Outbox(sqlite_engine, settings, deps=deps).deliver_pending(
                now=NOW + timedelta(minutes=minutes)
            )
    requests = httpx_mock.get_requests()
    assert len({r.headers["Idempotency-Key"] for r in requests}) == 1
    assert len({r.content for r in requests}) == 1  # the frozen digest, byte for byte
    (row,) = delivery_rows(sqlite_engine)
    assert (row.status, row.attempts) == ("delivered", 3)


# ---- through the outbox, against real servers on loopback --------------------------------


def hook_settings(tmp_path: Path, url: str, **extra_channels: Any) -> Any:
    channels = {
        "desk-hook": {"type": "webhook", "url": url, "secret_env": "HOOK_SECRET", "timeout": "2s"},
        **extra_channels,
    }
    return settings_for(tmp_path, channels)


async def test_a_receiver_failing_twice_gets_exactly_one_accepted_delivery(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    Rows(sqlite_engine, NOW).match("s400", "ap")
    with WebhookReceiver([503, 500]) as receiver:
        settings = hook_settings(tmp_path, receiver.url)
        create_digest(sqlite_engine, settings, watchlist(channels=("desk-hook",)), now=NOW)
        async with httpx.AsyncClient() as client:
            deps = SenderDeps(http_client=client, environ={"HOOK_SECRET": SECRET})
            clock = NOW
            statuses = []
            for _ in range(5):
                outcomes = await Outbox(sqlite_engine, settings, deps=deps).deliver_pending(
                    now=clock
                )
                statuses += [o.status for o in outcomes]
                clock += timedelta(minutes=5)  # past any backoff of the test settings
    assert statuses == [DeliveryStatus.PENDING, DeliveryStatus.PENDING, DeliveryStatus.DELIVERED]
    assert [r.status for r in receiver.requests] == [503, 500, 200]
    assert len(receiver.accepted) == 1
    keys = {r.headers["Idempotency-Key"] for r in receiver.requests}
    (row,) = delivery_rows(sqlite_engine)
    assert keys == {row.idempotency_key}
    assert all(verify_signature(SECRET, r.headers, r.body) for r in receiver.requests)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 3, None)


async def test_a_dead_receiver_does_not_delay_email(sqlite_engine: Engine, tmp_path: Path) -> None:
    Rows(sqlite_engine, NOW).match("s400", "ap")
    mailbox = Mailbox()
    with WebhookReceiver(["hang"]) as receiver, smtp_server(mailbox) as port:
        email = {
            "type": "email",
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "sender": "monitor@example.org",
            "to": ["desk@example.org"],
        }
        settings = hook_settings(tmp_path, receiver.url, analysts=email)
        settings = settings.model_copy(
            update={
                "channels": {**settings.channels, "desk-hook": hook(url=receiver.url, timeout="1s")}
            }
        )
        create_digest(
            sqlite_engine, settings, watchlist(channels=("desk-hook", "analysts")), now=NOW
        )
        async with httpx.AsyncClient() as client:
            deps = SenderDeps(http_client=client, environ={"HOOK_SECRET": SECRET})
            started = time.monotonic()
            task = asyncio.create_task(
                Outbox(sqlite_engine, settings, deps=deps).deliver_pending(now=NOW)
            )
            while not mailbox.messages and time.monotonic() - started < 5:
                await asyncio.sleep(0.01)
            email_after = time.monotonic() - started
            assert not task.done()  # the webhook is still hanging...
            outcomes = {o.channel: o for o in await task}
    assert email_after < 0.9  # ...and the email did not wait for it
    assert outcomes["analysts"].status is DeliveryStatus.DELIVERED
    assert outcomes["desk-hook"].status is DeliveryStatus.PENDING
    assert "within 1s" in (outcomes["desk-hook"].error or "")


async def test_alerts_go_out_within_the_poll_cycle(sqlite_engine: Engine, tmp_path: Path) -> None:
    rows = Rows(sqlite_engine, NOW)
    story = rows.story()
    found = [
        rows.match("s400", "ap", score=15.0, story_id=story),
        rows.match("s400", "dw", score=13.0, story_id=story),
        rows.match("s400", "bbc", score=5.0),
    ]
    with WebhookReceiver() as receiver:
        settings = hook_settings(tmp_path, receiver.url)
        wl = watchlist(channels=("desk-hook",), alert_threshold=12.0)
        async with httpx.AsyncClient() as client:
            deps = SenderDeps(http_client=client, environ={"HOOK_SECRET": SECRET})
            # The feed's transaction alerts what it stored; the cycle's drain sends it.
            for _ in range(2):  # a second cycle seeing the same matches alerts nothing
                alert_matches(sqlite_engine, wl, found, now=NOW, channels=("desk-hook",))
            outcomes = await Outbox(sqlite_engine, settings, deps=deps).deliver_pending(now=NOW)
            again = await Outbox(sqlite_engine, settings, deps=deps).deliver_pending(now=NOW)
    assert [o.status for o in outcomes] == [DeliveryStatus.DELIVERED]
    assert again == []
    (request,) = receiver.accepted
    payload = request.json()
    assert (payload["kind"], payload["total"]) == ("alert", 1)
    assert payload["stories"][0]["source"] == "ap"
    assert payload["stories"][0]["also_reported_by"] == ["dw"]
