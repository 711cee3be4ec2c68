"""The webhook channel: one signed JSON POST per delivery, through an injected httpx client.

Headers: `Idempotency-Key` (the outbox row's key: the same on every attempt, so a receiver
drops repeats), `X-Monitor-Timestamp` (Unix seconds of this attempt) and, when `secret_env`
is set, `X-Monitor-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`, plus the
extra headers from the config. 2xx is accepted; 408, 429, 5xx and transport errors are worth
retrying; every other answer is permanent. Every httpx exception is mapped here.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

from monitor import __version__
from monitor.adapters.channels.base import Outgoing, SenderDeps
from monitor.adapters.render import webhook_payload
from monitor.config import WebhookChannel
from monitor.errors import DeliveryError, PermanentDeliveryError

RETRYABLE_STATUS = frozenset({408, 429})
USER_AGENT = f"monitor/{__version__} (webhook)"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Monitor-Signature value: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">."""
    digest = hmac.new(
        secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256
    )
    return "sha256=" + digest.hexdigest()


def encode_body(fmt: str, message: Outgoing) -> bytes:
    payload = webhook_payload(fmt, message.digest_id, message.content)
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def map_httpx_error(exc: Exception, where: str, timeout: float) -> DeliveryError:
    """One DeliveryError for anything httpx raises while posting."""
    if isinstance(exc, httpx.TimeoutException):
        return DeliveryError(
            f"{where}: no complete answer within {timeout:g}s ({type(exc).__name__})"
        )
    if isinstance(exc, httpx.ConnectError):
        return DeliveryError(f"{where}: cannot connect ({exc or 'connection failed'})")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return PermanentDeliveryError(f"{where}: the url is not usable ({exc}); check url")
    if isinstance(exc, httpx.LocalProtocolError):
        return PermanentDeliveryError(
            f"{where}: the request is not valid HTTP ({exc}); check headers"
        )
    if isinstance(exc, httpx.TransportError):
        return DeliveryError(f"{where}: the connection failed ({type(exc).__name__}: {exc})")
    return DeliveryError(f"{where}: {type(exc).__name__}: {exc}")


def _excerpt(response: httpx.Response) -> str:
    text = " ".join(response.text.split())[:200]
    return f": {text}" if text else ""


def check_status(response: httpx.Response, where: str) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    what = f"{where} answered {status} {response.reason_phrase}"
    if status in RETRYABLE_STATUS or status >= 500:
        raise DeliveryError(what + _excerpt(response))
    if 300 <= status < 400:
        location = response.headers.get("location", "?")
        raise PermanentDeliveryError(f"{what} to {location}; set url to the new address")
    raise PermanentDeliveryError(what + _excerpt(response))


class WebhookSender:
    def __init__(self, name: str, config: WebhookChannel, deps: SenderDeps) -> None:
        self.name = name
        self.config = config
        self.deps = deps

    def headers(self, message: Outgoing, body: bytes) -> dict[str, str]:
        timestamp = str(int(self.deps.clock().timestamp()))
        headers = dict(self.config.headers)  # ours below win over the configured extras
        headers.update(
            {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": USER_AGENT,
                "Idempotency-Key": message.idempotency_key,
                "X-Monitor-Timestamp": timestamp,
            }
        )
        if self.config.secret_env:
            secret = self.deps.secret(self.name, "secret_env", self.config.secret_env)
            headers["X-Monitor-Signature"] = signature(secret, timestamp, body)
        return headers

    async def send(self, message: Outgoing) -> None:
        client = self.deps.http_client
        if client is None:
            raise DeliveryError(f"channel {self.name}: no HTTP client to post with")
        where = f"channel {self.name}: webhook {httpx.URL(self.config.url).host}"
        body = encode_body(self.config.format, message)
        headers = self.headers(message, body)
        timeout = self.config.timeout.total_seconds()
        try:
            response = await client.post(
                self.config.url,
                content=body,
                headers=headers,
                timeout=timeout,
                follow_redirects=False,
            )
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, httpx.CookieConflict) as exc:
            raise map_httpx_error(exc, where, timeout) from exc
        check_status(response, where)
