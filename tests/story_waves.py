"""Two waves through the real pipeline (issue 9): the labelled stories served as their outlets'
own feeds on loopback, `monitor poll --once` (the CLI, built by monitor.app), `monitor digest
send` to the file channel, the second wave added to the feeds, poll and digest again; then
which articles the digests delivered, read back from the file channel's JSON.

Shared by tests/e2e/test_story_waves.py (the floors) and bench/story_waves.py (the figures).
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from html import unescape
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from harness import run_monitor, write_config
from loopback import FeedServer, Route

from monitor.core.urls import canonical_url

DATA = Path(__file__).resolve().parent / "data"

# Every article matches (terms chosen so each title has one): what is measured is delivery,
# copy or development, not scoring.
WATCHLIST = """name = "Everything"
threshold = 0.5
max_items = 5000
channels = ["files"]
schedule = "@daily"
timezone = "UTC"
"""
_WORD = re.compile(r"[a-z]{3,}")


def covering_terms(titles: Iterable[str]) -> list[str]:
    """A few words such that every title contains one (greedy set cover)."""
    left = [set(_WORD.findall(t.lower())) for t in titles]
    left = [words for words in left if words]
    chosen: list[str] = []
    while left:
        counts: dict[str, int] = defaultdict(int)
        for words in left:
            for w in words:
                counts[w] += 1
        best = max(sorted(counts), key=counts.__getitem__)
        chosen.append(best)
        left = [words for words in left if best not in words]
    return chosen


def load(name: str) -> list[dict[str, Any]]:
    with (DATA / name).open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


@dataclass(frozen=True)
class Article:
    key: str  # canonical URL
    wave: int
    outlet: str
    title: str
    text: str
    url: str
    published: str


def _rss(items: Iterable[Article]) -> bytes:
    entries = "".join(
        f"<item><title>{escape(a.title)}</title><link>{escape(a.url)}</link>"
        f"<guid isPermaLink='false'>{escape(a.url)}</guid>"
        f"<description>{escape(a.text)}</description>"
        f"<pubDate>{format_datetime(datetime.fromisoformat(a.published.replace('Z', '+00:00')))}"
        "</pubDate></item>"
        for a in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>t</title><link>http://x.example/</link>{entries}</channel></rss>"
    ).encode()


def article(side: dict[str, Any], wave: int) -> Article:
    url = unescape(side["url"])  # the UCI export carries some links HTML-escaped
    return Article(
        canonical_url(url) or url,
        wave,
        side["outlet"],
        side["title"],
        side.get("text") or side.get("summary") or "",
        url,
        side["published"],
    )


@dataclass(frozen=True)
class Outcome:
    delivered: frozenset[str]  # keys of the articles the digests delivered
    story: dict[str, int | None]  # key -> the story the pipeline put the article in


def run_waves(articles: Sequence[Article], folder: Path) -> Outcome:
    """Poll wave 1, send the digest, add wave 2, poll, send: what was delivered, and the
    story of every article (`monitor articles list`)."""
    by_outlet: dict[str, list[Article]] = defaultdict(list)
    for a in articles:
        by_outlet[a.outlet].append(a)
    outlets = sorted(by_outlet)
    out = folder / "digests"
    with FeedServer() as server:
        urls = {o: server.url(f"/o{n}.xml") for n, o in enumerate(outlets)}
        config = write_config(
            folder / "config.toml",
            f'[database]\nurl = "sqlite:///{folder}/m.db"\n[watchlists]\ndir = "{folder}/wl"\n'
            # One feed at a time through one parse process, in the same order every run:
            # which copy of a story reaches the database first decides what the others join,
            # and the figures must not depend on which answer or parse finished first.
            '[stories]\nwindow = "36500d"\n[polling]\ninterval = "1s"\nconcurrency = 1\n'
            "parse_processes = 1\n"
            f'[channels.files]\ntype = "file"\npath = "{out}"\n',
            feeds=[(f"outlet-{n}", urls[o]) for n, o in enumerate(outlets)],
        )
        (folder / "wl").mkdir(exist_ok=True)
        terms = "".join(
            f'\n[[terms]]\nmatch = "{w}"\nweight = 1.0\n'
            for w in covering_terms(a.title for a in articles)
        )
        (folder / "wl" / "all.toml").write_text(WATCHLIST + terms, encoding="utf-8")
        for wave in (1, 2):
            for n, outlet in enumerate(outlets):
                shown = [a for a in by_outlet[outlet] if a.wave <= wave]
                server.add(f"/o{n}.xml", Route(_rss(shown), etag=f'"w{wave}"'))
            time.sleep(1.1)  # the feeds' 1 s interval: every feed is due again
            for command in (("poll", "--once"), ("digest", "send", "all")):
                result = run_monitor(config, *command, timeout=600)
                assert result.returncode == 0, (command, result.stderr[-2000:])
        listed = run_monitor(config, "articles", "list", "--since", "36500d", "--format", "json")
        assert listed.returncode == 0, listed.stderr[-2000:]
    story_of = {
        canonical_url(a["url"]) or a["url"]: a["story_id"]
        for a in json.loads(listed.stdout)
        if a["url"]
    }
    delivered: set[str] = set()
    for path in out.glob("*.json"):
        for item in json.loads(path.read_text(encoding="utf-8"))["stories"]:
            if item["url"]:
                delivered.add(canonical_url(item["url"]) or item["url"])
    return Outcome(frozenset(delivered), story_of)


@dataclass(frozen=True)
class Figures:
    """Development recall, copy suppression, and new stories delivered, with their counts."""

    developments: int
    developments_delivered: int
    copies: int
    copies_delivered: int
    new: int
    new_delivered: int
    failures: tuple[str, ...]

    @property
    def recall(self) -> float:
        return self.developments_delivered / max(1, self.developments)

    @property
    def suppression(self) -> float:
        return 1 - self.copies_delivered / max(1, self.copies)

    def line(self, name: str) -> str:
        return (
            f"  {name:30} development recall {self.recall:.3f} ({self.developments:3})  "
            f"copy suppression {self.suppression:.3f} ({self.copies:3})  "
            f"new stories {self.new_delivered}/{self.new}"
        )


def timeline_articles(timelines: Sequence[dict[str, Any]]) -> list[Article]:
    return [article(item, item["wave"]) for t in timelines for item in t["items"]]


def _event(items: dict[str, dict[str, Any]], key: str) -> str:
    """The new story or development a report belongs to (a copy's `of`, followed)."""
    while items[key]["expect"] == "copy" and items[key]["of"] in items:
        key = items[key]["of"]
    return key


def timeline_figures(timelines: Sequence[dict[str, Any]], outcome: Outcome) -> Figures:
    """An event (a new story or a development) counts as delivered when any of its reports
    was (`of` records which copy belongs to which event); each further report of it that was
    delivered is a copy delivered again."""
    devs = devs_ok = copies = copies_bad = new = new_ok = 0
    failures: list[str] = []
    for timeline in timelines:
        items = {i["key"]: i for i in timeline["items"]}

        reports: dict[str, list[str]] = defaultdict(list)
        for key in items:
            reports[_event(items, key)].append(key)
        for head, members in reports.items():
            sent = [k for k in members if article(items[k], 0).key in outcome.delivered]
            kind = items[head]["expect"]
            copies += len(members) - 1
            copies_bad += max(0, len(sent) - 1)
            if len(sent) > 1:
                stories = {outcome.story.get(article(items[k], 0).key) for k in sent}
                why = "not grouped" if len(stories) > 1 else "grouped, decided development"
                failures.append(
                    f"{timeline['id']}: {len(sent) - 1} copies of {head} delivered ({why})"
                )
            if kind == "development":
                devs += 1
                devs_ok += bool(sent)
            else:
                new += 1
                new_ok += bool(sent)
            if not sent:
                failures.append(f"{timeline['id']}: {kind} {head} never delivered")
    return Figures(devs, devs_ok, copies, copies_bad, new, new_ok, tuple(failures))


def pair_articles(pairs: Sequence[dict[str, Any]]) -> tuple[list[Article], list[dict[str, Any]]]:
    """Every pair's earlier item in wave 1, its later item in wave 2; pairs whose later item
    is another pair's earlier one are left out (they cannot be in both waves)."""
    first = {article(p["a"], 1).key: article(p["a"], 1) for p in pairs}
    second = {}
    kept = []
    for p in pairs:
        later = article(p["b"], 2)
        if later.key in first:
            continue
        second[later.key] = later
        kept.append(p)
    return [*first.values(), *second.values()], kept


def pair_figures(
    pairs: Sequence[dict[str, Any]], outcome: Outcome, *, baseline: bool = False
) -> Figures:
    """A development is found when its later item was delivered; a copy is suppressed when
    it was not. (A later item that started a story of its own is delivered too: for a
    development that is fine, for a copy it is the failure the floor counts.)"""
    devs = devs_ok = copies = copies_bad = 0
    failures = []
    for p in pairs:
        later, earlier = article(p["b"], 2).key, article(p["a"], 1).key
        joined = outcome.story.get(later) == outcome.story.get(earlier)
        # The baseline: before issue 9 a later item was delivered only if it did not join.
        sent = not joined if baseline else later in outcome.delivered
        where = "joined its story" if joined else "not in its story"
        if p["label"] == "development":
            devs += 1
            devs_ok += sent
            if not sent:
                failures.append(f"{p['id']}: development suppressed ({where}): {p['b']['title']}")
        elif p["label"] == "copy":
            copies += 1
            copies_bad += sent
            if sent:
                failures.append(f"{p['id']}: copy delivered ({where}): {p['b']['title']}")
    return Figures(devs, devs_ok, copies, copies_bad, 0, 0, tuple(failures))
