"""`monitor watchlists check|suggest|apply`: validate watchlist files; draft one from documents;
backfill one by hand (flows/backfill.py)."""

from __future__ import annotations

import argparse
import dataclasses
import glob
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

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
from monitor.core.suggest import Document, suggest_watchlist
from monitor.errors import ConfigError, InputError, MonitorError, ParseError
from monitor.flows.backfill import backfill_watchlist

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


def watchlist_context(config: str | None) -> tuple[Path, frozenset[str] | None, str | None]:
    """The configured watchlist folder and channel names, or ./watchlists and no channels.

    The third value is a note saying why the config could not be used, if it could not.
    """
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        reason = exc.problems[0] if exc.problems else str(exc)
        return DEFAULT_DIR, None, f"note: config not used ({reason}); channels are not checked"
    return settings.watchlist_dir, frozenset(settings.channels), None


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
    directory, channels, note = watchlist_context(args.config)
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
        problems += example_problems(watchlist, seen[watchlist.id])
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


def suggest_command(args: argparse.Namespace) -> int:
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
