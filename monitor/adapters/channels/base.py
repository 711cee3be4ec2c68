"""What every channel sender shares: the message it is handed and what it may use to send it.

A sender turns one outbox row into one message on its channel and either returns (the channel
accepted it) or raises DeliveryError (retry later) or PermanentDeliveryError (retrying cannot
help). Senders connect only when they send, read secrets from the environment only when they
send, and take the clock and the HTTP client from `SenderDeps`, so tests inject both.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import httpx

from monitor.core.digest import DigestContent
from monitor.errors import DeliveryError


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One delivery attempt of one outbox row."""

    delivery_id: int
    digest_id: int
    channel: str  # the [channels.NAME] it goes to
    idempotency_key: str  # the same on every attempt of this row
    content: DigestContent
    # The channel's targets that accepted an earlier attempt (PartialDeliveryError.delivered):
    # a sender with several targets (Apprise URLs) sends only to the others.
    delivered_parts: frozenset[str] = frozenset()


class Sender(Protocol):
    async def send(self, message: Outgoing) -> None:
        """Deliver `message`; return only once the channel accepted it."""
        ...


@dataclass(frozen=True, slots=True)
class SenderDeps:
    """What senders may use, injected by the shell (and by tests)."""

    http_client: httpx.AsyncClient | None = None
    environ: Mapping[str, str] = field(default_factory=dict)
    # Relative channel paths are relative to the config's folder; the shell fills this in
    # from the settings when the caller leaves it out.
    base_dir: Path | None = None
    clock: Callable[[], datetime] = utc_now
    # None: the system's trust store. Tests pass a context that trusts their own CA.
    ssl_context: ssl.SSLContext | None = None

    def secret(self, channel: str, key: str, variable: str) -> str:
        """The value of the environment variable `variable`, read now, or a clear error."""
        value = self.environ.get(variable)
        if not value:
            raise DeliveryError(
                f"channel {channel}: the environment variable {variable} named by {key} is "
                f"not set; export it for the monitor process"
            )
        return value
