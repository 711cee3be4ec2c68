"""`monitor articles list`: what has been stored, newest first."""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy import Engine

from monitor.cli.common import add_format, database_from, duration_arg, positive_int, since_time
from monitor.cli.output import plural, print_json, print_table
from monitor.config import Settings
from monitor.errors import InputError
from monitor.flows.reports import known_names, list_articles

# The table's columns; JSON has every field (README, "Command line").
TABLE_COLUMNS = ["id", "fetched_at", "published_at", "outlet", "title", "story_id"]


def register(subparsers: Any) -> None:
    articles = subparsers.add_parser("articles", help="list stored articles")
    commands = articles.add_subparsers(dest="articles_command", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="stored articles, newest first")
    listing.add_argument(
        "--since",
        type=duration_arg,
        metavar="DURATION",
        help='only articles fetched (first stored) within this long, e.g. "7d"',
    )
    listing.add_argument(
        "--limit",
        type=positive_int,
        metavar="N",
        help="at most N articles (JSON lists every match without it; the table shows 50)",
    )
    listing.add_argument("--feed", metavar="NAME", help="only this feed's articles")
    listing.add_argument(
        "--watchlist",
        metavar="ID",
        help="only articles that matched it; JSON gains their stored `score` and `matched`",
    )
    listing.add_argument(
        "--text-chars",
        type=positive_int,
        default=500,
        metavar="N",
        help="JSON `summary`: the stored plain text cut to N characters (default: 500)",
    )
    add_format(listing)
    listing.set_defaults(func=list_command)


def check_names(
    settings: Settings, engine: Engine, *, feed: str | None, watchlist: str | None
) -> None:
    """An unknown --feed or --watchlist is a typo, not an empty result: say so (exit 2)."""
    if feed is None and watchlist is None:
        return
    feeds, matched = known_names(engine)
    if feed is not None and feed not in feeds:
        raise InputError(
            f"--feed {feed!r}: no such feed; known: {', '.join(sorted(feeds)) or 'none yet'}"
        )
    if watchlist is not None:
        ids = matched | {p.stem for p in settings.watchlist_dir.glob("*.toml")}
        if watchlist not in ids:
            raise InputError(
                f"--watchlist {watchlist!r}: no such watchlist in {settings.watchlist_dir}; "
                f"known: {', '.join(sorted(ids)) or 'none'}"
            )


def list_command(args: argparse.Namespace) -> int:
    settings, engine = database_from(args)
    limit = args.limit if args.limit or args.format == "json" else 50
    try:
        check_names(settings, engine, feed=args.feed, watchlist=args.watchlist)
        rows = list_articles(
            engine,
            since=since_time(args.since),
            limit=limit,
            feed=args.feed,
            watchlist=args.watchlist,
            text_chars=args.text_chars,
        )
    finally:
        engine.dispose()
    if args.format == "json":
        print_json(rows)
    else:
        columns = list(TABLE_COLUMNS)
        if args.watchlist:
            columns.append("score")
        print_table(rows, columns, title=plural(len(rows), "article"))
    return 0
