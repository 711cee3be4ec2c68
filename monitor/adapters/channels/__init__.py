"""Channel senders, looked up by the channel's `type` in config.toml: a registry, no if-chain.

Adding a channel type means one module with a sender class and one line in SENDERS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from monitor.adapters.channels.apprise_channel import AppriseSender
from monitor.adapters.channels.base import Outgoing, Sender, SenderDeps
from monitor.adapters.channels.email import EmailSender
from monitor.adapters.channels.file import FileSender
from monitor.adapters.channels.webhook import WebhookSender
from monitor.config import AppriseChannel, EmailChannel, FileChannel, WebhookChannel
from monitor.core.redact import secret_forms
from monitor.errors import PermanentDeliveryError

ChannelConfig = FileChannel | EmailChannel | WebhookChannel | AppriseChannel
SenderFactory = Callable[[str, Any, SenderDeps], Sender]

SENDERS: Mapping[str, SenderFactory] = {
    "file": FileSender,
    "email": EmailSender,
    "webhook": WebhookSender,
    "apprise": AppriseSender,
}


def build_sender(name: str, config: ChannelConfig, deps: SenderDeps) -> Sender:
    """The sender for the channel [channels.NAME]; constructing it does no I/O."""
    try:
        factory = SENDERS[config.type]
    except KeyError:
        raise PermanentDeliveryError(
            f"channel {name}: no sender for type {config.type!r}; use one of {sorted(SENDERS)}"
        ) from None
    return factory(name, config, deps)


SENSITIVE_HEADER_WORDS = ("authorization", "token", "key", "secret", "password", "cookie")


def channel_secrets(config: ChannelConfig, environ: Mapping[str, str]) -> set[str]:
    """Every spelling of the channel's secrets (the values of its `*_env` variables, and
    configured header values that look like credentials), for scrubbing error texts."""
    found: set[str] = set()
    for key in ("password_env", "secret_env", "urls_env"):
        variable = getattr(config, key, None)
        value = environ.get(variable) if variable else None
        if not value:
            continue
        found |= secret_forms(value, username=getattr(config, "username", None))
        for part in value.split():  # several webhook secrets, or several Apprise URLs
            found |= secret_forms(part)
            if part.startswith("whsec_"):
                found |= secret_forms(part.removeprefix("whsec_"))
    for name, value in (getattr(config, "headers", None) or {}).items():
        if any(word in name.lower() for word in SENSITIVE_HEADER_WORDS):
            found |= secret_forms(value)
            found |= {p for part in value.split() for p in secret_forms(part)}
    return found


__all__ = [
    "SENDERS",
    "ChannelConfig",
    "Outgoing",
    "Sender",
    "SenderDeps",
    "build_sender",
    "channel_secrets",
]
