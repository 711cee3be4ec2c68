"""Parse benchmark: CPU per feed of parse_feed over the corpus's 13 real outlet feeds, the
feedparser path against the fast path (adapters/feed_fast.py), in the same run.

What a parse worker does per fetched feed: read the document, normalise every entry (text,
links, identity, match form, semantic features) and derive its story signature. Three rows,
each a ratio against its baseline measured in the same process, interleaved round by round
so a busy machine slows both alike; each figure is the fastest of --rounds rounds (CPU time
of this process, not wall time):

- read only: feedparser.parse (sanitising off, as feed_parse calls it) against read_fast;
- parse_feed: the whole worker step, fast_path=False against the default;
- match form: article_match_form over every entry, folding through fold() with its offsets
  map (as before issue 16) against fold_text.

    MONITOR_CORPUS=../shared/corpus PYTHONPATH=. python bench/parse.py [--rounds 7] [--all]

--all includes the 1 MB feed (100 items of full text), which the ingest benchmark leaves out.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import feedparser  # noqa: E402
from entries import real_news_feeds  # noqa: E402

from monitor.adapters.feed_fast import read_fast  # noqa: E402
from monitor.adapters.feed_parse import _feedparser_headers, fast_path_doubt, parse_feed  # noqa: E402
from monitor.core.folding import fold, spaced_form  # noqa: E402
from monitor.core.matcher import article_match_form  # noqa: E402

CORPUS = Path(os.environ.get("MONITOR_CORPUS", REPO.parent / "shared" / "corpus"))
FETCHED = datetime(2026, 3, 1, tzinfo=UTC)
URL = "https://news.example.com/feed"


def _match_form_before(text: str) -> str:
    # core.matcher.match_form as it was: fold() builds the offsets map, then only .text is used.
    return f" {' '.join(spaced_form(fold(text).text).split())} " if text else " "


def article_match_form_before(title: str, text: str) -> str:
    return f"{_match_form_before(title)}\n{_match_form_before(text)}"


def best_cpu(runs: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """The least CPU seconds each run took over `rounds` interleaved rounds."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.process_time()
            run()
            best[name] = min(best[name], time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--all", action="store_true", help="include the 1 MB feed")
    args = parser.parse_args()
    paths = real_news_feeds(CORPUS, max_bytes=None if args.all else 300_000)
    bodies = [p.read_bytes() for p in paths]
    doubts = [d for b in bodies if (d := fast_path_doubt(b, {})) is not None]
    headers = [_feedparser_headers(b, {})[0] for b in bodies]
    entries = [
        e for b in bodies for e in parse_feed(b, url=URL, headers={}, fetched_at=FETCHED).entries
    ]
    same = all(
        parse_feed(b, url=URL, headers={}, fetched_at=FETCHED)
        == parse_feed(b, url=URL, headers={}, fetched_at=FETCHED, fast_path=False)
        for b in bodies
    )
    pairs = list(zip(bodies, headers, strict=True))

    def each_feed(step: Callable[[bytes, dict[str, str]], object]) -> Callable[[], None]:
        return lambda: [step(b, h) for b, h in pairs] and None

    cpu = best_cpu(
        {
            "feedparser": each_feed(
                lambda b, h: feedparser.parse(
                    io.BytesIO(b),
                    response_headers=h,
                    sanitize_html=False,
                    resolve_relative_uris=False,
                )
            ),
            "read_fast": each_feed(read_fast),
            "parse_feed feedparser": each_feed(
                lambda b, h: parse_feed(b, url=URL, headers={}, fetched_at=FETCHED, fast_path=False)
            ),
            "parse_feed fast": each_feed(
                lambda b, h: parse_feed(b, url=URL, headers={}, fetched_at=FETCHED)
            ),
            "match form before": lambda: (
                [article_match_form_before(e.title, e.text) for e in entries] and None
            ),
            "match form now": lambda: (
                [article_match_form(e.title, e.text) for e in entries] and None
            ),
        },
        args.rounds,
    )
    n, k = len(bodies), len(entries)
    kb = sum(map(len, bodies)) / n / 1000
    print(
        f"{n} real outlet feeds ({kb:.0f} KB, {k / n:.0f} entries on average); fast path taken "
        f"by {n - len(doubts)} of {n}; same ParsedFeeds both ways: {same}; best of "
        f"{args.rounds} rounds, CPU ms per feed"
    )
    rows = [
        ("read only", "feedparser", "read_fast", n),
        ("parse_feed (read, normalise, signature)", "parse_feed feedparser", "parse_feed fast", n),
        ("match form of every entry", "match form before", "match form now", n),
    ]
    for label, before, after, per in rows:
        b, a = cpu[before] / per * 1000, cpu[after] / per * 1000
        print(f"  {label:42s} {b:7.2f} -> {a:6.2f} ms   {b / a:4.1f}x")


if __name__ == "__main__":
    main()
