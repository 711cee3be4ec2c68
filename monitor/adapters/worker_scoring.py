"""Watchlist scoring in the parse workers, while the database writer is behind.

In a first poll, scoring (the lexical matcher and the semantic products) was about a third
of the database writer thread's CPU, and that one thread is what every new article waits
for: it capped the poll's feeds per second. So while feeds are waiting to be written, the
parse job of a feed's first body (every entry new) handed to a worker then also scores the
entries it parses against the watchlists in force at that moment, and the writer takes
those scores instead of making them (flows/matching.py; the Poller decides per job,
flows/poll.py `_scoring_for`). Otherwise the writer scores as before: a feed stored before
brings a few new entries among many stored ones, and a worker would score all of them
(`bench/workers.py --workers 1 --changed 1.0`, every feed changed with 3 new entries of
~24, two runs each: the parse workers' CPU 17.5/14.1 ms per feed when they scored every
feed, 11.7/11.9 when they score first bodies only).

Identical either way: the same `score_watchlists` call on the same match form and semantic
features, against the same compiled matcher and index. A snapshot of both is pickled once
per set of watchlists in force (3.2 MB for the shipped ones: too large to send with every
job) into a private temporary folder; a job carries its path and `token`, and a worker
loads it at its first job of that token, keeping the one it read last. Scores are used only
when their token is the one still in force when the feed is written, so a hot reload in
between, a snapshot the worker could not read or any failure here costs the writer its
scoring again and nothing else. The folder goes when its process exits; one left by a
process that was killed (no finalizer ran) is removed by the next `monitor poll` or `run`
with parse workers, which finds the folder's owner lock free.

The main process's side (`Snapshots`) and the worker's (`score_entries`) live together so
that the file format has one owner. The worker side imports the matcher and the semantic
index only when a job asks it to score: importing the parser alone stays light.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pickle
import shutil
import stat
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import IO, TYPE_CHECKING, Any

from monitor.core.model import NormalizedEntry

if TYPE_CHECKING:
    from monitor.adapters.embed import SemanticIndex
    from monitor.core.matcher import Matcher
    from monitor.core.scoring import Score
    from monitor.core.semantic import SemanticScore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FeedScoring:
    """What a parse job needs to score one feed's entries: the snapshot, and the feed as
    watchlists' `feeds` / `tags` filters see it."""

    token: str
    path: str
    feed_name: str
    feed_tags: tuple[str, ...]


class Snapshots:
    """The main process's snapshot files: one per set of watchlists in force, written when
    the set changes, the previous one removed, the folder removed with this object."""

    def __init__(self) -> None:
        # Here rather than at the first snapshot: a poll of feeds stored before writes none.
        _remove_abandoned(tempfile.gettempdir())
        self._lock = threading.Lock()  # the event loop and the writer thread both ask
        self._folder: str | None = None
        self._current: tuple[Any, Any, str, str] | None = None  # matcher, index, token, path
        self._refused: tuple[Any, Any] | None = None  # a pair that could not be written

    def current(self, matcher: Matcher, index: SemanticIndex | None) -> tuple[str, str] | None:
        """(token, path) of the snapshot of `matcher` and `index`, written if it is new;
        None when it cannot be written (the writer then scores)."""
        with self._lock:
            held = self._current
            if held is not None and held[0] is matcher and held[1] is index:
                return held[2], held[3]
            refused = self._refused
            if refused is not None and refused[0] is matcher and refused[1] is index:
                return None
            try:
                token, path = self._write(matcher, index)
            except Exception as exc:  # a full disk, an index that does not pickle: say it once
                self._refused = (matcher, index)
                log.warning(
                    "the database writer scores every article: the watchlists' snapshot for "
                    "the parse workers could not be written: %s: %s",
                    type(exc).__name__,
                    exc,
                )
                return None
            if held is not None:
                _remove(held[3])
            self._current = (matcher, index, token, path)
            return token, path

    def token_of(self, matcher: Matcher, index: SemanticIndex | None) -> str | None:
        """The token of the snapshot of `matcher` and `index`, if one was written."""
        held = self._current
        if held is not None and held[0] is matcher and held[1] is index:
            return str(held[2])
        return None

    def _write(self, matcher: Matcher, index: SemanticIndex | None) -> tuple[str, str]:
        if self._folder is None:
            self._folder, owner = _own_folder()
            weakref.finalize(self, _release_folder, self._folder, owner)
        token = uuid.uuid4().hex
        path = os.path.join(self._folder, f"{token}.pickle")
        partial = f"{path}.partial"
        try:
            with open(partial, "wb") as out:
                pickle.dump((token, matcher, index), out, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(partial, path)  # a worker never reads half a file
        except BaseException:
            _remove(partial)
            raise
        return token, path


# A snapshot folder holds an exclusive flock on this file for as long as its process lives,
# so a folder whose lock can be taken was left by a process that was killed (SIGKILL, the
# OOM killer: no finalizer ran) and is removed by the next one that sets up Snapshots.
_FOLDER_PREFIX = "monitor-scoring-"
_OWNER_FILE = "owner.lock"
# Younger folders are left alone: one may be another process's, made a moment ago and not
# locked yet.
_YOUNGEST_ABANDONED = 60.0


def _own_folder() -> tuple[str, IO[bytes]]:
    folder = tempfile.mkdtemp(prefix=_FOLDER_PREFIX)  # mode 0700
    try:
        owner = open(os.path.join(folder, _OWNER_FILE), "wb")  # noqa: SIM115  held until exit
        fcntl.flock(owner.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder, owner


def _release_folder(folder: str, owner: IO[bytes]) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    owner.close()


def _remove_abandoned(parent: str) -> None:
    """Remove the snapshot folders in `parent` that this user's killed processes left."""
    try:
        names = [n for n in os.listdir(parent) if n.startswith(_FOLDER_PREFIX)]
    except OSError:
        return
    for name in names:
        folder = os.path.join(parent, name)
        with contextlib.suppress(OSError):
            status = os.lstat(folder)
            if (
                not stat.S_ISDIR(status.st_mode)
                or status.st_uid != os.getuid()
                or time.time() - status.st_mtime < _YOUNGEST_ABANDONED
            ):
                continue
            try:
                lock = open(os.path.join(folder, _OWNER_FILE), "rb")  # noqa: SIM115
            except FileNotFoundError:  # killed between making the folder and locking it
                shutil.rmtree(folder, ignore_errors=True)
                continue
            with lock:
                try:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its process is alive
                shutil.rmtree(folder, ignore_errors=True)
                log.info("removed %s, a scoring snapshot left by a process that was killed", folder)


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):  # a removed folder, another process's cleanup
        os.unlink(path)


# --- in the parse worker ------------------------------------------------------------------

_held: tuple[str, Any, Any] | None = None  # the snapshot this worker read last


def _snapshot(scoring: FeedScoring) -> tuple[str, Any, Any] | None:
    global _held
    if _held is None or _held[0] != scoring.token:
        try:
            with open(scoring.path, "rb") as source:
                loaded = pickle.load(source)
        except Exception:  # replaced meanwhile (a reload), unreadable: the writer scores
            return None
        if not (isinstance(loaded, tuple) and len(loaded) == 3 and loaded[0] == scoring.token):
            return None
        _held = loaded
    return _held


def score_entries(
    entries: Sequence[NormalizedEntry], scoring: FeedScoring
) -> list[NormalizedEntry]:
    """`entries`, each with the watchlists it matches and their scores, marked with the
    snapshot's token; unchanged when the snapshot cannot be read or scoring fails."""
    snapshot = _snapshot(scoring)
    if snapshot is None or not entries:
        return list(entries)
    token, matcher, index = snapshot
    try:
        scores = matched_scores(matcher, index, entries, scoring.feed_name, scoring.feed_tags)
    except Exception:  # the writer scores these entries again and reports what fails there
        return list(entries)
    return [
        replace(entry, scored_with=token, matches=tuple(found))
        for entry, found in zip(entries, scores, strict=True)
    ]


def matched_scores(
    matcher: Matcher,
    index: SemanticIndex | None,
    entries: Sequence[NormalizedEntry],
    feed_name: str,
    feed_tags: Sequence[str],
) -> list[list[tuple[str, Score]]]:
    """For each entry of one feed, the watchlists it matches and their scores: what a poll
    stores, the same call in a parse worker and on the writer (flows/matching.py)."""
    from monitor.core.scoring import score_watchlists
    from monitor.core.semantic_features import features_or_text

    similar: Sequence[dict[str, SemanticScore] | None] = (
        index.scores([features_or_text(e.semantic_features, e.title, e.text) for e in entries])
        if index is not None and entries
        else [None] * len(entries)
    )
    return [
        score_watchlists(
            matcher,
            entry.title,
            entry.text,
            feed_name=feed_name,
            feed_tags=feed_tags,
            semantic=semantic,
            match_text=entry.match_text,
            matched_only=True,
        )
        for entry, semantic in zip(entries, similar, strict=True)
    ]
