"""Benchmark: `monitor backtest` throughput (articles/s) with the shipped watchlists.

The 13 real outlet feeds of the corpus are parsed once and their entries stored `--copies`
times (each copy a distinct article, as a poll would store it: title, text and the match form
made at parse time) in a fresh SQLite database. Each shipped watchlist is then edited (a
term added) and backtested with `monitor backtest ID --file EDIT --format json`, run in this
process through the CLI itself, so the figure is the one a user sees: the articles/s the
command reports (reading the stored articles and scoring both versions; compiling the two
versions is not counted). Run it on one core:

    taskset -c 0 /work/main/.venv/bin/python bench/backtest.py [--copies 40]

For comparison the same articles are scored the way a naive replay would, one full
`score_watchlists` per article and version (folding every text again), on the first 2,000.

Target (issue 10): >= 2,000 articles/s on one core with the shipped watchlists.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from entries import real_news_feeds  # noqa: E402

from monitor.adapters.db import article_store, feed_store  # noqa: E402
from monitor.adapters.db.engine import make_engine, upgrade_database  # noqa: E402
from monitor.adapters.db.feed_store import FeedSpec  # noqa: E402
from monitor.adapters.db.schema import articles  # noqa: E402
from monitor.adapters.db.schema import feeds as feeds_table  # noqa: E402
from monitor.adapters.feed_parse import parse_feed  # noqa: E402
from monitor.adapters.files.watchlists import load_watchlists  # noqa: E402
from monitor.cli import main  # noqa: E402
from monitor.core.matcher import compile_matcher  # noqa: E402
from monitor.core.scoring import score_watchlists  # noqa: E402
from monitor.core.watchlist import Watchlist  # noqa: E402

EXTRA_TERM = '\n[[terms]]\nmatch = "Syria"\naliases = ["Syrian"]\nweight = 4.0\n'


def fill(database: Path, corpus: Path, copies: int) -> int:
    engine = make_engine(f"sqlite:///{database}")
    upgrade_database(engine)
    now = datetime.now(UTC)
    feeds = []
    for index, path in enumerate(real_news_feeds(corpus)):
        parsed = parse_feed(
            path.read_bytes(), url=f"http://outlet-{index}/", headers={}, fetched_at=now
        )
        feeds.append((f"outlet-{index:02d}", parsed.entries))
    total = 0
    with engine.begin() as connection:
        feed_store.sync_feeds(
            connection, [FeedSpec(name, f"http://{name}/") for name, _ in feeds], now
        )
    with engine.begin() as connection:
        feed_ids = dict(connection.execute(select(feeds_table.c.name, feeds_table.c.id)).all())
        for copy in range(copies):
            for name, entries in feeds:
                distinct = [
                    dataclasses.replace(e, identity_key=f"{e.identity_key[:50]}-{copy}")
                    for e in entries
                ]
                total += len(
                    article_store.store_entries(connection, feed_ids[name], distinct, now).new
                )
    engine.dispose()
    return total


def naive_rate(database: Path, watchlists: list[Watchlist], limit: int = 2000) -> float:
    engine = make_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        rows = connection.execute(select(articles.c.title, articles.c.text).limit(limit)).all()
    engine.dispose()
    matchers = [
        (compile_matcher([w]), compile_matcher([dataclasses.replace(w, threshold=w.threshold + 1)]))
        for w in watchlists
    ]
    started = time.perf_counter()
    for title, text in rows:
        for before, after in matchers:
            score_watchlists(before, title, text)
            score_watchlists(after, title, text)
    seconds = time.perf_counter() - started
    return len(rows) * len(watchlists) / seconds


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        shutil.copytree(REPO / "watchlists", folder / "watchlists")
        stored = fill(folder / "bench.db", args.corpus, args.copies)
        config = folder / "config.toml"
        config.write_text(
            f'[database]\nurl = "sqlite:///{folder}/bench.db"\n'
            f'[watchlists]\ndir = "{folder}/watchlists"\n'
            f'[channels.local]\ntype = "file"\npath = "{folder}/digests"\n'
        )
        print(f"{stored} stored articles (the 13 real outlet feeds, {args.copies} copies)")
        rates = []
        for path in sorted((folder / "watchlists").glob("*.toml")):
            edit = folder / f"edit-{path.name}"
            edit.write_text(path.read_text(encoding="utf-8") + EXTRA_TERM, encoding="utf-8")
            runs = []
            for _ in range(args.repeat):
                out = io.StringIO()
                with contextlib.redirect_stdout(out):
                    code = main(
                        [
                            "--config",
                            str(config),
                            "backtest",
                            path.stem,
                            "--file",
                            str(edit),
                            "--since",
                            "1d",
                            "--format",
                            "json",
                        ]
                    )
                assert code == 0
                document = json.loads(out.getvalue())
                assert document["scanned"] == stored
                runs.append(document["articles_per_second"])
            best = max(runs)
            rates.append(best)
            median = statistics.median(runs)
            print(
                f"  backtest {path.stem:9s} {best:9,.0f} articles/s (median {median:,.0f}); "
                f"after the edit {document['after']['stories']} stories, "
                f"+{len(document['added'])} -{len(document['removed'])}"
            )
        loaded = load_watchlists(folder / "watchlists").watchlists
        naive = naive_rate(folder / "bench.db", list(loaded))
        print(f"slowest watchlist: {min(rates):,.0f} articles/s (target >= 2,000 on one core)")
        print(
            f"naive replay (fold and score every article twice): {naive:,.0f} articles/s "
            f"per watchlist, so {min(rates) / naive:.1f}x"
        )


if __name__ == "__main__":
    main_bench()
