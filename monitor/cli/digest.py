"""`monitor digest preview|send ID`: what a watchlist's next digest holds, or send it now;
`monitor digest show DIGEST_ID`: a digest already made, every story of it.

Thin: loads the watchlist, calls flows.digests and flows.outbox, prints. `preview` and
`show` change nothing; `send` creates the digest (assigning its matches) and attempts its outbox
rows once; failed rows stay pending and `monitor deliveries retry` (or the daemon) retries them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from monitor.adapters.files.watchlists import load_watchlist_file
from monitor.adapters.render import json_payload, render_html, render_text
from monitor.app import utc_now
from monitor.cli.common import add_format, database_from
from monitor.cli.output import plural
from monitor.config import Settings
from monitor.core.digest import DigestContent
from monitor.core.states import DeliveryStatus
from monitor.core.watchlist import Watchlist
from monitor.errors import InputError, WatchlistError
from monitor.flows.digests import create_digest, preview_digest, stored_digest
from monitor.flows.outbox import DeliveryOutcome, Outbox


def register(subparsers: Any) -> None:
    digest = subparsers.add_parser("digest", help="preview or send a watchlist's digest")
    commands = digest.add_subparsers(dest="digest_command", metavar="COMMAND", required=True)
    preview = commands.add_parser(
        "preview", help="print what the next digest would hold (changes nothing)"
    )
    preview.add_argument("watchlist_id", metavar="ID", help="the watchlist (its file name)")
    add_format(preview, "text", "html", "json")
    preview.set_defaults(func=preview_command)
    send = commands.add_parser(
        "send", help="build the digest now and deliver it to the watchlist's channels"
    )
    send.add_argument("watchlist_id", metavar="ID", help="the watchlist (its file name)")
    send.set_defaults(func=send_command)
    show = commands.add_parser(
        "show", help="print a digest or alert already made, every story of it (changes nothing)"
    )
    show.add_argument("digest_id", metavar="DIGEST_ID", type=int, help="as `digest send` prints it")
    add_format(show, "text", "html", "json")
    show.set_defaults(func=show_command)


def load_watchlist(settings: Settings, watchlist_id: str) -> Watchlist:
    path = settings.watchlist_dir / f"{watchlist_id}.toml"
    if not path.is_file():
        raise WatchlistError(f"{path}: no such watchlist (ids are the file names in {path.parent})")
    return load_watchlist_file(path, known_channels=settings.channels.keys())


def preview_command(args: argparse.Namespace) -> int:
    settings, engine = database_from(args)
    try:
        watchlist = load_watchlist(settings, args.watchlist_id)
        content = preview_digest(engine, watchlist, now=utc_now())
    finally:
        engine.dispose()
    print_content(content, args.format, None, more_in=None)
    return 0


def print_content(
    content: DigestContent, fmt: str, digest_id: int | None, *, more_in: int | None
) -> None:
    """`more_in`: the digest whose `digest show` lists what "and N more" leaves out (None:
    the text points at `articles list` instead)."""
    if fmt == "html":
        sys.stdout.write(render_html(content, digest_id=more_in))
    elif fmt == "json":
        print(json.dumps(json_payload(digest_id, content), ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(render_text(content, digest_id=more_in))


def show_command(args: argparse.Namespace) -> int:
    _, engine = database_from(args)
    try:
        content = stored_digest(engine, args.digest_id)
    finally:
        engine.dispose()
    if content is None:
        raise InputError(
            f"no such digest: {args.digest_id} (`monitor deliveries list` shows digest ids)"
        )
    whole = content.complete()
    # A digest made before the rest was kept has only its shown stories: its "and N more"
    # must not send the reader back to this very command.
    more_in = args.digest_id if not whole.omitted else None
    print_content(whole, args.format, args.digest_id, more_in=more_in)
    return 0


def print_outcomes(outcomes: Sequence[DeliveryOutcome], settings: Settings) -> bool:
    """One line per attempt; True when every one was delivered."""
    for outcome in outcomes:
        kind = getattr(settings.channels.get(outcome.channel), "type", "?")
        line = f"  delivery {outcome.delivery_id} to {outcome.channel} ({kind}): {outcome.status}"
        if outcome.error:
            line += f" after attempt {outcome.attempts}: {outcome.error}"
        if outcome.next_attempt_at is not None:
            line += f"; next attempt {outcome.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC"
        print(line)
    return all(o.status is DeliveryStatus.DELIVERED for o in outcomes)


def send_command(args: argparse.Namespace) -> int:
    settings, engine = database_from(args)
    try:
        watchlist = load_watchlist(settings, args.watchlist_id)
        now = utc_now()
        created = create_digest(engine, settings, watchlist, now=now)
        stories = created.content.total
        print(
            f"digest {created.digest_id} for {watchlist.id}: "
            f"{plural(stories, 'story')}, "
            f"{plural(len(created.delivery_ids), 'delivery')}"
        )
        if not created.delivery_ids:
            reason = "no channels" if not watchlist.channels else "nothing new (send_empty = false)"
            print(f"  nothing sent: {reason}")
            return 0
        outcomes = asyncio.run(
            Outbox(engine, settings).deliver_pending(now=now, delivery_ids=created.delivery_ids)
        )
    finally:
        engine.dispose()
    return 0 if print_outcomes(outcomes, settings) else 1
