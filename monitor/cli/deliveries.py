"""`monitor deliveries list|retry`: the outbox as people and scripts see it, and retrying it.

Thin: lists through flows.reports, retries and delivers through flows.outbox.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import asdict
from typing import Any

from monitor.app import utc_now
from monitor.cli.common import add_format, database_from, positive_int
from monitor.cli.digest import print_outcomes
from monitor.cli.output import print_json, print_table
from monitor.flows.outbox import Outbox
from monitor.flows.reports import list_deliveries

STATUSES = ("pending", "delivered", "dead")


def register(subparsers: Any) -> None:
    deliveries = subparsers.add_parser("deliveries", help="see and retry outbox deliveries")
    commands = deliveries.add_subparsers(
        dest="deliveries_command", metavar="COMMAND", required=True
    )
    listing = commands.add_parser(
        "list", help="deliveries, newest first: status, attempts, last error, next attempt"
    )
    add_format(listing)
    listing.add_argument("--status", choices=STATUSES, action="append", help="only these")
    listing.add_argument("--limit", type=positive_int, default=200, metavar="N")
    listing.set_defaults(func=list_command)
    retry = commands.add_parser(
        "retry",
        help="attempt pending and dead-lettered deliveries now, ignoring their backoff",
    )
    retry.add_argument("ids", nargs="*", type=positive_int, metavar="ID")
    retry.add_argument("--all", action="store_true", help="every pending and dead delivery")
    retry.set_defaults(func=retry_command, parser=retry)


def list_command(args: argparse.Namespace) -> int:
    _, engine = database_from(args)
    try:
        rows = list_deliveries(engine, statuses=args.status, limit=args.limit)
    finally:
        engine.dispose()
    if args.format == "json":
        print_json([asdict(row) for row in rows])
        return 0
    print_table(
        [asdict(row) for row in rows],
        [
            "id",
            "watchlist_id",
            "kind",
            "digest_id",
            "channel",
            "status",
            "attempts",
            "next_attempt_at",
            "last_error",
        ],
        title=f"{len(rows)} deliveries",
    )
    return 0


def retry_command(args: argparse.Namespace) -> int:
    if bool(args.ids) == bool(args.all):
        args.parser.error("give delivery IDs or --all (one of them)")
    settings, engine = database_from(args)
    try:
        now = utc_now()
        outbox = Outbox(engine, settings)
        result = outbox.schedule_retry(ids=args.ids or None, now=now)
        for ids, what in (
            (result.missing, "no such delivery"),
            (result.delivered, "already delivered"),
            (result.in_flight, "being sent by another worker right now"),
        ):
            for delivery_id in ids:
                print(f"  delivery {delivery_id}: {what}")
        if not result.scheduled:
            print("nothing to retry")
            return 1 if result.missing else 0
        print(f"retrying {len(result.scheduled)} deliveries")
        outcomes = asyncio.run(
            outbox.deliver_pending(
                now=now, delivery_ids=result.scheduled, limit=len(result.scheduled)
            )
        )
    finally:
        engine.dispose()
    delivered = print_outcomes(outcomes, settings)
    return 0 if delivered and not result.missing else 1
