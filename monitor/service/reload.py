"""Watchlist hot reload: notices edits in the watchlist folder and decides which version of
each watchlist is in force.

An invalid edit keeps the last good version of that watchlist in force, and is reported (in
the log here, in /healthz by the daemon) until the file is fixed; a deleted file takes its
watchlist out of force. `merge_reload` is the pure decision; `WatchlistReloader` reads the
folder around it. Parsing and validating a file is core/watchlist.py's job, not this one's.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from monitor.adapters.files.watchlists import LoadedWatchlists, load_watchlists
from monitor.core.watchlist import Watchlist

log = logging.getLogger(__name__)

Fingerprint = tuple[tuple[str, str], ...]
Loader = Callable[[Path], LoadedWatchlists]


@dataclass(frozen=True, slots=True)
class WatchlistState:
    """The watchlists in force (by id) and the files whose current version is invalid."""

    in_force: Mapping[str, Watchlist] = field(default_factory=dict)
    invalid: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # id -> problems


def problem_id(shown_path: str) -> str:
    """The watchlist id a problem is about: its file stem (a missing folder keeps its path)."""
    path = Path(shown_path)
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


def folder_fingerprint(directory: Path) -> Fingerprint:
    """Names and content hashes of the folder's watchlist files. Content, not mtimes: an
    editor can save twice within the file system's mtime resolution."""
    try:
        paths = sorted(directory.glob("*.toml"))
    except OSError:
        return ()
    entries = []
    for path in paths:
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:  # vanished or unreadable: let the loader report it
            digest = f"error:{exc.errno}"
        entries.append((path.name, digest))
    return tuple(entries)


class WatchlistReloader:
    """Holds the watchlists in force; `check()` reloads them when the folder changed."""

    def __init__(
        self,
        directory: Path,
        *,
        known_channels: Collection[str] | None = None,
        loader: Loader | None = None,
    ) -> None:
        self.directory = directory
        self._known_channels = known_channels
        self._loader = loader or self._load
        self._fingerprint: Fingerprint | None = None
        self.state = WatchlistState()

    def _load(self, directory: Path) -> LoadedWatchlists:
        return load_watchlists(directory, known_channels=self._known_channels)

    def check(self) -> bool:
        """Reload if any file was added, edited or removed; True if the state changed."""
        fingerprint = folder_fingerprint(self.directory)
        if fingerprint == self._fingerprint:
            return False
        # The fingerprint is taken before loading: an edit landing in between changes the
        # next fingerprint, so it is picked up on the next check.
        self._fingerprint = fingerprint
        loaded = self._loader(self.directory)
        new = merge_reload(self.state.in_force, loaded.watchlists, loaded.problems)
        old, self.state = self.state, new
        self._log_changes(old, new)
        return new != old

    @staticmethod
    def _log_changes(old: WatchlistState, new: WatchlistState) -> None:
        for watchlist_id, problems in new.invalid.items():
            if old.invalid.get(watchlist_id) == problems:
                continue
            kept = (
                "its last good version stays in force"
                if watchlist_id in new.in_force
                else ("it is not in force")
            )
            log.error(
                "watchlist %s is invalid; %s until the file is fixed:\n  %s",
                watchlist_id,
                kept,
                "\n  ".join(problems),
                extra={"watchlist": watchlist_id},
            )
        for watchlist_id in sorted(set(old.invalid) - set(new.invalid)):
            if watchlist_id in new.in_force:
                log.info(
                    "watchlist %s is valid again", watchlist_id, extra={"watchlist": watchlist_id}
                )
        for watchlist_id, watchlist in new.in_force.items():
            before = old.in_force.get(watchlist_id)
            if before is None:
                log.info("watchlist %s loaded", watchlist_id, extra={"watchlist": watchlist_id})
            elif before != watchlist:
                log.info("watchlist %s reloaded", watchlist_id, extra={"watchlist": watchlist_id})
        for watchlist_id in sorted(set(old.in_force) - set(new.in_force)):
            log.info("watchlist %s removed", watchlist_id, extra={"watchlist": watchlist_id})
