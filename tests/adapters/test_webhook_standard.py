"""Webhooks signed the Standard Webhooks way, verified by the real `standardwebhooks` package
against a real delivery on loopback; extra headers that only differ in letter case from ours
neither duplicate nor override them; secrets never reach the stored or logged error."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from delivery_fixtures import (
    Mailbox,
    Rows,
    WebhookReceiver,
    delivery_rows,
    settings_for,
    smtp_server,
    watchlist,
)
from sqlalchemy import Engine
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from monitor.adapters.channels import SenderDeps
from monitor.config import parse_settings
from monitor.errors import ConfigError
from monitor.flows.digests import create_digest
from monitor.flows.outbox import Outbox

NOW = datetime.now(UTC)
OLD = "whsec_" + base64.b64encode(b"the old secret, 32 bytes long!!!").decode()
NEW = "whsec_" + base64.b64encode(b"the new secret, also 32 bytes!!!").decode()


async def deliver(engine: Engine, settings: Any, environ: dict[str, str]) -> list[Any]:
    async with httpx.AsyncClient() as client:
        # Signed now, not at import: the library checks the timestamp against its clock.
        at = datetime.now(UTC)
        deps = SenderDeps(http_client=client, environ=environ, clock=lambda: at)
        return await Outbox(engine, settings, deps=deps).deliver_pending(now=at)


async def test_a_real_delivery_verifies_with_standardwebhooks_under_both_rotated_secrets(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    Rows(sqlite_engine, NOW).match("s400", "ap")
    with WebhookReceiver() as receiver:
        settings = settings_for(
            tmp_path,
            {
                "hook": {
                    "type": "webhook",
                    "url": receiver.url,
                    "secret_env": "HOOK_SECRETS",
                    # Ours win, whatever the letter case; the others are sent.
                    "headers": {
                        "content-type": "text/plain",
                        "IDEMPOTENCY-KEY": "forged",
                        "Webhook-Id": "forged",
                        "X-Team": "desk",
                    },
                }
            },
        )
        create_digest(sqlite_engine, settings, watchlist(channels=("hook",)), now=NOW)
        outcomes = await deliver(sqlite_engine, settings, {"HOOK_SECRETS": f"{NEW} {OLD}"})
    assert [o.status.value for o in outcomes] == ["delivered"]
    [received] = receiver.accepted
    [row] = delivery_rows(sqlite_engine)
    headers = received.headers
    folded: dict[str, list[str]] = {}
    for name, value in headers.items():
        folded.setdefault(name.lower(), []).append(value)
    assert folded["webhook-id"] == [row.idempotency_key] == folded["idempotency-key"]
    assert folded["content-type"] == ["application/json; charset=utf-8"]
    assert folded["x-team"] == ["desk"]
    assert len(folded["webhook-signature"][0].split(" ")) == 2  # one per secret
    # Each receiver, on either secret, verifies with the reference library.
    for secret in (OLD, NEW):
        payload = Webhook(secret).verify(received.body, headers)
        assert payload["schema"] == "monitor.digest/v1" and payload["kind"] == "digest"
    # The id is signed: a replay under a new id fails, which the old signature allowed.
    replay = {k: v for k, v in headers.items() if k.lower() != "webhook-id"}
    replay["webhook-id"] = "monitor-replayed"
    with pytest.raises(WebhookVerificationError):
        Webhook(OLD).verify(received.body, replay)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"someone else").decode()).verify(
            received.body, headers
        )


def test_header_names_that_differ_only_in_case_are_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ignore letter case"):
        parse_settings(
            {
                "channels": {
                    "hook": {
                        "type": "webhook",
                        "url": "https://hooks.example.org/x",
                        "headers": {"X-Token": "a", "x-token": "b"},
                    }
                }
            },
            tmp_path / "config.toml",
        )


async def test_an_smtp_server_that_echoes_the_login_never_puts_the_password_in_the_database(
    sqlite_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    password = "hunter2-correct-horse"
    echoed = base64.b64encode(b"\0monitor\0" + password.encode()).decode()

    mailbox = Mailbox()
    from aiosmtpd.smtp import AuthResult

    def echoing(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        # A badly behaved server: refuses, and repeats what it was sent.
        return AuthResult(
            success=False,
            handled=False,
            message=f"535 5.7.8 bad login {data.login.decode()} / {data.password.decode()} "
            f"({echoed})",
        )

    Rows(sqlite_engine, NOW).match("s400", "ap")
    with smtp_server(mailbox, authenticator=echoing, auth_require_tls=False) as port:
        settings = settings_for(
            tmp_path,
            {
                "mail": {
                    "type": "email",
                    "host": "127.0.0.1",
                    "port": port,
                    "security": "none",
                    "username": "monitor",
                    "password_env": "SMTP_PASSWORD",
                    "sender": "monitor@example.org",
                    "to": ["desk@example.org"],
                }
            },
        )
        create_digest(sqlite_engine, settings, watchlist(channels=("mail",)), now=NOW)
        with caplog.at_level(logging.DEBUG):
            outcomes = await deliver(sqlite_engine, settings, {"SMTP_PASSWORD": password})
    assert outcomes[0].status.value in ("pending", "dead")
    [row] = delivery_rows(sqlite_engine)
    assert row.last_error and "bad login" in row.last_error and "[redacted]" in row.last_error
    ours = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith("monitor")
    )  # aiosmtpd's own server log (the other end) repeats it, as such a server would
    assert "[redacted]" in ours
    for text in (row.last_error, outcomes[0].error or "", ours):
        assert password not in text and echoed not in text
