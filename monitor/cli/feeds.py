"""`monitor feeds ...`: feed health, OPML exchange with feed readers, and managing feeds:
add, remove, disable, enable, test, reset. Feeds from config.toml are read-only here."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.app import utc_now
from monitor.cli.common import add_format, database_from, duration_arg, settings_from
from monitor.cli.output import plural, print_json, print_table
from monitor.core.model import NormalizedEntry
from monitor.core.opml import OPMLFeed, is_feed_url, read_opml, slug, write_opml
from monitor.errors import InputError, OPMLError
from monitor.flows.feeds import (
    FeedProbe,
    add_feed,
    check_new_feed,
    import_feeds,
    list_feeds,
    probe_feed,
    remove_feed,
    reset_feed,
    set_enabled,
)


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

    adding = commands.add_parser(
        "add", help="fetch a feed once, say what it holds, and add it (polled from the next tick)"
    )
    adding.add_argument("url", metavar="URL")
    adding.add_argument("--name", help="its name (default: from its title, else its host)")
    adding.add_argument(
        "--tag", dest="tags", action="append", default=[], metavar="TAG", help="repeatable"
    )
    adding.add_argument(
        "--interval", type=duration_arg, metavar="DURATION", help='e.g. "10m" (default: config)'
    )
    adding.set_defaults(func=add_command)
    removing = commands.add_parser(
        "remove", help="delete a feed added by import or `feeds add`, with its articles"
    )
    removing.add_argument("name", metavar="NAME")
    removing.set_defaults(func=remove_command)
    for verb, what in (
        ("disable", "stop polling a feed until `enable`"),
        ("enable", "poll a disabled feed again"),
    ):
        parser = commands.add_parser(verb, help=what)
        parser.add_argument("name", metavar="NAME")
        parser.set_defaults(func=enable_command, enable=verb == "enable")
    testing = commands.add_parser(
        "test", help="fetch and parse a URL and print what `poll` would store; stores nothing"
    )
    testing.add_argument("url", metavar="URL")
    add_format(testing, "text", "json")
    testing.set_defaults(func=test_command)
    resetting = commands.add_parser(
        "reset", help="clear a feed's backoff and errors (a 410 stop too); poll it at the next tick"
    )
    resetting.add_argument("name", metavar="NAME")
    resetting.set_defaults(func=reset_command)


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
            "title",
            "state",
            "last_status",
            "consecutive_failures",
            "articles",
            "last_success_at",
            "next_poll_at",
            "last_error",
        ],
        title=plural(len(rows), "feed"),
    )
    return 0


def import_command(args: argparse.Namespace) -> int:
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise OPMLError(f"{args.file}: cannot read: {exc.strerror}") from None
    document = read_opml(data)
    settings, engine = database_from(args)
    try:
        plan = import_feeds(engine, settings, document.feeds, now=utc_now())
    finally:
        engine.dispose()
    found = len(document.feeds) + len(document.rejected)
    line = (
        f"{args.file}: {plural(found, 'feed')} found, {len(plan.add)} added, "
        f"{len(plan.present)} already present"
    )
    if document.rejected:
        line += f", {len(document.rejected)} refused"
    print(line)
    for feed in plan.add:
        renamed = [old for old, new in plan.renamed.items() if new == feed.name]
        note = f" (renamed from {renamed[0]!r}: that name is taken)" if renamed else ""
        tags = f" [{', '.join(feed.tags)}]" if feed.tags else ""
        print(f"  + {feed.name}{tags}{note}")
    for problem in document.rejected:
        print(f"  ! {problem}")
    return 0


def export_command(args: argparse.Namespace) -> int:
    rows = _synced_rows(args)
    feeds = [
        OPMLFeed(r["name"], r["url"], tuple(r["tags"])) for r in rows if r["state"] != "stopped"
    ]
    sys.stdout.write(write_opml(feeds, title="monitor feeds", created=utc_now()))
    return 0


def _probe(args: argparse.Namespace, url: str) -> FeedProbe:
    from monitor.app import http_client, make_fetcher

    settings = settings_from(args)

    async def fetch() -> FeedProbe:
        async with http_client(settings) as client:
            return await probe_feed(make_fetcher(settings, client), url, now=utc_now())

    return asyncio.run(fetch())


def _found_line(probe: FeedProbe) -> str:
    where = f" (from {probe.final_url})" if probe.final_url and probe.final_url != probe.url else ""
    return (
        f"{probe.title or '(no title)'}: {probe.format or 'unknown format'}, "
        f"{plural(len(probe.entries), 'entry')}{where}"
    )


def add_command(args: argparse.Namespace) -> int:
    settings, engine = database_from(args)
    try:
        check_new_feed(engine, settings, args.url, args.name, now=utc_now())
        probe = _probe(args, args.url)
        if probe.error:
            print(f"monitor: fetch: {args.url}: {probe.error}; not added", file=sys.stderr)
            return 1
        name = args.name or slug(probe.title or "") or slug(urlsplit(args.url).hostname or "")
        name = add_feed(
            engine,
            url=args.url,
            name=name or "feed",
            tags=[slug(t) or t for t in args.tags],
            interval=args.interval,
            now=utc_now(),
        )
    finally:
        engine.dispose()
    print(f"added {name}: {_found_line(probe)}")
    if probe.warning:
        print(f"  warning: {probe.warning}")
    print("  first poll at the next tick (`monitor poll --once` polls it now)")
    return 0


def remove_command(args: argparse.Namespace) -> int:
    settings, engine = database_from(args)
    try:
        count = remove_feed(engine, settings, args.name, now=utc_now())
    finally:
        engine.dispose()
    print(f"removed {args.name} and its {plural(count, 'article')}")
    return 0


def enable_command(args: argparse.Namespace) -> int:
    settings, engine = database_from(args)
    try:
        before = set_enabled(engine, settings, args.name, args.enable, now=utc_now())
    finally:
        engine.dispose()
    verb = "enabled" if args.enable else "disabled"
    unchanged = (before == "disabled") != args.enable
    print(f"{args.name}: {'already ' if unchanged else ''}{verb}")
    return 0


def reset_command(args: argparse.Namespace) -> int:
    settings, engine = database_from(args)
    try:
        before = reset_feed(engine, settings, args.name, now=utc_now())
    finally:
        engine.dispose()
    note = " (still disabled: `feeds enable` resumes it)" if before == "disabled" else ""
    print(f"{args.name}: reset from {before}; polled at the next tick{note}")
    return 0


def test_command(args: argparse.Namespace) -> int:
    if not is_feed_url(args.url):
        raise InputError(f"{args.url!r}: not an http:// or https:// URL with a host")
    probe = _probe(args, args.url)
    if args.format == "json":
        print_json(
            {
                "url": probe.url,
                "final_url": probe.final_url,
                "status": probe.status,
                "title": probe.title,
                "format": probe.format,
                "warning": probe.warning,
                "error": probe.error,
                "entries": [_entry_json(entry) for entry in probe.entries],
            }
        )
        return 1 if probe.error else 0
    if probe.error:
        print(f"monitor: fetch: {args.url}: {probe.error}", file=sys.stderr)
        return 1
    print(_found_line(probe))
    if probe.warning:
        print(f"warning: {probe.warning}")
    for entry in probe.entries:
        print(f"  {entry.published_at:%Y-%m-%d %H:%M} UTC  {entry.title or '(no title)'}")
        identity = f"guid {entry.guid}" if entry.guid else f"key {entry.identity_key[:16]}"
        print(f"      {entry.url or '(no link)'}  {identity}")
    return 0


__all__ = ["OPMLError"]


def _entry_json(entry: NormalizedEntry) -> dict[str, Any]:
    """What `poll` would store of an entry, as JSON; what the parse workers derive for the
    writer (hashed words, the story signature and its bands) is internal, bytes mostly, and of
    no use to a reader."""
    fields = asdict(entry)
    for derived in ("semantic_features", "story_signature", "story_bands"):
        fields.pop(derived, None)
    return fields
