"""Which version of each watchlist is in force after a reload: a pure merge.

An invalid edit keeps the last good version of that watchlist in force, and is reported until
the file is fixed; a deleted file takes its watchlist out of force.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

from monitor.core.watchlist import Watchlist


@dataclass(frozen=True, slots=True)
class WatchlistState:
    """The watchlists in force (by id) and the files whose current version is invalid."""

    in_force: Mapping[str, Watchlist] = field(default_factory=dict)
    invalid: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # id -> problems


def problem_id(shown_path: str) -> str:
    """The watchlist id a problem is about: its file stem (a missing folder keeps its path)."""
    path = PurePath(shown_path)
    return path.stem if path.suffix == ".toml" else shown_path


def merge_reload(
    previous: Mapping[str, Watchlist],
    loaded: Sequence[Watchlist],
    problems: Mapping[str, Sequence[str]],
) -> WatchlistState:
    """What is in force after a reload: every valid file's watchlist, and the previous version
    of each watchlist whose file is now invalid. A file that is gone leaves no watchlist."""
    in_force = {watchlist.id: watchlist for watchlist in loaded}
    invalid: dict[str, tuple[str, ...]] = {}
    for shown, messages in problems.items():
        watchlist_id = problem_id(shown)
        invalid[watchlist_id] = tuple(messages)
        if watchlist_id not in in_force and watchlist_id in previous:
            in_force[watchlist_id] = previous[watchlist_id]
    return WatchlistState(dict(sorted(in_force.items())), dict(sorted(invalid.items())))
