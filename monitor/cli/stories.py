"""`monitor stories list`: stories (clusters of near-copies across feeds) with their outlets."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from monitor.cli.common import add_format, database_from, duration_arg, since_time
from monitor.cli.output import print_json, print_table
from monitor.flows.reports import list_stories


def register(subparsers: Any) -> None:
    stories = subparsers.add_parser("stories", help="list stories and the outlets carrying them")
    commands = stories.add_subparsers(dest="stories_command", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="stories seen recently, newest first")
    listing.add_argument(
        "--since",
        type=duration_arg,
        default=timedelta(days=1),
        metavar="DURATION",
        help='stories seen within this long (default "1d")',
    )
    listing.add_argument(
        "--min-outlets",
        type=int,
        default=1,
        metavar="N",
        help="only stories carried by at least N outlets",
    )
    add_format(listing)
    listing.set_defaults(func=list_command)


def list_command(args: argparse.Namespace) -> int:
    _settings, engine = database_from(args)
    try:
        stories = list_stories(engine, since=since_time(args.since))
    finally:
        engine.dispose()
    stories = [s for s in stories if len(s["outlets"]) >= args.min_outlets]
    if args.format == "json":
        print_json(stories)
        return 0
    rows = [{**s, "outlets": ", ".join(s["outlets"])} for s in stories]
    print_table(
        rows,
        ["id", "last_seen_at", "article_count", "title", "outlets"],
        title=f"{len(stories)} stories",
    )
    return 0
