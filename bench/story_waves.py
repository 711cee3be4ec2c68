"""Story developments through the real pipeline, in two waves (issue 9).

    PYTHONPATH=. python bench/story_waves.py [--only timelines|pairs]

The labelled material of tests/data served as its outlets' feeds on loopback; wave 1 polled
with `monitor poll --once` and its digest sent to a file channel (`monitor digest send`),
wave 2 added to the feeds, polled, digest sent (tests/story_waves.py does it). One departure
from the shipped config: `[polling] concurrency = 1` and `parse_processes = 1`, so the feeds
reach the database in one order every run (which copy arrives first decides what the others
join, and the figures must not depend on which loopback answer came back first). The
timelines run one split at a time: splits reuse real events (Mt. Gox's filing is in a tune
and a heldout2 timeline), and a report that repeats another split's is a copy the pipeline
rightly holds back but neither split's labels count. Prints, per split (tune, heldout,
heldout2) and per labelled batch:
- timelines (story_timelines.jsonl): development recall (an event counts as delivered when
  any of its reports was), copy suppression (each report of an event delivered after the
  first is a copy delivered again: a failure), and new stories delivered;
- pairs (story_developments.jsonl): each pair's earlier item in wave 1 and its later item
  in wave 2; a development delivered, a copy not;
- the same for tests/data/story_fresh_heldout.jsonl (labelled after the method was frozen)
  and tests/data/story_heldout2.jsonl (batch 5, labelled before the late-copy check was
  built; `--only fresh` / `--only heldout2`);
- for the pairs, the baseline measured in the same run: what the product did before issue 9
  (a story delivered once is never delivered again): a later item delivered only when it did
  not join its earlier item's story, read from the same run's `articles list`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from story_waves import (  # noqa: E402
    load,
    pair_articles,
    pair_figures,
    run_waves,
    timeline_articles,
    timeline_figures,
)

SPLITS = ("tune", "heldout", "heldout2")  # heldout2: batch 5 timelines


def timelines() -> None:
    rows = load("story_timelines.jsonl")
    print(f"Timelines: {len(rows)}, each split through the pipeline in a run of its own")
    for split in SPLITS:
        part = [t for t in rows if t["split"] == split]
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            outcome = run_waves(timeline_articles(part), Path(folder))
            took = time.perf_counter() - started
        figures = timeline_figures(part, outcome)
        print(figures.line(f"{split} ({took:.1f} s)"))
        for failure in figures.failures:
            print(f"      {failure}")


def pairs(
    name: str = "story_developments.jsonl", splits: tuple[str, ...] = ("tune", "heldout")
) -> None:
    rows = [p for p in load(name) if p["label"] in ("copy", "development")]
    articles, kept = pair_articles(rows)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        outcome = run_waves(articles, Path(folder))
        took = time.perf_counter() - started
    print(
        f"Pairs ({name}): {len(kept)} of {len(rows)} (a later item that is another pair's "
        f"earlier one cannot be in both waves) in {took:.1f} s"
    )
    for split in splits:
        part = [p for p in kept if p["split"] == split]
        print(pair_figures(part, outcome, baseline=True).line(f"{split}, before issue 9"))
        figures = pair_figures(part, outcome)
        print(figures.line(split))
        for failure in figures.failures[:40]:
            print(f"      {failure}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("timelines", "pairs", "fresh", "heldout2"))
    args = parser.parse_args()
    if args.only in (None, "timelines"):
        timelines()
    if args.only in (None, "pairs"):
        pairs()
    if args.only in (None, "fresh"):
        pairs("story_fresh_heldout.jsonl", ("fresh",))
    if args.only in (None, "heldout2"):
        pairs("story_heldout2.jsonl", ("heldout2",))


if __name__ == "__main__":
    main()
