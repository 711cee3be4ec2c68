"""The Apprise channel: a digest or alert as plain text to every URL Apprise understands (ntfy,
Gotify, Telegram, Matrix, Signal, Pushover, Mattermost, Rocket.Chat, SMS gateways and about a
hundred more), through the same outbox as every channel.

The URLs carry tokens, so they live in the environment variable named by `urls_env` (one or
more, separated by spaces) and never in config.toml, the database or an error message: a URL
is named by its position and scheme only. Each URL gets `overflow=truncate` unless it says
otherwise, so Apprise cuts the body to that service's length limit instead of letting the
service refuse it. Apprise reports failure without a reason code: an unusable URL is
permanent, any failure to deliver is retried with the outbox's backoff (all URLs again: the
delivery is one per digest and channel).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.adapters.channels.base import Outgoing, SenderDeps
from monitor.adapters.render import render_text, subject
from monitor.config import AppriseChannel
from monitor.errors import DeliveryError, PermanentDeliveryError

if TYPE_CHECKING:
    import apprise

REASON_CHARS = 300


def with_truncation(url: str) -> str:
    """The URL asking Apprise to cut the body to the service's limit, unless it chose."""
    if "overflow=" in url:
        return url
    return url + ("&" if "?" in url else "?") + "overflow=truncate"


def scheme(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else "?"


class AppriseSender:
    def __init__(self, name: str, config: AppriseChannel, deps: SenderDeps) -> None:
        self.name = name
        self.config = config
        self.deps = deps

    def _notifier(self) -> apprise.Apprise:
        import apprise  # 0.1 s to import: only processes that send through it pay

        urls = self.deps.secret(self.name, "urls_env", self.config.urls_env).split()
        notifier = apprise.Apprise()
        for position, url in enumerate(urls, start=1):
            if not notifier.add(with_truncation(url)):
                raise PermanentDeliveryError(
                    f"channel {self.name}: URL {position} of {len(urls)} in "
                    f"${self.config.urls_env} ({scheme(url)}://...) is not one Apprise "
                    f"understands; check it with `apprise --dry-run URL`"
                )
        return notifier

    async def send(self, message: Outgoing) -> None:
        import apprise

        notifier = self._notifier()
        result = await notifier.async_notify(
            body=render_text(message.content, digest_id=message.digest_id),
            title=subject(message.content),
            body_format=apprise.NotifyFormat.TEXT,
        )
        if result.status == apprise.AppriseResultStatus.SUCCESS:
            return
        reasons = "; ".join(
            entry.message for entry in result.logs() if entry.level in ("ERROR", "WARNING")
        )
        detail = f": {reasons[:REASON_CHARS]}" if reasons else ""
        raise DeliveryError(
            f"channel {self.name}: Apprise could not deliver ({result.status.name.lower()}){detail}"
        )
