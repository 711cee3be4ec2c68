"""`monitor stories list`: stories (clusters of near-copies across feeds) with their outlets
and, in order, their developments (the later articles delivered as updates of the story)."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from monitor.adapters.render import utc_iso
from monitor.cli.common import add_format, database_from, duration_arg, positive_int, since_time
from monitor.cli.output import plural, print_json, print_table
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
        type=positive_int,
        default=1,
        metavar="N",
        help="only stories carried by at least N outlets",
    )
    listing.add_argument(
        "--limit", type=positive_int, metavar="N", help="at most N stories, newest first"
    )
    add_format(listing)
    listing.set_defaults(func=list_command)


def list_command(args: argparse.Namespace) -> int:
    _settings, engine = database_from(args)
    try:
        stories = list_stories(engine, since=since_time(args.since))
    finally:
        engine.dispose()
    stories = [s for s in stories if len(s["outlets"]) >= args.min_outlets][: args.limit]
    if args.format == "json":
        print_json(stories)
        return 0
    rows = [
        {**s, "outlets": ", ".join(s["outlets"]), "updates": len(s["developments"])}
        for s in stories
    ]
    print_table(
        rows,
        ["id", "last_seen_at", "article_count", "title", "outlets", "updates"],
        title=plural(len(stories), "story"),
    )
    for story in stories:
        if story["developments"]:
            print(f"\nstory {story['id']}: {plural(len(story['developments']), 'development')}")
        for n, update in enumerate(story["developments"], 1):
            print(
                f"  {n}. {utc_iso(update['published_at'])}  {update['title']}  ({update['rule']})"
            )
    return 0
