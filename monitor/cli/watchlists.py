"""`monitor watchlists check|suggest|apply|stats`: validate watchlist files; draft one from
documents; backfill one by hand (flows/backfill.py); how good one is, from the analysts' labels
(flows/watchlist_stats.py)."""

from __future__ import annotations

import argparse
import dataclasses
import glob
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from monitor.adapters.files.articles import read_document
from monitor.adapters.files.examples import example_problems
from monitor.adapters.files.watchlists import (
    display_path,
    load_watchlist_file,
    load_watchlist_paths,
)
from monitor.app import load_watchlists_once, semantic_indexes, utc_now
from monitor.cli.common import database_from, duration_arg
from monitor.cli.output import plural, print_json
from monitor.config import load_settings
from monitor.core.feedback_stats import WatchlistStats
from monitor.core.suggest import Document, suggest_watchlist
from monitor.core.watchlist import Watchlist
from monitor.core.watchlist.lines import LineIndex
from monitor.core.watchlist.reach import ConfigNames, delivery_problems
from monitor.errors import ConfigError, InputError, MonitorError, ParseError
from monitor.flows.backfill import backfill_watchlist
from monitor.flows.watchlist_stats import stats_of_watchlist

DEFAULT_DIR = Path("watchlists")


def register(subparsers: Any) -> None:
    watchlists = subparsers.add_parser("watchlists", help="check and draft watchlists")
    commands = watchlists.add_subparsers(
        dest="watchlists_command", metavar="COMMAND", required=True
    )
    check = commands.add_parser(
        "check",
        help="validate watchlist files; exit 1 and print every problem if any is invalid",
    )
    check.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="watchlist files or folders (default: the watchlist folder of the config)",
    )
    check.set_defaults(func=check_command)
    suggest = commands.add_parser(
        "suggest", help="print a draft watchlist (TOML) from the distinctive terms of documents"
    )
    suggest.add_argument(
        "documents", nargs="+", type=Path, metavar="DOC", help="text (.txt, .md) or HTML documents"
    )
    suggest.add_argument(
        "--id",
        dest="watchlist_id",
        metavar="ID",
        help="the id the watchlist will have (its file name without .toml)",
    )
    suggest.add_argument(
        "--max-terms", type=int, default=25, metavar="N", help="at most N terms (default: 25)"
    )
    suggest.set_defaults(func=suggest_command)
    apply = commands.add_parser(
        "apply",
        help="score recently stored articles against a watchlist and keep the matches for "
        "its next digest (what a reload does for a new or changed watchlist)",
    )
    apply.add_argument("watchlist_id", metavar="ID", help="the watchlist (its file stem)")
    apply.add_argument(
        "--since",
        type=duration_arg,
        metavar="DURATION",
        help="articles stored within this long (default: [watchlists] backfill, else 3d)",
    )
    apply.add_argument("--format", choices=("text", "json"), default="text")
    apply.set_defaults(func=apply_command)
    stats = commands.add_parser(
        "stats",
        help="how good a watchlist is: matches, alerts, precision from labels, the noisy terms "
        "and the edits that would remove their noise (checked by replay)",
    )
    stats.add_argument("watchlist_id", metavar="ID", help="the watchlist (its file stem)")
    stats.add_argument(
        "--since",
        type=duration_arg,
        default=timedelta(days=30),
        metavar="DURATION",
        help='matches stored within this long (default: "30d")',
    )
    stats.add_argument("--format", choices=("text", "json"), default="text")
    stats.set_defaults(func=stats_command)


def watchlist_context(config: str | None) -> tuple[Path, frozenset[str] | None, str | None]:
    """The configured watchlist folder and channel names, or ./watchlists and no channels.

    The third value is a note saying why the config could not be used, if it could not.
    """
    directory, names, note = config_names(config)
    return directory, frozenset(names.channels) if names.channels is not None else None, note


def config_names(config: str | None) -> tuple[Path, ConfigNames, str | None]:
    """The watchlist folder and the channel, feed and tag names of the config; when the config
    cannot be used, ./watchlists, nothing known, and a note saying why."""
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        reason = exc.problems[0] if exc.problems else str(exc)
        note = f"note: config not used ({reason}); channels and feeds are not checked"
        return DEFAULT_DIR, ConfigNames(), note
    names = ConfigNames(
        channels=frozenset(settings.channels),
        feeds=frozenset(feed.name for feed in settings.feeds),
        tags=frozenset(tag for feed in settings.feeds for tag in feed.tags),
    )
    return settings.watchlist_dir, names, None


def _watchlist_files(paths: Sequence[Path]) -> tuple[list[Path], list[str]]:
    files: list[Path] = []
    problems: list[str] = []
    missing = [path for path in paths if not path.exists()]
    if missing:  # a mistyped argument, not an invalid watchlist: exit 2
        raise InputError(f"{display_path(missing[0])}: no such file or folder")
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.toml"))
            if not found:
                problems.append(f"{display_path(path)}: no *.toml watchlist files in this folder")
            files += found
        elif path.exists():
            files.append(path)
        else:
            problems.append(f"{display_path(path)}: no such file or folder")
    return files, problems


def check_command(args: argparse.Namespace) -> int:
    directory, names, note = config_names(args.config)
    channels = frozenset(names.channels) if names.channels is not None else None
    if note:
        print(note, file=sys.stderr)
    files, problems = _watchlist_files(args.paths or [directory])
    seen: dict[str, Path] = {}
    for path in files:
        if path.stem in seen and seen[path.stem].resolve() != path.resolve():
            problems.append(
                f"{display_path(path)}: (file name): id {path.stem!r} is also the "
                f"id of {display_path(seen[path.stem])}; ids must be unique"
            )
        seen.setdefault(path.stem, path)
    loaded = load_watchlist_paths(dict.fromkeys(files), known_channels=channels)
    for watchlist in loaded.watchlists:
        # Example files are read here, not when the watchlist loads: a missing example is
        # reported, and the watchlist's terms still work.
        problems += _example_problems(watchlist, seen[watchlist.id], directory)
        problems += delivery_problems(watchlist, names, lines=_line_index(seen[watchlist.id]))
        print(
            f"{watchlist.source}: ok ({plural(len(watchlist.terms), 'term')}, threshold "
            f"{watchlist.threshold:g}, schedule {watchlist.schedule!r} {watchlist.timezone})"
        )
    for file_problems in loaded.problems.values():
        problems += file_problems
    for problem in problems:
        print(problem)
    bad = len(loaded.problems)
    print(
        f"{len(loaded.watchlists)} valid, {bad} invalid"
        + (f", {plural(len(problems), 'problem')}" if problems else "")
    )
    return 1 if problems else 0


def _example_problems(watchlist: Watchlist, path: Path, directory: Path) -> list[str]:
    """The example files' problems, read relative to the file. A draft checked outside the
    watchlist folder (`cp watchlists/idlib.toml /tmp/` and edit, as the README shows) is
    also read from where it will be saved, as `backtest --file` reads it; it passes if
    either finds every example."""
    problems = example_problems(watchlist, path)
    if problems and path.resolve().parent != directory.resolve():
        saved = example_problems(watchlist, directory / path.name)
        if not saved:
            return []
    return problems


def _line_index(path: Path) -> LineIndex:
    # The file loaded a moment ago; read again only for the line numbers of messages.
    try:
        return LineIndex(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return LineIndex("")


def apply_command(args: argparse.Namespace) -> int:
    settings, engine = database_from(args)
    path = settings.watchlist_dir / f"{args.watchlist_id}.toml"
    try:
        watchlist = load_watchlist_file(path, known_channels=settings.channels.keys())
        since = args.since or settings.watchlists.backfill or timedelta(days=3)
        now = utc_now()
        semantic = semantic_indexes(settings)(load_watchlists_once(settings))  # as a poll's
        result = backfill_watchlist(
            engine, watchlist, since=now - since, now=now, semantic=semantic
        )
    finally:
        engine.dispose()
    if args.format == "json":
        print_json(dataclasses.asdict(result))
    else:
        print(
            f"{args.watchlist_id}: {result.scanned} stored articles scanned, {result.matched} "
            f"match; {result.recorded} recorded for the next digest ({result.already_matched} "
            f"had a match already, {result.delivered} belong to stories delivered before)"
        )
    return 0


def stats_command(args: argparse.Namespace, stream: TextIO | None = None) -> int:
    out = stream or sys.stdout
    settings, engine = database_from(args)
    path = settings.watchlist_dir / f"{args.watchlist_id}.toml"
    try:
        watchlist = load_watchlist_file(path, known_channels=settings.channels.keys())
        now = utc_now()
        stats = stats_of_watchlist(engine, watchlist, since=now - args.since, now=now)
    finally:
        engine.dispose()
    if args.format == "json":
        print_json(stats.as_dict(), out)
    else:
        print_stats(stats, out)
    return 0


def print_stats(stats: WatchlistStats, out: TextIO) -> None:
    days = (stats.until - stats.since).total_seconds() / 86400
    print(
        f"stats {stats.watchlist_id}: matches stored since {stats.since:%Y-%m-%d %H:%M} UTC "
        f"({days:g} days)",
        file=out,
    )
    print(
        f"{plural(stats.matches, 'match')} ({plural(stats.stories, 'story')}), "
        f"{plural(stats.alerts, 'alert')}",
        file=out,
    )
    if stats.per_day:
        shown = ", ".join(f"{day:%m-%d} {n}" for day, n in stats.per_day)
        print(f"matches per day (UTC): {shown}", file=out)
    share = f" ({stats.labelled_share:.0%})" if stats.labelled_share is not None else ""
    precision = f"{stats.precision:.2f}" if stats.precision is not None else "n/a (no labels)"
    print(
        f"labelled: {stats.labelled} of {plural(stats.stories, 'story')}{share}: "
        f"{stats.relevant} relevant, {stats.irrelevant} irrelevant; precision {precision}",
        file=out,
    )
    if not stats.terms:
        return
    print("\nterms, by the labelled stories they contributed to (noisy first):", file=out)
    width = max(len(term.term) for term in stats.terms)
    for term in stats.terms:
        flag = "  noisy" if term.noisy else ""
        print(
            f"  {term.term:<{width}}  {term.relevant:>3} relevant  {term.irrelevant:>3} "
            f"irrelevant{flag}",
            file=out,
        )
    for noisy in stats.noisy:
        print(
            f"\n{noisy.noise.term}: brought {noisy.noise.irrelevant} irrelevant and "
            f"{noisy.noise.relevant} relevant labelled stories"
            f"{' (noisy)' if noisy.noise.noisy else ''}; replaying the labelled articles:",
            file=out,
        )
        if not noisy.edits:
            print(
                "  no exclude of a word near it, nor a lower weight, removes its irrelevant "
                "matches",
                file=out,
            )
        for edit in noisy.edits:
            kept = (
                "keeps every relevant one"
                if edit.loses_relevant == 0
                else f"loses {edit.loses_relevant} relevant"
            )
            print(f"  {edit.toml}", file=out)
            print(
                f"    removes {edit.removes_irrelevant} of {edit.before.irrelevant} irrelevant "
                f"matches, {kept}; precision {_precision(edit.before.precision)} -> "
                f"{_precision(edit.after.precision)}",
                file=out,
            )
            if edit.removes_unlabelled is not None and edit.unlabelled:
                print(
                    f"    and {edit.removes_unlabelled} of the window's "
                    f"{plural(edit.unlabelled, 'match')} without a label",
                    file=out,
                )


def _precision(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "n/a"


def suggest_command(args: argparse.Namespace) -> int:
    _, channels, note = watchlist_context(args.config)
    if note:
        print(
            note.replace("are not checked", "are not known: channels = [] in the draft"),
            file=sys.stderr,
        )
    documents: list[Document] = []
    for path in args.documents:
        try:
            documents.append(read_document(path))
        except ParseError as exc:
            raise InputError(str(exc)) from None
    print(
        suggest_watchlist(
            documents,
            watchlist_id=args.watchlist_id,
            frequency=english_frequency(),
            max_terms=max(1, args.max_terms),
            channels=sorted(channels or ()),
            # Relative to the watchlist folder, where the draft is meant to be saved.
            examples=example_paths(args.documents, watchlist_context(args.config)[0]),
        ),
        end="",
    )
    return 0


def english_frequency() -> Any:
    """Zipf frequency of a word or phrase in ordinary English (wordfreq), 0 when unknown."""
    try:
        from wordfreq import zipf_frequency  # loads its word list: only `suggest` needs it
    except ModuleNotFoundError:
        raise MonitorError(
            "`watchlists suggest` needs English word frequencies: "
            "pip install 'monitor[suggest]' (the wordfreq package)"
        ) from None
    return lambda text: zipf_frequency(text, "en")


def example_paths(documents: list[Path], folder: Path) -> list[str]:
    """The documents as `examples` globs of a watchlist saved in `folder` (glob characters
    in a file name escaped, so each names exactly its file)."""
    return [glob.escape(os.path.relpath(p.resolve(), folder.resolve())) for p in documents]
