"""Cost of the copy-or-development decision in the product, with 100,000 articles in the window.

    PYTHONPATH=. /work/main/.venv/bin/python bench/developments_pipeline.py [--articles 100000]

A real SQLite database (the schema of monitor.adapters.db.schema) with `--articles` articles
in the window, in stories of one to five articles, and one watchlist that was sent 1,000 of
those stories (each with suppressed copies). Then 300 new matches join delivered stories:
the later items of tests/data/story_developments.jsonl, whose earlier items are what was
delivered. Prints, CPU time, each against a baseline measured in the same run:
- the window statistics: recounted naively from every article of the window (the
  baseline: `window_terms` over 100,000 articles), against flows/story_window.py's cache
  built once (cold) and refreshed after a poll stored 50 more articles (warm);
- per article decided: `preview_digest` (the digest flow's real gather and plan: pending
  matches, story histories, window, core decision) divided by the matches it decides, and
  the core decision alone (`decide_updates`), cold (a fresh process: every text new) and
  warm (a worker that has read the delivered items before).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine  # noqa: E402

from monitor.adapters.db import digest_store  # noqa: E402
from monitor.adapters.db.schema import metadata  # noqa: E402
from monitor.core import developments as dv  # noqa: E402
from monitor.core.digest.updates import decide_updates  # noqa: E402
from monitor.flows import story_window  # noqa: E402
from monitor.flows.digests import preview_digest  # noqa: E402

DATA = ROOT / "tests" / "data"
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"
DELIVERED_STORIES = 1000
CANDIDATES = 300


@dataclass(frozen=True)
class Desk:
    id: str = "desk"
    name: str = "Desk"
    channels: tuple[str, ...] = ()
    max_items: int = 25
    send_empty: bool = False
    repeat_alerts_in_digest: bool = False


def stamp(value: datetime) -> str:
    return value.replace(tzinfo=None).strftime(SQLITE_TIME)


def cpu(work: object) -> float:
    started = time.process_time()
    work()  # type: ignore[operator]
    return time.process_time() - started


def populate(path: Path, count: int) -> list[dict[str, object]]:
    """The database; returns the labelled pairs whose later items are the pending matches."""
    pairs = [
        json.loads(line)
        for line in (DATA / "story_developments.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    pairs = [p for p in pairs if p["label"] in ("copy", "development")][:CANDIDATES]
    texts = [(s["title"], s["text"]) for p in pairs for s in (p["a"], p["b"])]
    vocab = sorted({w for t, x in texts for w in re.findall(r"[A-Za-z][a-z]+", f"{t} {x}")})
    engine = create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    engine.dispose()
    rng = random.Random(9)
    db = sqlite3.connect(path)
    db.execute(
        "INSERT INTO feeds (id, name, url, configured_url, source, tags, state,"
        " consecutive_failures, created_at) VALUES (1, 's', 's', 's', 'config', '[]',"
        " 'active', 0, ?)",
        (stamp(NOW),),
    )
    db.execute(
        "INSERT INTO digests (id, watchlist_id, kind, window_key, window_end, created_at,"
        " item_count, payload) VALUES (1, 'desk', 'digest', 'w0', ?, ?, 0, '{}')",
        (stamp(NOW - timedelta(days=1)), stamp(NOW - timedelta(days=1))),
    )
    stories, articles, matches = [], [], []
    article_id = story_id = match_id = 0

    def add(story: int, title: str, text: str, when: datetime) -> int:
        nonlocal article_id
        article_id += 1
        t = stamp(when)
        articles.append(
            (article_id, 1, f"k{article_id}", title, text, t, t, t, f"h{article_id}", story)
        )
        return article_id

    def match(article: int, story: int, digest: int | None, duplicate_of: int | None) -> int:
        nonlocal match_id
        match_id += 1
        matches.append(
            (match_id, "desk", article, story, 1.0, "{}", stamp(NOW), digest, duplicate_of, "poll")
        )
        return match_id

    # Delivered stories: the labelled earlier items (and two synthetic copies each), sent.
    for n in range(DELIVERED_STORIES):
        story_id += 1
        when = NOW - timedelta(days=6, minutes=-n)
        if n < len(pairs):
            title, text = pairs[n]["a"]["title"], pairs[n]["a"]["text"]
        else:
            title = " ".join(rng.choices(vocab, k=9))
            text = " ".join(rng.choices(vocab, k=60))
        first = match(add(story_id, title, text, when), story_id, 1, None)
        for _ in range(2):
            copy = add(story_id, "UPDATE 1-" + title, text, when + timedelta(hours=1))
            match(copy, story_id, 1, first)
        stories.append((story_id, title, stamp(when), stamp(when + timedelta(hours=1)), 3))
    # The rest of the window: stories of 1-5 synthetic articles.
    while article_id < count - len(pairs):
        story_id += 1
        when = NOW - timedelta(minutes=rng.randint(10, 7 * 24 * 60))
        size = rng.randint(1, 5)
        title = " ".join(rng.choices(vocab, k=rng.randint(6, 12)))
        for _ in range(size):
            add(story_id, title, " ".join(rng.choices(vocab, k=rng.randint(20, 60))), when)
        stories.append((story_id, title, stamp(when), stamp(when), size))
    # The pending matches: the labelled later items, each in its earlier item's story.
    for n, pair in enumerate(pairs):
        b = pair["b"]
        match(add(n + 1, b["title"], b["text"], NOW - timedelta(hours=1)), n + 1, None, None)
    db.executemany("INSERT INTO stories VALUES (?, ?, ?, ?, ?)", stories)
    db.executemany(
        "INSERT INTO articles (id, feed_id, identity_key, title, text, published_at, fetched_at,"
        " updated_at, content_hash, story_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        articles,
    )
    db.executemany(
        "INSERT INTO matches (id, watchlist_id, article_id, story_id, score, explanation,"
        " matched_at, digest_id, duplicate_of_match_id, origin) VALUES"
        " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        matches,
    )
    db.commit()
    db.execute("ANALYZE")
    db.close()
    return pairs


def naive_window(engine: object) -> dv.WindowTerms:
    """The baseline: every story of the window recounted from its articles."""
    with engine.connect() as connection:  # type: ignore[attr-defined]
        rows = connection.exec_driver_sql("SELECT story_id, title, text FROM articles").all()
    stories: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for story, title, text in rows:
        stories[story].append((title, text or ""))
    return dv.window_terms(stories.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.db"
        started = time.perf_counter()
        pairs = populate(path, args.articles)
        engine = create_engine(f"sqlite:///{path}")
        with engine.connect() as connection:
            total = connection.exec_driver_sql("SELECT count(*) FROM articles").scalar_one()
        print(
            f"{total:,} articles in the window, {DELIVERED_STORIES} delivered stories, "
            f"{len(pairs)} pending matches (built in {time.perf_counter() - started:.0f} s)"
        )

        print("\nWindow statistics (CPU time):")
        naive = cpu(lambda: naive_window(engine))
        story_window.forget()
        with engine.connect() as connection:
            cold = cpu(lambda: story_window.window_terms(connection))
        db = sqlite3.connect(path)
        last = db.execute("SELECT max(id) FROM articles").fetchone()[0]
        t = stamp(NOW)
        db.executemany(
            "INSERT INTO articles (id, feed_id, identity_key, title, text, published_at,"
            " fetched_at, updated_at, content_hash, story_id) VALUES"
            " (?, 1, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    last + i,
                    f"n{i}",
                    f"new story {i} title words",
                    "text of it " * 20,
                    t,
                    t,
                    t,
                    f"n{i}",
                    5000 + i,
                )
                for i in range(1, 51)
            ],
        )
        db.commit()
        db.close()
        with engine.connect() as connection:
            warm = cpu(lambda: story_window.window_terms(connection))
        print(f"  naive recount of {total:,} articles  {naive * 1000:9.1f} ms  (baseline)")
        print(
            f"  cache, first build (cold)        {cold * 1000:9.1f} ms  "
            f"({naive / max(cold, 1e-9):.0f}x less)"
        )
        print(
            f"  cache, refresh after 50 new      {warm * 1000:9.2f} ms  "
            f"({naive / max(warm, 1e-9):.0f}x less)"
        )

        print("\nPer article decided (CPU time):")
        story_window.forget()
        dv_caches = (dv._seen, dv._shingles, dv.sentences, dv._words, dv._terms)
        for cache in dv_caches:
            cache.cache_clear()
        desk = Desk()
        full_cold = cpu(lambda: preview_digest(engine, desk, now=NOW))
        full_warm = cpu(lambda: preview_digest(engine, desk, now=NOW))
        with engine.connect() as connection:
            candidates = digest_store.pending_candidates(connection, "desk")
            histories = digest_store.story_histories(
                connection, "desk", {c.story_id for c in candidates if c.story_id}
            )
            window = story_window.window_terms(connection)
        decided = [c for c in candidates if c.story_id in histories]
        for cache in dv_caches:
            cache.cache_clear()
        costs_cold, costs_warm = [], []
        for candidate in decided:
            history = histories[candidate.story_id]  # type: ignore[index]
            costs_cold.append(cpu(partial(decide_updates, [candidate], history, window)))
        for candidate in decided:
            history = histories[candidate.story_id]  # type: ignore[index]
            costs_warm.append(cpu(partial(decide_updates, [candidate], history, window)))
        n = len(decided)
        print(
            f"  preview_digest, {n} matches of delivered stories: cold "
            f"{full_cold / n * 1000:.2f} ms, warm {full_warm / n * 1000:.2f} ms per article"
        )

        def dist(values: list[float]) -> str:
            values = sorted(values)
            p95 = values[int(0.95 * (len(values) - 1))]
            return f"median {statistics.median(values) * 1000:.3f} ms, p95 {p95 * 1000:.3f} ms"

        print(
            f"  decide_updates alone (3 known items each): cold {dist(costs_cold)}; "
            f"warm {dist(costs_warm)}"
        )
        budget = 0.002
        print(
            f"  budget 2 ms per article: preview cold "
            f"{'within' if full_cold / n < budget else 'OVER'}, decision cold p95 "
            f"{'within' if sorted(costs_cold)[int(0.95 * (n - 1))] < budget else 'OVER'}"
        )

        # The same later items as new stories (grouping kept each apart): the digest checks
        # every one for a late copy against the 1,000 stories sent lately.
        db = sqlite3.connect(path)
        pending = [row[0] for row in db.execute("SELECT article_id FROM matches"
                                                " WHERE digest_id IS NULL")]  # fmt: skip
        for n, article in enumerate(pending):
            db.execute("UPDATE articles SET story_id = ? WHERE id = ?", (900_000 + n, article))
            db.execute(
                "UPDATE matches SET story_id = ? WHERE article_id = ?", (900_000 + n, article)
            )
        db.commit()
        db.close()
        story_window.forget()
        for cache in dv_caches:
            cache.cache_clear()
        late_cold = cpu(lambda: preview_digest(engine, desk, now=NOW))
        late_warm = cpu(lambda: preview_digest(engine, desk, now=NOW))
        content = preview_digest(engine, desk, now=NOW)
        m = len(pending)
        print(
            f"  preview_digest, {m} new stories checked for late copies against "
            f"{DELIVERED_STORIES} sent lately ({m - content.total} found): cold "
            f"{late_cold / m * 1000:.2f} ms, warm {late_warm / m * 1000:.2f} ms per article "
            f"({'within' if late_cold / m < budget else 'OVER'} 2 ms cold)"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
