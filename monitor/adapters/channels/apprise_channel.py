"""The Apprise channel: a digest or alert as plain text to every URL Apprise understands (ntfy,
Gotify, Telegram, Matrix, Signal, Pushover, Mattermost, Rocket.Chat, SMS gateways and about a
hundred more), through the same outbox as every channel.

The URLs carry tokens, so they live in the environment variable named by `urls_env` (one or
more, separated by spaces) and never in config.toml, the database or an error message: a URL
is named by its position and scheme only. Each URL gets `overflow=truncate` unless it says
otherwise, so Apprise cuts the body to that service's length limit instead of letting the
service refuse it. Apprise reports failure without a reason code: an unusable URL is
permanent, any failure to deliver is retried with the outbox's backoff. Each URL is notified
on its own, so when some accept and others fail, the retry goes only to those that failed
(the outbox keeps a hash of each accepting URL with the delivery, never the URL).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING

from monitor.adapters.channels.base import Outgoing, SenderDeps
from monitor.adapters.render import render_text, subject
from monitor.config import AppriseChannel
from monitor.errors import DeliveryError, PartialDeliveryError, PermanentDeliveryError

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


def part_key(url: str) -> str:
    """The key under which the outbox remembers that this URL accepted the message: a hash,
    so neither the URL nor its token reaches the database."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:20]


class AppriseSender:
    def __init__(self, name: str, config: AppriseChannel, deps: SenderDeps) -> None:
        self.name = name
        self.config = config
        self.deps = deps

    def _notifiers(self) -> list[tuple[int, str, apprise.Apprise]]:
        """(position, URL, a notifier for that URL alone) for every URL of the variable:
        one notifier each, so each URL's outcome is known on its own."""
        import apprise  # 0.1 s to import: only processes that send through it pay

        urls = self.deps.secret(self.name, "urls_env", self.config.urls_env).split()
        notifiers = []
        for position, url in enumerate(urls, start=1):
            notifier = apprise.Apprise()
            if not notifier.add(with_truncation(url)):
                raise PermanentDeliveryError(
                    f"channel {self.name}: URL {position} of {len(urls)} in "
                    f"${self.config.urls_env} ({scheme(url)}://...) is not one Apprise "
                    f"understands; check it with `apprise --dry-run URL`"
                )
            notifiers.append((position, url, notifier))
        return notifiers

    async def send(self, message: Outgoing) -> None:
        import apprise

        notifiers = self._notifiers()
        # URLs that accepted an earlier attempt of this delivery are not sent it again.
        due = [n for n in notifiers if part_key(n[1]) not in message.delivered_parts]
        body = render_text(message.content, digest_id=message.digest_id)
        title = subject(message.content)
        results = await asyncio.gather(
            *(
                notifier.async_notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT)
                for _, _, notifier in due
            )
        )
        failed = []
        accepted = []
        for (position, url, _), result in zip(due, results, strict=True):
            if result.status == apprise.AppriseResultStatus.SUCCESS:
                accepted.append(part_key(url))
                continue
            reasons = "; ".join(
                entry.message for entry in result.logs() if entry.level in ("ERROR", "WARNING")
            )
            detail = f": {reasons[:REASON_CHARS]}" if reasons else ""
            failed.append(
                f"URL {position} of {len(notifiers)} ({scheme(url)}://...): "
                f"{result.status.name.lower()}{detail}"
            )
        if not failed:
            return
        text = f"channel {self.name}: Apprise could not deliver to " + "; ".join(failed)
        if accepted or message.delivered_parts:
            others = len(notifiers) - len(failed)
            raise PartialDeliveryError(
                f"{text} ({others} of {len(notifiers)} accepted it and are not sent it again)",
                delivered=frozenset(accepted),
            )
        raise DeliveryError(text)
