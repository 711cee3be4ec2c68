"""The webhook channel: one signed JSON POST per delivery, through an injected httpx client.

Signed the Standard Webhooks way (https://www.standardwebhooks.com): `webhook-id` (the outbox
row's key: the same on every attempt, so a receiver drops repeats; `Idempotency-Key` carries
the same value), `webhook-timestamp` (Unix seconds of this attempt) and, when `secret_env` is
set, `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, one per
secret (space-separated) while secrets are rotated. A `whsec_<base64>` secret signs with its
decoded bytes, as every Standard Webhooks library expects; any other string with its UTF-8
bytes. The older `X-Monitor-Timestamp` and `X-Monitor-Signature` (over timestamp and body
only, so not the id) are still sent for existing receivers and are deprecated.

Extra `headers` from the config are added unless their name, compared without regard to
letter case, is one of ours: ours win. 2xx is accepted; 408, 429, 5xx and transport errors
are worth retrying; every other answer is permanent. Every httpx exception is mapped here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
from dataclasses import replace

import httpx

from monitor import __version__
from monitor.adapters.channels.base import Outgoing, SenderDeps
from monitor.adapters.render import webhook_payload
from monitor.adapters.render.payloads import cut
from monitor.config import WebhookChannel
from monitor.errors import DeliveryError, PermanentDeliveryError

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 429})
USER_AGENT = f"monitor/{__version__} (webhook)"


SECRET_PREFIX = "whsec_"


def signing_key(secret: str) -> bytes:
    """The HMAC key of one secret: a `whsec_` secret's base64 payload decoded, else the
    string's UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        payload = secret.removeprefix(SECRET_PREFIX)
        try:
            return base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise PermanentDeliveryError(
                "a whsec_ webhook secret must be followed by base64; generate one with "
                "`python -c \"import base64, os; print('whsec_' + "
                'base64.b64encode(os.urandom(32)).decode())"`'
            ) from None
    return secret.encode("utf-8")


def standard_signature(secrets: list[str], message_id: str, timestamp: str, body: bytes) -> str:
    """The webhook-signature value: "v1,<base64>" per secret, space-separated."""
    signed = message_id.encode() + b"." + timestamp.encode("ascii") + b"." + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(signing_key(s), signed, hashlib.sha256).digest()).decode()
        for s in secrets
    )


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The deprecated X-Monitor-Signature value: sha256=<hex HMAC-SHA256 of
    "<timestamp>.<body>">, keyed with the secret's UTF-8 bytes."""
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
        ours = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "webhook-id": message.idempotency_key,
            "webhook-timestamp": timestamp,
            "Idempotency-Key": message.idempotency_key,
            "X-Monitor-Timestamp": timestamp,
        }
        if self.config.secret_env:
            value = self.deps.secret(self.name, "secret_env", self.config.secret_env)
            secrets = value.split()
            ours["webhook-signature"] = standard_signature(
                secrets, message.idempotency_key, timestamp, body
            )
            ours["X-Monitor-Signature"] = signature(secrets[0], timestamp, body)
        reserved = {name.lower() for name in ours} | {"content-length", "host"}
        extras = {k: v for k, v in self.config.headers.items() if k.lower() not in reserved}
        return {**extras, **ours}

    async def send(self, message: Outgoing) -> None:
        """Post the delivery; a 413 (the receiver's size limit) is answered at once with the
        same delivery showing half as many stories ("…and N more"), down to none, under the
        same webhook-id. Only a 413 for the bare heading is final."""
        client = self.deps.http_client
        if client is None:
            raise DeliveryError(f"channel {self.name}: no HTTP client to post with")
        where = f"channel {self.name}: webhook {httpx.URL(self.config.url).host}"
        shown = len(message.content.items)
        while True:
            response = await self._post(
                client, replace(message, content=cut(message.content, shown)), where
            )
            if response.status_code != 413 or shown == 0:
                break
            log.warning(
                "%s answered 413 with %d stories: sending %d",
                where,
                shown,
                shown // 2,
                extra={"channel": self.name},
            )
            shown //= 2
        check_status(response, where)

    async def _post(
        self, client: httpx.AsyncClient, message: Outgoing, where: str
    ) -> httpx.Response:
        body = encode_body(self.config.format, message)
        headers = self.headers(message, body)
        timeout = self.config.timeout.total_seconds()
        try:
            return await client.post(
                self.config.url,
                content=body,
                headers=headers,
                timeout=timeout,
                follow_redirects=False,
            )
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, httpx.CookieConflict) as exc:
            raise map_httpx_error(exc, where, timeout) from exc
