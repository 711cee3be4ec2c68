"""Watchlist hot reload: notices edits in the watchlist folder and decides which version of
each watchlist is in force.

`merge_reload` (core/reload_merge.py) is the pure decision; `WatchlistReloader` reads the
folder around it and logs what changed; /healthz reports invalid files through the daemon.
Parsing and validating a file is core/watchlist's job, not this one's.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection
from pathlib import Path

from monitor.adapters.files.watchlists import LoadedWatchlists, load_watchlists
from monitor.core.reload_merge import WatchlistState, merge_reload

log = logging.getLogger(__name__)

Fingerprint = tuple[tuple[str, str], ...]
Loader = Callable[[Path], LoadedWatchlists]


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
