"""`monitor articles list`: what has been stored, newest first."""

from __future__ import annotations

import argparse
from typing import Any

from monitor.cli.common import add_format, database_from, duration_arg, positive_int, since_time
from monitor.cli.output import print_json, print_table
from monitor.flows.reports import list_articles


def register(subparsers: Any) -> None:
    articles = subparsers.add_parser("articles", help="list stored articles")
    commands = articles.add_subparsers(dest="articles_command", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="stored articles, newest first")
    listing.add_argument(
        "--since",
        type=duration_arg,
        metavar="DURATION",
        help='only articles published within this long, e.g. "7d"',
    )
    listing.add_argument(
        "--limit",
        type=positive_int,
        metavar="N",
        help="at most N articles (JSON lists every match without it; the table shows 50)",
    )
    listing.add_argument("--feed", metavar="NAME", help="only this feed's articles")
    listing.add_argument("--watchlist", metavar="ID", help="only articles that matched it")
    add_format(listing)
    listing.set_defaults(func=list_command)


def list_command(args: argparse.Namespace) -> int:
    _settings, engine = database_from(args)
    limit = args.limit if args.limit or args.format == "json" else 50
    try:
        rows = list_articles(
            engine,
            since=since_time(args.since),
            limit=limit,
            feed=args.feed,
            watchlist=args.watchlist,
        )
    finally:
        engine.dispose()
    if args.format == "json":
        print_json(rows)
    else:
        print_table(
            rows, ["id", "published_at", "feed", "title", "story_id"], title=f"{len(rows)} articles"
        )
    return 0
