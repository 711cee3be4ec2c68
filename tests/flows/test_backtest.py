"""`monitor backtest` over a database filled from the 13 real outlet feeds of the corpus
(served on loopback, polled by `monitor poll --once`), checked against `monitor score` run on
the same stored articles (exported with `monitor articles list --format json`): for a shipped
watchlist edited three ways (a term added, the threshold raised, an exclude added), the
stories added and removed and their scores before and after must be exactly what scoring the
articles independently says."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from entries import T0, real_news_feeds
from loopback import FeedServer, Route

from monitor.adapters.feed_parse import parse_feed
from monitor.adapters.files.watchlists import load_watchlists
from monitor.cli import main
from monitor.core.backtest import Replay, StoredArticle

REPO = Path(__file__).resolve().parents[2]
SYRIA_TERM = '\n[[terms]]\nmatch = "Syria"\naliases = ["Syrian"]\nweight = 4.0\n'


def run(config: Path, *args: str, expect: int = 0) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--config", str(config), *args])
    assert code == expect, err.getvalue()
    return out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def served(corpus: Path) -> Iterator[FeedServer]:
    with FeedServer() as server:
        for index, path in enumerate(real_news_feeds(corpus)):
            server.add(f"/outlet-{index:02d}.xml", Route(path.read_bytes(), etag=f'"{index}"'))
        yield server


@pytest.fixture(scope="module")
def polled(
    served: FeedServer, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[dict[str, Any]]]:
    """A database filled by `monitor poll --once` from the real feeds, with the shipped
    watchlists in force, and its articles as `monitor articles list` gives them."""
    tmp_path = tmp_path_factory.mktemp("polled")
    shutil.copytree(REPO / "watchlists", tmp_path / "watchlists")
    config = tmp_path / "config.toml"
    feeds = "".join(
        f'[[feeds]]\nname = "{path.lstrip("/").removesuffix(".xml")}"\nurl = "{served.url(path)}"\n'
        for path in sorted(served.routes)
    )
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/monitor.db"\n'
        "[polling]\nparse_processes = 0\n"
        f'[watchlists]\ndir = "{tmp_path}/watchlists"\n'
        '[server]\nlisten = ""\n'
        f'[channels.local]\ntype = "file"\npath = "{tmp_path}/digests"\n' + feeds
    )
    summary = json.loads(run(config, "poll", "--once", "--all", "--format", "json")[0])
    assert summary["new_articles"] > 300
    articles = json.loads(
        run(config, "articles", "list", "--format", "json", "--text-chars", "1000000")[0]
    )
    assert len(articles) == summary["new_articles"]
    return config, articles


def independent_scores(
    config: Path,
    articles: list[dict[str, Any]],
    watchlist_file: Path,
    scratch: Path,
) -> dict[int, dict[str, Any]]:
    """`monitor score` of every stored article against this version of idlib, beside the other
    watchlists in force and the example files (the semantic part is fitted on all of them)."""
    folder = scratch / f"version-{len(list(scratch.glob('version-*')))}"
    shutil.copytree(config.parent / "watchlists", folder)
    shutil.copy(watchlist_file, folder / "idlib.toml")
    lines = scratch / "articles.jsonl"
    if not lines.exists():
        lines.write_text(
            "".join(
                json.dumps({"id": a["id"], "title": a["title"], "summary": a["summary"]}) + "\n"
                for a in articles
            )
        )
    out, _ = run(
        config,
        "score",
        str(lines),
        "--watchlist-dir",
        str(folder),
        "--watchlist",
        "idlib",
        "--format",
        "json",
    )
    return {int(r["article"]): r for r in map(json.loads, out.splitlines())}


def expected_diff(
    articles: list[dict[str, Any]],
    before: dict[int, dict[str, Any]],
    after: dict[int, dict[str, Any]],
) -> tuple[set[int], set[int]]:
    story = {a["id"]: a["story_id"] for a in articles}
    matched_before = {story[i] for i, r in before.items() if r["matched"]}
    matched_after = {story[i] for i, r in after.items() if r["matched"]}
    return matched_after - matched_before, matched_before - matched_after


def edit(source: Path, target: Path, change: Any) -> Path:
    target.write_text(change(source.read_text(encoding="utf-8")), encoding="utf-8")
    return target


EDITS = {
    # The shipped idlib matches nothing in these feeds; Syria brings a dozen stories.
    "adds a term": lambda text: text + SYRIA_TERM,
    "raises the threshold": lambda text: re.sub(
        r"^threshold = 4.0$", "threshold = 7.6", text + SYRIA_TERM, flags=re.M
    ),
    "adds an exclude": lambda text: re.sub(
        r"^feeds = \[\"\*\"\]$",
        'feeds = ["*"]\nexclude = ["Australia*", "Alawite"]',
        text + SYRIA_TERM,
        flags=re.M,
    ),
}


@pytest.mark.parametrize("name", list(EDITS))
def test_backtest_agrees_with_monitor_score(
    name: str,
    polled: tuple[Path, list[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    config, articles = polled
    # The version in force: the shipped one, or for the later edits the shipped one with Syria,
    # put in force with `watchlists apply` (what a reload does).
    shipped = config.parent / "watchlists" / "idlib.toml"
    in_force = (REPO / "watchlists" / "idlib.toml").read_text(encoding="utf-8")
    if name != "adds a term":
        in_force = EDITS["adds a term"](in_force)
    shipped.write_text(in_force, encoding="utf-8")
    run(config, "watchlists", "apply", "idlib")
    edited = edit(REPO / "watchlists" / "idlib.toml", tmp_path / "draft.toml", EDITS[name])
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    before = independent_scores(config, articles, shipped, scratch)
    after = independent_scores(config, articles, edited, scratch)
    added, removed = expected_diff(articles, before, after)

    document = json.loads(
        run(config, "backtest", "idlib", "--file", str(edited), "--format", "json")[0]
    )

    assert document["watchlist"] == "idlib"
    assert document["before_version"] == "recorded"
    assert document["scanned"] == len(articles)
    assert document["before"]["matched"] == sum(r["matched"] for r in before.values())
    assert document["after"]["matched"] == sum(r["matched"] for r in after.values())
    assert document["before"]["alerts"] == sum(r["alert"] for r in before.values())
    assert document["after"]["alerts"] == sum(r["alert"] for r in after.values())
    assert {item["story_id"] for item in document["added"]} == added
    assert {item["story_id"] for item in document["removed"]} == removed
    for item in document["added"] + document["removed"]:
        assert item["score_before"] == before[item["article_id"]]["score"], item
        assert item["score_after"] == after[item["article_id"]]["score"], item
        assert set(item) >= {
            "article_id",
            "story_id",
            "url",
            "title",
            "score_before",
            "score_after",
        }
    if name == "adds a term":
        assert len(added) >= 5 and not removed
        assert all(item["terms"][0]["term"] == "Syria" for item in document["added"])
    else:
        assert removed and not added
    if name == "adds an exclude":
        assert all("vetoed by exclude" in item["reason"] for item in document["removed"])
    if name == "raises the threshold":
        assert all("below threshold 7.6" in item["reason"] for item in document["removed"])


def test_backtest_text_output_and_a_new_watchlist(
    polled: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    config, _articles = polled
    draft = edit(REPO / "watchlists" / "idlib.toml", tmp_path / "syria.toml", EDITS["adds a term"])
    # No version of "syria" is in force and no file of that name exists: everything is added.
    text, _ = run(config, "backtest", "syria", "--file", str(draft))
    assert "against nothing (no version in force recorded: a new watchlist)" in text
    assert re.search(r"scanned \d+ articles: matched before 0 .* stories added, 0 removed", text)
    assert "\nadded:\n" in text and "Syria: 0 -> " in text
    assert re.search(r"articles in [\d.]+ s: [\d,]+ articles/s", text)


def test_backtest_reports_an_invalid_edit(
    polled: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    config, _articles = polled
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "x"\nthreshold = "high"\n')
    _, err = run(config, "backtest", "idlib", "--file", str(broken), expect=2)
    assert "broken.toml: threshold" in err


@pytest.mark.parametrize("threshold", [None, 0.5, 2.0, 6.0])
def test_the_fast_path_decides_exactly_what_full_scoring_does(
    corpus: Path, threshold: float | None
) -> None:
    """Skipping articles on the stored match form never changes a verdict: every shipped
    watchlist, at its own and at other thresholds, over the real articles."""
    entries = [
        e
        for path in real_news_feeds(corpus)
        for e in parse_feed(path.read_bytes(), url="http://x/", headers={}, fetched_at=T0).entries
    ]
    for watchlist in load_watchlists(REPO / "watchlists").watchlists:
        edited = watchlist if threshold is None else replace(watchlist, threshold=threshold)
        fast, full = Replay(watchlist, edited), Replay(watchlist, edited)
        for n, e in enumerate(entries):
            stored = StoredArticle(n, None, e.url, e.title, e.text, e.match_text, "feed")
            a, b = fast.score(stored), full.score(replace(stored, match_text=None))
            for x, y in ((a.before, b.before), (a.after, b.after)):
                assert x is not None and y is not None
                assert (x.matched, x.alert) == (y.matched, y.alert), (watchlist.id, e.title)
                if y.matched:
                    assert x == y
        assert fast.fully_scored < full.fully_scored or threshold == 0.5
