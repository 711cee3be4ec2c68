"""Stories benchmark: quality on tests/data/story_pairs.jsonl and the per-article cost of
signature + lookup with 100,000 stored articles in the window of a real SQLite database.

    /work/venv/bin/python bench/stories.py [--articles 100000] [--lookups 300]

Prints, each against a baseline measured in the same run:
- pairwise precision / recall of the production decision (LSH band in common + same_story),
  full set, dev and held-back splits, per source; and a 64-bit SimHash over the same shingles
  at its best Hamming threshold;
- signature cost: ours (numpy, permutations built once), one article at a time and a feed's
  articles at once as the parse worker computes them, against datasketch 2.0 `MinHash`
  built per article (permutations regenerated) and with reused permutations;
- find_story (signature + exact signals + LSH lookup + verification) against a naive scan of
  every stored signature in the window, and split into lookups with and without text;
- the full set's precision / recall again, looked up through the band index among the
  synthetic window, with each pair's first article older than all of it: what the cap on
  rows read per band value could cost.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from datasketch import MinHash
from sqlalchemy import insert, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.adapters.db import story_store  # noqa: E402
from monitor.adapters.db.engine import make_engine  # noqa: E402  # the product's pragmas
from monitor.adapters.db.schema import Article, Feed, Story, StoryBand, metadata  # noqa: E402
from monitor.core import dedup  # noqa: E402

PAIRS = ROOT / "tests" / "data" / "story_pairs.jsonl"
NOW = datetime(2026, 2, 17, 12, 0, tzinfo=UTC)
WINDOW = timedelta(days=7)
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy's DateTime stores a naive UTC time


def load_pairs() -> list[dict[str, Any]]:
    with PAIRS.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def precision_recall(decisions: Iterable[tuple[bool, str]]) -> tuple[float, float, int, int, int]:
    counts: Counter[str] = Counter()
    for joined, label in decisions:
        if label == "same_event":
            continue
        copy = label == "copy"
        counts["tp" if copy and joined else "fp" if joined else "fn" if copy else "tn"] += 1
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    return tp / max(1, tp + fp), tp / max(1, tp + fn), tp, fp, fn


def simhash(words: str) -> int:
    """64-bit SimHash over the same character 5-grams the MinHash signature uses."""
    codes = np.frombuffer(words.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if codes.size == 0:
        return 0
    width = min(dedup.SHINGLE_CHARS, codes.size)
    count = codes.size - width + 1
    h = codes[:count].copy()
    for offset in range(1, width):
        h = h * np.uint64(0x100000001B3) + codes[offset : offset + count]
    hashes = np.unique(dedup._fmix64(h))  # the same mixer as the signature
    bits = (hashes[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
    votes = bits.sum(axis=0) * 2 > hashes.size
    return int(sum(1 << i for i in np.flatnonzero(votes)))


def quality(pairs: list[dict[str, Any]]) -> None:
    print(f"evaluation set: {len(pairs)} pairs {dict(Counter(p['label'] for p in pairs))}")
    signatures = [
        (
            dedup.minhash(p["a"]["title"], p["a"]["text"]),
            dedup.minhash(p["b"]["title"], p["b"]["text"]),
        )
        for p in pairs
    ]
    joined = [dedup.is_candidate(a, b) and dedup.same_story(a, b) for a, b in signatures]
    groups: dict[str, Callable[[dict[str, Any]], bool]] = {
        "full set": lambda p: True,
        "dev split": lambda p: p["split"] == "dev",
        "held-back split (ABC News, Japan Today, NPR, Dawn)": lambda p: p["split"] == "held-back",
        "  real-news-feed": lambda p: p["source"] == "real-news-feed",
        "  uci-news-aggregator": lambda p: p["source"] == "uci-news-aggregator",
        "  derived": lambda p: p["source"] == "derived",
    }
    print(
        f"MinHash {dedup.NUM_PERM} perms, {dedup.BANDS}x{dedup.ROWS} bands, "
        f"threshold {dedup.THRESHOLD}:"
    )
    for name, keep in groups.items():
        chosen = [(j, p["label"]) for j, p in zip(joined, pairs, strict=True) if keep(p)]
        p_, r_, tp, fp, fn = precision_recall(chosen)
        events = [j for j, label in chosen if label == "same_event"]
        print(
            f"  {name:52} precision {p_:.3f} recall {r_:.3f} (tp {tp} fp {fp} fn {fn});"
            f" same_event joined {sum(events)}/{len(events)}"
        )
    simhash_compare(pairs)


def simhash_compare(pairs: list[dict[str, Any]]) -> None:
    words = [
        (
            dedup.signature_input(p["a"]["title"], p["a"]["text"]),
            dedup.signature_input(p["b"]["title"], p["b"]["text"]),
        )
        for p in pairs
    ]
    distances = [bin(simhash(a) ^ simhash(b)).count("1") for a, b in words]
    best: tuple[float, int, float] = (0.0, -1, 0.0)
    for k in range(0, 33):
        p_, r_, *_ = precision_recall(
            (d <= k, p["label"]) for d, p in zip(distances, pairs, strict=True)
        )
        if p_ >= 0.95 and r_ > best[0]:
            best = (r_, k, p_)
    exact = [
        (
            dedup.estimated_jaccard(
                dedup.minhash(p["a"]["title"], p["a"]["text"]),
                dedup.minhash(p["b"]["title"], p["b"]["text"]),
            ),
            p["label"],
        )
        for p in pairs
    ]
    mh_best = max(
        (precision_recall((s >= t, label) for s, label in exact)[1], t)
        for t in np.arange(0.2, 0.8, 0.01)
        if precision_recall((s >= t, label) for s, label in exact)[0] >= 0.95
    )
    print(
        f"SimHash 64-bit, same shingles: best recall at precision >= 0.95 is {best[0]:.3f} "
        f"(Hamming <= {best[1]}, precision {best[2]:.3f}); MinHash without LSH: "
        f"{mh_best[0]:.3f} (threshold {mh_best[1]:.2f})"
    )
    sample = [w for pair in words for w in pair]
    per_simhash = timed(lambda: [simhash(w) for w in sample]) / len(sample)
    per_minhash = timed(lambda: [dedup.minhash(w, "") for w in sample]) / len(sample)
    print(
        f"  signature cost on the same inputs: SimHash {per_simhash * 1e6:.0f} us, "
        f"MinHash {per_minhash * 1e6:.0f} us"
    )


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def signature_costs(texts: list[tuple[str, str]]) -> None:
    shingles = [
        [w[i : i + dedup.SHINGLE_CHARS].encode() for i in range(max(1, len(w) - 4))]
        for w in (dedup.signature_input(t, x) for t, x in texts)
    ]
    ours = timed(lambda: [dedup.minhash(t, x) for t, x in texts]) / len(texts)
    inputs = timed(lambda: [dedup.signature_input(t, x) for t, x in texts]) / len(texts)

    def rebuilt() -> None:
        for s in shingles:
            m = MinHash(num_perm=dedup.NUM_PERM)
            m.update_batch(s)

    template = MinHash(num_perm=dedup.NUM_PERM)

    def reused() -> None:
        for s in shingles:
            m = MinHash(
                num_perm=dedup.NUM_PERM, permutations=template.permutations, scheme="affine32"
            )
            m.update_batch(s)

    fresh = timed(rebuilt) / len(texts) + inputs
    shared = timed(reused) / len(texts) + inputs
    # What a parse worker runs: a feed's articles at once (feed_parse.derived), 24 a feed as
    # in the outlet feeds; `minhash` alone is the path of an article stored without one.
    feeds = [texts[i : i + 24] for i in range(0, len(texts), 24)]
    batched = timed(lambda: [dedup.minhashes(feed) for feed in feeds]) / len(texts)
    print(
        f"signature per article ({len(texts)} real articles, {dedup.NUM_PERM} perms): "
        f"ours {ours * 1e6:.0f} us one at a time, {batched * 1e6:.0f} us a feed of 24 at once "
        f"(the parse worker's way); datasketch rebuilt {fresh * 1e6:.0f} us "
        f"({fresh / ours:.1f}x ours); datasketch reused permutations {shared * 1e6:.0f} us "
        f"({shared / ours:.1f}x ours)"
    )


def vocabulary(pairs: list[dict[str, Any]]) -> list[str]:
    words: set[str] = set()
    for pair in pairs:
        for side in ("a", "b"):
            words.update(
                re.findall(r"[A-Za-z][a-z]+", pair[side]["title"] + " " + pair[side]["text"])
            )
    return sorted(words)


def populate(path: Path, count: int, vocab: list[str], first_id: int = 1) -> None:
    """`count` synthetic articles of corpus words, with their stories, signatures and bands,
    numbered from `first_id`."""
    engine = make_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(Feed.__table__).values(
                id=1, name="synthetic", url="s", configured_url="s", created_at=NOW
            )
        )
    engine.dispose()
    rng = random.Random(7)
    db = sqlite3.connect(path)
    stamp = (NOW - timedelta(days=3)).replace(tzinfo=None).strftime(SQLITE_TIME)
    seconds = int((NOW - timedelta(days=3)).timestamp())
    batch = 5000
    for start in range(first_id, first_id + count, batch):
        ids = range(start, min(start + batch, first_id + count))
        stories, articles, bands = [], [], []
        for i in ids:
            title = " ".join(rng.choices(vocab, k=rng.randint(6, 12)))
            body = " ".join(rng.choices(vocab, k=rng.randint(20, 60)))
            signature = dedup.minhash(title, body)
            stories.append((i, title, stamp, stamp, 1))
            articles.append(
                (
                    i,
                    1,
                    str(i),
                    title,
                    body,
                    stamp,
                    stamp,
                    stamp,
                    f"h{i}",
                    i,
                    dedup.signature_to_bytes(signature),
                )
            )
            values = story_store.stored_band_hashes(dedup.band_hashes(signature))
            bands.extend((h, seconds, i) for h in values)
        db.executemany(
            "INSERT INTO stories (id, title, first_seen_at, last_seen_at, "
            "article_count) VALUES (?, ?, ?, ?, ?)",
            stories,
        )
        db.executemany(
            "INSERT INTO articles (id, feed_id, identity_key, title, text, "
            "published_at, fetched_at, updated_at, content_hash, story_id, signature) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            articles,
        )
        db.executemany(
            "INSERT INTO story_bands (band_hash, created, article_id) VALUES (?, ?, ?)", bands
        )
    db.commit()
    db.execute("ANALYZE")
    db.close()


def lookup_costs(path: Path, texts: list[tuple[str, str]]) -> None:
    engine = make_engine(f"sqlite:///{path}")
    since = NOW - WINDOW
    articles = [
        story_store.NewArticle(10**9 + i, t, x, None, f"new{i}", NOW)
        for i, (t, x) in enumerate(texts)
    ]
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM articles")).scalar()
        bands = conn.execute(text("SELECT count(*) FROM story_bands")).scalar()
        for article in articles:  # warm the page cache and the statement cache
            story_store.find_story(conn, article, since=since)
        per = [timed(lambda a=a: story_store.find_story(conn, a, since=since)) for a in articles]
        naive = [timed(lambda a=a: naive_find(conn, a, since)) for a in articles[:5]]
    engine.dispose()
    ours, base = statistics.median(per), statistics.median(naive)
    print(
        f"find_story (signature + exact signals + LSH lookup + verify), {stored:,} articles "
        f"and {bands:,} band rows in the window: median {ours * 1e3:.2f} ms, "
        f"p95 {np.quantile(per, 0.95) * 1e3:.2f} ms per article"
    )
    # Articles with a text shingle more and share bands with more stored articles than
    # headline-only ones: the slow end of the distribution is theirs.
    for kind, keep in (("with text", True), ("headline only", False)):
        some = [t for t, (_, body) in zip(per, texts, strict=True) if bool(body) == keep]
        if some:
            print(
                f"  {kind} ({len(some)}): median {statistics.median(some) * 1e3:.2f} ms, "
                f"p95 {np.quantile(some, 0.95) * 1e3:.2f} ms"
            )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"  (machine load average {load} on {os.cpu_count()} cores while measuring)")
    print(
        f"  baseline, naive scan of every stored signature: median {base * 1e3:.0f} ms "
        f"per article ({base / ours:.0f}x slower)"
    )


def quality_at_scale(path: Path, pairs: list[dict[str, Any]]) -> None:
    """The LSH lookup among the synthetic window: each pair's first article is stored older
    (and with a lower id) than every synthetic one, the second is looked up, and the pair
    counts as joined when the index offers the first and `same_story` accepts it. The cap on
    rows read per band value (story_store.ROWS_PER_BAND) could only lose pairs here."""
    engine = make_engine(f"sqlite:///{path}")
    stamp = NOW - WINDOW + timedelta(hours=1)
    stored: dict[tuple[str, str], int] = {}
    with engine.begin() as conn:
        for pair in pairs:
            key = (pair["a"]["title"], pair["a"]["text"])
            if key in stored:
                continue
            article_id = stored[key] = len(stored) + 1
            signature = dedup.minhash(*key)
            conn.execute(
                insert(Story.__table__).values(
                    id=article_id, title=key[0], first_seen_at=stamp, last_seen_at=stamp
                )
            )
            conn.execute(
                insert(Article.__table__).values(
                    id=article_id,
                    feed_id=1,
                    identity_key=f"pair-{article_id}",
                    title=key[0],
                    text=key[1],
                    published_at=stamp,
                    fetched_at=stamp,
                    updated_at=stamp,
                    content_hash=f"pair-{article_id}",
                    story_id=article_id,
                    signature=dedup.signature_to_bytes(signature),
                )
            )
            conn.execute(
                insert(StoryBand.__table__),
                [
                    {
                        "band_hash": value,
                        "created": int(stamp.timestamp()),
                        "article_id": article_id,
                    }
                    for value in story_store.stored_band_hashes(dedup.band_hashes(signature))
                ],
            )
    decisions = []
    with engine.connect() as conn:
        for pair in pairs:
            a = dedup.minhash(pair["a"]["title"], pair["a"]["text"])
            b = dedup.minhash(pair["b"]["title"], pair["b"]["text"])
            values = story_store.stored_band_hashes(dedup.band_hashes(b))
            rows = story_store._offered(conn, values, 0, NOW - WINDOW)
            offered = stored[(pair["a"]["title"], pair["a"]["text"])] in rows
            decisions.append((offered and dedup.same_story(a, b), pair["label"]))
    engine.dispose()
    p_, r_, tp, fp, fn = precision_recall(decisions)
    events = [joined for joined, label in decisions if label == "same_event"]
    print(
        f"  full set looked up among them ({story_store.ROWS_PER_BAND} newest rows per band "
        f"value, first articles the oldest): precision {p_:.3f} recall {r_:.3f} "
        f"(tp {tp} fp {fp} fn {fn}); same_event joined {sum(events)}/{len(events)}"
    )


def naive_find(conn: Any, article: story_store.NewArticle, since: datetime) -> int | None:
    signature = dedup.minhash(article.title, article.text)
    best: tuple[float, int] | None = None
    rows = conn.execute(
        select(Article.__table__.c.story_id, Article.__table__.c.signature).where(
            Article.__table__.c.fetched_at >= since
        )
    )
    for story_id, data in rows:
        verdict = dedup.compare(signature, dedup.signature_from_bytes(data))
        if verdict.same and (best is None or verdict.similarity > best[0]):
            best = (verdict.similarity, story_id)
    return None if best is None else best[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=300)
    args = parser.parse_args()
    pairs = load_pairs()
    quality(pairs)
    texts = [(p[s]["title"], p[s]["text"]) for p in pairs for s in ("a", "b")]
    texts = random.Random(3).sample(texts, min(args.lookups, len(texts)))
    signature_costs(texts)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stories.db"
        start = time.perf_counter()
        # ids 1..len(pairs) stay free for quality_at_scale: lower than every synthetic one
        populate(path, args.articles, vocabulary(pairs), first_id=len(pairs) + 1)
        print(
            f"populated {args.articles:,} synthetic articles in {time.perf_counter() - start:.0f} s"
        )
        lookup_costs(path, texts)
        quality_at_scale(path, pairs)


if __name__ == "__main__":
    main()
