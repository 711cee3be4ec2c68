"""`monitor poll --once [--all]`: poll every due feed once, print a summary, exit."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from sqlalchemy import Engine

from monitor.app import load_watchlists_once, open_database, poller, processing_for, utc_now
from monitor.cli.common import settings_from
from monitor.cli.output import print_json
from monitor.config import Settings
from monitor.flows.delivery import send_alerts
from monitor.flows.poll import FeedReport, PollSummary


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
    return 0


async def _poll(
    settings: Settings, engine: Engine, ignore_schedule: bool, show_progress: bool
) -> PollSummary:
    started = utc_now()
    watchlists = load_watchlists_once(settings)
    process = processing_for(settings, engine, lambda: watchlists)
    async with poller(settings, engine, process_articles=process) as p:
        if show_progress:
            summary = await _with_progress(p, ignore_schedule)
        else:
            summary = await p.poll_once(ignore_schedule=ignore_schedule)
    # Strong matches are alerted within the cycle that found them, not at the next digest.
    outcomes = await send_alerts(engine, settings, watchlists, now=utc_now(), found_since=started)
    summary.alerts = [(o.watchlist_id, o.channel, o.status, o.error) for o in outcomes]
    return summary


async def _with_progress(p: Any, ignore_schedule: bool) -> PollSummary:
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

        return await p.poll_once(
            ignore_schedule=ignore_schedule, on_feed_done=done, on_claimed=claimed
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
        delivered = sum(1 for _, _, status, _ in summary.alerts if status == "delivered")
        lines.append(f"alerts delivered: {delivered} of {len(summary.alerts)}")
        lines.extend(
            f"  {watchlist} -> {channel}: {status} ({error})"
            for watchlist, channel, status, error in summary.alerts
            if status != "delivered"
        )
    failures = [r for r in summary.feeds if r.outcome in ("failed", "stopped")]
    if failures:
        lines.append("")
        lines.append("failures:")
        lines.extend(f"  {r.name}: {r.error}" for r in sorted(failures, key=lambda r: r.name))
    return "\n".join(lines)
