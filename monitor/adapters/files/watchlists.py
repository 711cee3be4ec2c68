"""Reading watchlist files from disk: the file I/O around core/watchlist. One file's failure
is reported and the other files still load. Must not decide what a watchlist means
(core/watchlist does) nor score."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path
from typing import NamedTuple

from monitor.core.watchlist import Watchlist, parse_watchlist
from monitor.errors import WatchlistError

ARTICLE_SUFFIXES = (".txt", ".html", ".htm", ".jsonl")


class LoadedWatchlists(NamedTuple):
    """What a folder held: the valid watchlists by id order, and each bad file's problems."""

    watchlists: tuple[Watchlist, ...]
    problems: dict[str, tuple[str, ...]]  # display path → its problems (FILE: WHERE: WHAT)


def display_path(path: Path) -> str:
    """`path` as messages show it: relative to the working folder when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_watchlist_file(path: Path, *, known_channels: Collection[str] | None = None) -> Watchlist:
    """Read and validate one watchlist file (id = file stem); raise WatchlistError."""
    source = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WatchlistError(f"{source}: no such file") from None
    except UnicodeDecodeError as exc:
        raise WatchlistError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise WatchlistError(f"{source}: cannot read: {exc.strerror}") from None
    return parse_watchlist(
        text.removeprefix("\ufeff"),
        watchlist_id=path.stem,
        source=source,
        known_channels=known_channels,
    )


def load_watchlists(
    directory: Path, *, known_channels: Collection[str] | None = None
) -> LoadedWatchlists:
    """Every *.toml of `directory`; the valid ones load even when others are broken."""
    if not directory.is_dir():
        shown = display_path(directory)
        return LoadedWatchlists((), {shown: (f"{shown}: no such folder of watchlists",)})
    return load_watchlist_paths(sorted(directory.glob("*.toml")), known_channels=known_channels)


def load_watchlist_paths(
    paths: Iterable[Path], *, known_channels: Collection[str] | None = None
) -> LoadedWatchlists:
    watchlists: list[Watchlist] = []
    problems: dict[str, tuple[str, ...]] = {}
    for path in paths:
        try:
            watchlists.append(load_watchlist_file(path, known_channels=known_channels))
        except WatchlistError as exc:
            problems[display_path(path)] = tuple(exc.problems)
    return LoadedWatchlists(tuple(sorted(watchlists, key=lambda w: w.id)), problems)
