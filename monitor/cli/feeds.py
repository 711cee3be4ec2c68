"""`monitor feeds list|import|export`: feed health and OPML exchange with feed readers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from monitor.app import utc_now
from monitor.cli.common import add_format, database_from
from monitor.cli.output import print_json, print_table
from monitor.core.opml import OPMLFeed, read_opml, write_opml
from monitor.errors import OPMLError
from monitor.flows.feeds import import_feeds, list_feeds


def register(subparsers: Any) -> None:
    feeds = subparsers.add_parser("feeds", help="list, import and export feeds")
    commands = feeds.add_subparsers(dest="feeds_command", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="every feed with its polling health")
    add_format(listing)
    listing.set_defaults(func=list_command)
    importing = commands.add_parser("import", help="add the feeds of an OPML file")
    importing.add_argument("file", type=Path, metavar="FILE.opml")
    importing.set_defaults(func=import_command)
    exporting = commands.add_parser("export", help="print every active feed as OPML 2.0")
    exporting.set_defaults(func=export_command)


def _synced_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    settings, engine = database_from(args)
    try:
        return list_feeds(engine, settings, now=utc_now())
    finally:
        engine.dispose()


def list_command(args: argparse.Namespace) -> int:
    rows = _synced_rows(args)
    if args.format == "json":
        print_json([{k: v for k, v in row.items() if k != "configured_url"} for row in rows])
        return 0
    print_table(
        rows,
        [
            "name",
            "state",
            "last_status",
            "consecutive_failures",
            "articles",
            "last_success_at",
            "next_poll_at",
            "last_error",
        ],
        title=f"{len(rows)} feeds",
    )
    return 0


def import_command(args: argparse.Namespace) -> int:
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise OPMLError(f"{args.file}: cannot read: {exc.strerror}") from None
    found = read_opml(data)
    settings, engine = database_from(args)
    try:
        added = import_feeds(engine, settings, found, now=utc_now())
    finally:
        engine.dispose()
    print(
        f"{args.file}: {len(found)} feeds found, {len(added)} added, "
        f"{len(found) - len(added)} already present"
    )
    for name in added:
        print(f"  + {name}")
    return 0


def export_command(args: argparse.Namespace) -> int:
    rows = _synced_rows(args)
    feeds = [
        OPMLFeed(r["name"], r["url"], tuple(r["tags"])) for r in rows if r["state"] != "stopped"
    ]
    sys.stdout.write(write_opml(feeds, title="monitor feeds", created=utc_now()))
    return 0


__all__ = ["OPMLError"]
