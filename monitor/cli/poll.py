"""`monitor poll --once [--all]`: poll every due feed once, print a summary, exit."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from sqlalchemy import Engine

from monitor.app import load_watchlists_once, matching_for, open_database, poller, utc_now
from monitor.cli.common import settings_from
from monitor.cli.output import print_json
from monitor.config import Settings
from monitor.core.states import DeliveryStatus, DigestKind, FeedOutcome
from monitor.flows.backfill import apply_watchlists
from monitor.flows.outbox import Outbox
from monitor.flows.poll import FeedReport, Poller, PollSummary, run_poll_cycle


def register(subparsers: Any) -> None:
    poll = subparsers.add_parser(
        "poll", help="poll every due feed once and exit (for cron and debugging)"
    )
    poll.add_argument(
        "--once",
        action="store_true",
        required=True,
        help="poll once and exit (`monitor run` polls continuously)",
    )
    poll.add_argument("--all", action="store_true", help="poll every feed, due or not")
    poll.add_argument("--format", choices=["text", "json"], default="text")
    poll.set_defaults(func=poll_command)


def poll_command(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    engine = open_database(settings)
    try:
        summary = asyncio.run(_poll(settings, engine, args.all, show_progress=sys.stderr.isatty()))
    finally:
        engine.dispose()
    if args.format == "json":
        print_json(summary.as_dict())
    else:
        print(_summary_text(summary))
    if summary.every_parse_failed:
        failures = summary.parse_failures()
        print(
            f"monitor: poll: every fetched feed failed to parse ({len(failures)} of "
            f"{len(failures)}); the first: {failures[0].name}: {failures[0].error}",
            file=sys.stderr,
        )
        return 1
    return 0


async def _poll(
    settings: Settings, engine: Engine, ignore_schedule: bool, show_progress: bool
) -> PollSummary:
    watchlists = load_watchlists_once(settings)
    # Watchlists new or changed since the last run get the stored articles' matches first.
    await asyncio.to_thread(
        apply_watchlists,
        engine,
        watchlists,
        window=settings.watchlists.backfill,
        now=utc_now(),
    )
    process = matching_for(settings, engine, lambda: watchlists)
    async with poller(settings, engine, match_articles=process) as p:
        outbox = Outbox(engine, settings, owner=p.owner)
        if show_progress:
            return await _with_progress(p, outbox, ignore_schedule)
        return await run_poll_cycle(p, outbox, ignore_schedule=ignore_schedule)


async def _with_progress(p: Poller, outbox: Outbox, ignore_schedule: bool) -> PollSummary:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("polling"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, transient=True, console=None) as progress:
        task = progress.add_task("", total=None)

        def claimed(count: int) -> None:
            progress.update(task, total=count)

        def done(report: FeedReport) -> None:
            progress.update(task, advance=1, description=report.name)

        return await run_poll_cycle(
            p,
            outbox,
            ignore_schedule=ignore_schedule,
            on_feed_done=done,
            on_claimed=claimed,
        )


def _summary_text(summary: PollSummary) -> str:
    lines = [
        f"feeds polled: {summary.polled}",
        f"not modified: {summary.not_modified}",
        f"failed: {summary.failed}",
        f"new articles: {summary.new_articles}",
        f"matches: {summary.matches}",
    ]
    if summary.alerts:
        sent = [a for a in summary.alerts if a.status is DeliveryStatus.DELIVERED]
        lines.append(f"alerts delivered: {len(sent)} of {len(summary.alerts)}")
        lines.extend(
            f"  {a.watchlist_id} -> {a.channel}: {a.status.value} ({a.error})"
            for a in summary.alerts
            if a.status is not DeliveryStatus.DELIVERED
        )
    others = [d for d in summary.deliveries if d.kind is not DigestKind.ALERT]
    if others:
        sent = [d for d in others if d.status is DeliveryStatus.DELIVERED]
        lines.append(f"other deliveries sent: {len(sent)} of {len(others)}")
    failures = [r for r in summary.feeds if r.outcome in (FeedOutcome.FAILED, FeedOutcome.STOPPED)]
    if failures:
        lines.append("")
        lines.append("failures:")
        lines.extend(f"  {r.name}: {r.error}" for r in sorted(failures, key=lambda r: r.name))
    return "\n".join(lines)
