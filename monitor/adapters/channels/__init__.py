"""Channel senders, looked up by the channel's `type` in config.toml: a registry, no if-chain.

Adding a channel type means one module with a sender class and one line in SENDERS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from monitor.adapters.channels.base import Outgoing, Sender, SenderDeps
from monitor.adapters.channels.email import EmailSender
from monitor.adapters.channels.file import FileSender
from monitor.adapters.channels.webhook import WebhookSender
from monitor.config import EmailChannel, FileChannel, WebhookChannel
from monitor.errors import PermanentDeliveryError

ChannelConfig = FileChannel | EmailChannel | WebhookChannel
SenderFactory = Callable[[str, Any, SenderDeps], Sender]

SENDERS: Mapping[str, SenderFactory] = {
    "file": FileSender,
    "email": EmailSender,
    "webhook": WebhookSender,
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


__all__ = ["SENDERS", "ChannelConfig", "Outgoing", "Sender", "SenderDeps", "build_sender"]
