"""Reading a watchlist's `examples` and `counter_examples` files from disk.

Holds the glob resolution (relative to the watchlist file) and the reading, with one message per
problem in the watchlists' `FILE: WHERE: WHAT` form; must not embed (adapters/embed.py) nor
score (core/semantic.py). Files are read as `monitor score` reads articles (read_articles): a
.txt file is one document whose first line is its title, .html its main text, .jsonl one
document per line. Each document is labelled with its path relative to the watchlist's folder
(`../seeds/001_x.txt`, `examples/s400/a.txt`; a .jsonl line adds `#id`), which the explanation
shows.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from monitor.adapters.files.articles import read_articles
from monitor.core.watchlist import Watchlist
from monitor.errors import ParseError, WatchlistError


@dataclass(frozen=True, slots=True)
class ExampleDocuments:
    """The texts a watchlist's semantic part is built from, each with its label."""

    examples: tuple[tuple[str, str], ...]  # (label, text): files, then name and description
    counter_examples: tuple[tuple[str, str], ...]


def example_documents(watchlist: Watchlist, path: Path) -> ExampleDocuments:
    """Read every example of the watchlist stored at `path`; raise WatchlistError listing
    every pattern that matches nothing and every file that cannot be read."""
    problems: list[str] = []
    examples = _read(watchlist, path, "examples", watchlist.examples, problems)
    counters = _read(watchlist, path, "counter_examples", watchlist.counter_examples, problems)
    if problems:
        raise WatchlistError(problems)
    # Name and description say what the watchlist is about in the analyst's own words.
    examples += [("name", watchlist.name)]
    if watchlist.description:
        examples.append(("description", watchlist.description))
    return ExampleDocuments(tuple(examples), tuple(counters))


def example_problems(watchlist: Watchlist, path: Path) -> list[str]:
    """What `watchlists check` reports about the example files (empty when all is well)."""
    try:
        example_documents(watchlist, path)
    except WatchlistError as exc:
        return exc.problems
    return []


def _read(
    watchlist: Watchlist, path: Path, key: str, patterns: tuple[str, ...], problems: list[str]
) -> list[tuple[str, str]]:
    folder = path.parent
    out: list[tuple[str, str]] = []
    seen: set[Path] = set()
    for index, pattern in enumerate(patterns):
        where = f"{watchlist.source}: {key}[{index}]"
        # Sorted: the same files in the same order on every machine, so the same explanation.
        matches = sorted(Path(p) for p in glob.glob(str(folder / pattern), recursive=True))
        files = [m for m in matches if m.is_file()]
        if not files:
            problems.append(f'{where}: "{pattern}" matches no file (relative to {folder})')
            continue
        for file in files:
            if file.resolve() in seen:
                continue  # two patterns naming one file: it counts once
            seen.add(file.resolve())
            label = os.path.normpath(os.path.relpath(file, folder))
            try:
                articles = read_articles(file)
            except ParseError as exc:
                problems.append(f"{where}: {exc}")  # the message names the file
                continue
            for number, article in enumerate(articles, start=1):
                text = f"{article.title}\n{article.text}".strip()
                if not text:
                    problems.append(f"{where}: {label}: has no text")
                    continue
                out.append((label if len(articles) == 1 else f"{label}#{number}", text))
    return out
