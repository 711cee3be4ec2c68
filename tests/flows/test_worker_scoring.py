"""Scores made in a parse worker (adapters/worker_scoring.py) are stored only when they were
made against the watchlists still in force; otherwise the writer scores the article."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from entries import T0, add_feed, entry
from sqlalchemy import Engine, select

from monitor.adapters.db import article_store
from monitor.adapters.db.feed_store import FeedRow
from monitor.adapters.db.schema import matches
from monitor.adapters.worker_scoring import FeedScoring, Snapshots, score_entries
from monitor.core.matcher import compile_matcher
from monitor.core.model import NormalizedEntry
from monitor.core.scoring import score_watchlists
from monitor.core.watchlist import Watchlist, parse_watchlist
from monitor.flows.matching import MatchNewArticles

TITLE = "Turkey closes Cilvegozu border crossing after car bomb"


def desk(weight: float) -> Watchlist:
    text = f'name = "Border desk"\nthreshold = 4.0\n[[terms]]\nmatch = "Cilvegozu"\nweight = {weight}\n'
    return parse_watchlist(text, watchlist_id="border", source="border.toml")


def stored_scores(engine: Engine) -> list[float]:
    with engine.connect() as connection:
        return list(connection.execute(select(matches.c.score)).scalars())


def matching_scored_by_a_worker(
    engine: Engine, in_force: list[Watchlist]
) -> tuple[MatchNewArticles, FeedRow, NormalizedEntry]:
    """A poll's matching with worker snapshots, its feed, and an entry scored as the parse
    job scores it (in this process: the same function)."""
    matching = MatchNewArticles(
        lambda: in_force, story_window=timedelta(days=7), worker_snapshots=Snapshots()
    )
    feed = FeedRow(add_feed(engine), "a", "", (), None, None, None, None, 0, None)
    scoring = matching.for_parse_worker(feed)
    assert scoring is not None
    [scored] = score_entries([entry(1, title=TITLE)], scoring)
    assert scored.scored_with == scoring.token
    return matching, feed, scored


def test_a_worker_s_scores_are_stored_as_the_writer_would_make_them(engine: Engine) -> None:
    by_worker, feed, scored = matching_scored_by_a_worker(engine, [desk(5.0)])
    assert [w for w, _ in scored.matches] == ["border"]
    with engine.begin() as connection:
        stored = article_store.store_entries(connection, feed.id, [scored], T0)
        assert by_worker(connection, feed, stored.new, T0) == 1
    assert stored_scores(engine) == [scored.matches[0][1].score]


def test_scores_made_before_a_reload_are_made_again_by_the_writer(engine: Engine) -> None:
    in_force = [desk(5.0)]
    matching, feed, scored = matching_scored_by_a_worker(engine, in_force)
    in_force[0] = desk(7.5)  # the watchlist edited while the entry waited for the writer
    with engine.begin() as connection:
        stored = article_store.store_entries(connection, feed.id, [scored], T0)
        matching(connection, feed, stored.new, T0)
    [score] = stored_scores(engine)
    assert score != scored.matches[0][1].score
    [(_, expected)] = score_watchlists(compile_matcher(in_force), TITLE, "body", matched_only=True)
    assert score == expected.score


def test_an_unreadable_snapshot_leaves_the_entries_to_the_writer(tmp_path: Path) -> None:
    (tmp_path / "broken.pickle").write_bytes(b"not a pickle")
    for path in (tmp_path / "gone.pickle", tmp_path / "broken.pickle"):
        scoring = FeedScoring("token", str(path), "a", ())
        [unscored] = score_entries([entry(1, title=TITLE)], scoring)
        assert unscored.scored_with is None and unscored.matches == ()


def test_a_new_set_of_watchlists_gets_a_new_snapshot_and_the_old_file_goes() -> None:
    in_force = [desk(5.0)]
    matching = MatchNewArticles(
        lambda: in_force, story_window=timedelta(days=7), worker_snapshots=Snapshots()
    )
    feed = FeedRow(1, "a", "", (), None, None, None, None, 0, None)
    first = matching.for_parse_worker(feed)
    assert first is not None and first == matching.for_parse_worker(feed)
    in_force[0] = desk(7.5)
    second = matching.for_parse_worker(feed)
    assert second is not None and second.token != first.token
    assert not Path(first.path).exists() and Path(second.path).exists()


def test_watchlists_that_cannot_be_snapshot_are_scored_by_the_writer_with_one_warning(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    unpicklable = threading.Lock()  # as a model holding a lock or a C handle would be

    def semantic(watchlists: object) -> Any:
        return unpicklable  # the same index for the same watchlists, as SemanticIndexes

    matching = MatchNewArticles(
        lambda: [desk(5.0)],
        story_window=timedelta(days=7),
        worker_snapshots=Snapshots(),
        semantic=semantic,
    )
    feed = FeedRow(add_feed(engine), "a", "", (), None, None, None, None, 0, None)
    assert matching.for_parse_worker(feed) is None
    assert matching.for_parse_worker(feed) is None
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "could not be written" in warnings[0], warnings


# A process that writes a snapshot and waits: `monitor run` with parse workers.
HOLDER = """
import sys
from monitor.adapters.worker_scoring import Snapshots
snapshots = Snapshots()
token, path = snapshots.current({"a matcher": 1}, None)
print(path, flush=True)
sys.stdin.read()
"""


def snapshot_holder(tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER],
        env={**os.environ, "TMPDIR": str(tmp_path)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    folder = Path(holder.stdout.readline().strip()).parent
    assert folder.parent == tmp_path
    an_hour_ago = time.time() - 3600
    os.utime(folder, (an_hour_ago, an_hour_ago))
    return holder, folder


def test_a_snapshot_folder_left_by_a_killed_process_is_removed_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    killed, left = snapshot_holder(tmp_path)
    alive, kept = snapshot_holder(tmp_path)
    killed.kill()  # SIGKILL: no finalizer runs
    killed.communicate()  # closes its pipes
    try:
        assert left.exists() and kept.exists()
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        snapshots = Snapshots()  # `monitor poll` or `run` with parse workers starting
        assert not left.exists()
        assert kept.exists()  # its process still runs
        token_path = snapshots.current(compile_matcher([desk(5.0)]), None)
        assert token_path is not None and Path(token_path[1]).exists()
    finally:
        alive.communicate("")
    assert not kept.exists()  # removed by its own process at exit
