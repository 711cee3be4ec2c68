"""`monitor backtest ID [--file PATH] [--since 30d]`: what an edit of a watchlist would change
over the stored articles, before it is saved. Read-only; the replay is flows/backtest.py's."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from monitor.adapters.files.watchlists import display_path, load_watchlist_file, load_watchlists
from monitor.app import utc_now
from monitor.cli.common import database_from, duration_arg
from monitor.cli.output import print_json
from monitor.core.backtest import ChangedStory
from monitor.core.label_replay import LabelCounts
from monitor.core.watchlist import Watchlist
from monitor.errors import WatchlistError
from monitor.flows.backtest import (
    BacktestReport,
    backtest_index,
    run_backtest,
    watchlist_in_force,
)


def register(subparsers: Any) -> None:
    backtest = subparsers.add_parser(
        "backtest",
        help="replay stored articles through an edited watchlist and show what changes",
        description="Scores the articles stored within --since under the watchlist in force "
        "(the version `monitor run` or `monitor poll` last applied) and under the edit "
        "(--file, default: the watchlist's file as it is on disk now), and lists the stories "
        "the edit adds and removes. Writes nothing.",
    )
    backtest.add_argument("watchlist_id", metavar="ID", help="the watchlist (its file stem)")
    backtest.add_argument(
        "--file",
        type=Path,
        metavar="PATH",
        help="the edited watchlist (default: ID.toml in the watchlist folder)",
    )
    backtest.add_argument(
        "--since",
        type=duration_arg,
        default=timedelta(days=30),
        metavar="DURATION",
        help='articles stored within this long (default: "30d"; text is kept for [retention] days)',
    )
    backtest.add_argument("--format", choices=("text", "json"), default="text")
    backtest.set_defaults(func=backtest_command)


def backtest_command(args: argparse.Namespace, stream: TextIO | None = None) -> int:
    out = stream or sys.stdout
    settings, engine = database_from(args)
    channels = settings.channels.keys()
    on_disk = settings.watchlist_dir / f"{args.watchlist_id}.toml"
    edited_path: Path = args.file or on_disk
    try:
        after = _with_id(load_watchlist_file(edited_path, known_channels=channels), args)
        before = watchlist_in_force(engine, args.watchlist_id)
        source = "recorded"
        if before is None:
            before, source = _file_in_force(on_disk, edited_path, channels, args)
        folder = load_watchlists(settings.watchlist_dir, known_channels=channels).watchlists
        # Examples as they will be read once the edit is saved in the folder: a draft in /tmp
        # names them relative to where it is going, not to where it is.
        index, skipped = backtest_index(
            folder, settings.watchlist_dir, after=after, after_path=on_disk, before=before
        )
        for problem in skipped:
            print(f"monitor: semantic part skipped: {problem}", file=sys.stderr)
        report = run_backtest(
            engine,
            before=before,
            after=after,
            since=utc_now() - args.since,
            before_source=source,
            semantic=index,
        )
    finally:
        engine.dispose()
    if args.format == "json":
        print_json(report.as_dict(), out)
    else:
        print_text(report, edited_path, out)
    return 0


def _with_id(watchlist: Watchlist, args: argparse.Namespace) -> Watchlist:
    # --file draft.toml is an edit of ID, whatever the draft's file is called.
    return dataclasses.replace(watchlist, id=args.watchlist_id)


def _file_in_force(
    on_disk: Path, edited: Path, channels: Any, args: argparse.Namespace
) -> tuple[Watchlist | None, str]:
    """Nothing recorded (no daemon or poll has applied it yet): the file on disk is what is in
    force when the edit is elsewhere, and nothing is when the edit is that file."""
    if edited.resolve() == on_disk.resolve() or not on_disk.exists():
        return None, "none"
    try:
        return _with_id(load_watchlist_file(on_disk, known_channels=channels), args), "file"
    except WatchlistError:
        return None, "none"


def print_text(report: BacktestReport, edited: Path, out: TextIO) -> None:
    diff = report.diff
    before = {
        "recorded": "the version in force",
        "file": "the file on disk (no version in force recorded yet)",
        "none": "nothing (no version in force recorded: a new watchlist)",
    }[report.before_source]
    print(
        f"backtest {report.watchlist_id}: {display_path(edited)} against {before}, "
        f"articles stored since {report.since:%Y-%m-%d %H:%M} UTC",
        file=out,
    )
    print(
        f"scanned {diff.scanned} articles: matched before {diff.before.matched} "
        f"({diff.before.stories} stories, {diff.before.alerts} alerts), after "
        f"{diff.after.matched} ({diff.after.stories} stories, {diff.after.alerts} alerts); "
        f"{len(diff.added)} stories added, {len(diff.removed)} removed",
        file=out,
    )
    for label, items in (("added", diff.added), ("removed", diff.removed)):
        if items:
            print(f"\n{label}:", file=out)
            for item in items:
                _print_item(item, out)
    _print_labels(report, out)
    print(
        f"\n{diff.scanned} articles in {report.seconds:.3f} s: "
        f"{report.articles_per_second:,.0f} articles/s",
        file=out,
    )


def _print_item(item: ChangedStory, out: TextIO) -> None:
    story = f"story {item.story_id}" if item.story_id is not None else "no story"
    print(
        f"  {item.score_before:g} -> {item.score_after:g}  article {item.article_id} ({story}): "
        f"{item.title or '(no title)'}",
        file=out,
    )
    if item.url:
        print(f"      {item.url}", file=out)
    print(f"      {item.reason}", file=out)
    for change in item.changes:
        print(f"      {change.term}: {change.before:g} -> {change.after:g}", file=out)


def _print_labels(report: BacktestReport, out: TextIO) -> None:
    labels = report.labels
    if labels is None:
        print("\nno labelled articles: precision needs `monitor feedback` labels", file=out)
        return
    print(
        f"\non {labels.labelled} labelled articles: precision before "
        f"{_precision(labels.before)}, after {_precision(labels.after)}; "
        f"{len(labels.flips)} change verdict",
        file=out,
    )
    for flip in labels.flips:
        verdict = "now matches" if flip.matched_after else "no longer matches"
        agrees = "as its label wants" if flip.good else "against its label"
        story = f"story {flip.story_id}" if flip.story_id is not None else "no story"
        print(
            f"  {flip.label.value}: {verdict} ({agrees}), {flip.score_before:g} -> "
            f"{flip.score_after:g}  article {flip.article_id} ({story}): "
            f"{flip.title or '(no title)'}",
            file=out,
        )
        print(f"      {flip.reason}", file=out)


def _precision(counts: LabelCounts) -> str:
    value = f"{counts.precision:.2f}" if counts.precision is not None else "n/a"
    return f"{value} ({counts.relevant} relevant, {counts.irrelevant} irrelevant match)"
