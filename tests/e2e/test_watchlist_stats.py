"""`monitor watchlists stats` and the labels part of `monitor backtest`, through the CLI, on a
database filled by `monitor poll --once` from a feed served on loopback and labelled with the
feedback store.

The watchlist has three terms; every irrelevant match comes from one of them (S-400, in
reports on the Mercedes S 400 car), and the relevant ones mostly from the other two. The stats
must name S-400 as the noisy term first, and the exclude they suggest, written into the file
and replayed by `monitor backtest`, must drop every irrelevant labelled match and keep every
relevant one.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from loopback import FeedServer, Route
from sqlalchemy import Engine

from monitor.adapters.db import feedback_store
from monitor.adapters.db.engine import make_engine
from monitor.cli import main

WATCHLIST = """name = "Turkey defence"
threshold = 4.0
alert_threshold = 9.0
channels = ["local"]

[[terms]]
match = "S-400"
weight = 4.0

[[terms]]
match = "CAATSA"
weight = 4.0

[[terms]]
match = "Incirlik"
weight = 4.0
"""

# (guid, title, text, label or None)
ARTICLES = [
    (
        "r1",
        "Washington weighs CAATSA sanctions on Ankara",
        "Congress is weighing penalties under CAATSA after the Turkish purchase, officials "
        "in Washington said on Tuesday, while diplomats sought a compromise.",
        "relevant",
    ),
    (
        "r2",
        "Air base drills resume",
        "American tankers returned to Incirlik this week as NATO allies resumed joint drills "
        "over the eastern Mediterranean, a spokesman for the alliance said.",
        "relevant",
    ),
    (
        "r3",
        "Senators revive the waiver debate",
        "A bipartisan group of senators wants a narrow CAATSA waiver for allies that buy "
        "Russian weapons, arguing that blanket penalties push partners away.",
        "relevant",
    ),
    (
        "r4",
        "Turkey switches on its S-400 batteries",
        "The Russian-made S-400 missile system was activated near Ankara, the defence "
        "ministry confirmed, ignoring warnings from Washington about sanctions.",
        "relevant",
    ),
    (
        "i1",
        "Road test: a quiet hybrid limousine",
        "The Mercedes S 400 hybrid glides through town on electric power, and its cabin is "
        "among the quietest we have measured in a luxury saloon.",
        "irrelevant",
    ),
    (
        "i2",
        "Used luxury car prices fall",
        "Dealers report that a three-year-old Mercedes S400 now sells for a third less than "
        "last spring, as buyers move to electric models.",
        "irrelevant",
    ),
    (
        "i3",
        "Recall for a seat-belt fault",
        "Mercedes recalls the S-400 and two other models over a seat-belt sensor that may "
        "fail in cold weather; owners will be contacted by letter.",
        "irrelevant",
    ),
    (
        "u1",
        "Design award for a limousine",
        "Judges praised the interior of the Mercedes S-400 long-wheelbase edition, which "
        "took first prize at the autumn show in Geneva.",
        None,
    ),
]


def rss(published: datetime) -> bytes:
    items = "".join(
        f"<item><guid>{guid}</guid><title>{escape(title)}</title>"
        f"<link>http://news.example/{guid}</link><description>{escape(text)}</description>"
        f"<pubDate>{format_datetime(published)}</pubDate></item>"
        for guid, title, text, _ in ARTICLES
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title>{items}'
        "</channel></rss>"
    ).encode()


def run(config: Path, *args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--config", str(config), *args])
    assert code == 0, err.getvalue()
    return out.getvalue()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'monitor.db'}"
    request.getfixturevalue("postgres_engine")  # migrated and emptied for this test
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def labelled(tmp_path: Path, database_url: str) -> Iterator[tuple[Path, dict[str, int]]]:
    """A polled database with the labels of ARTICLES; the config and guid → article id."""
    (tmp_path / "watchlists").mkdir()
    (tmp_path / "watchlists" / "defence.toml").write_text(WATCHLIST, encoding="utf-8")
    with FeedServer() as server:
        server.add("/desk.xml", Route(rss(datetime.now(UTC)), etag='"1"'))
        config = tmp_path / "config.toml"
        config.write_text(
            f'[database]\nurl = "{database_url}"\n'
            "[polling]\nparse_processes = 0\n"
            f'[watchlists]\ndir = "{tmp_path}/watchlists"\n'
            '[server]\nlisten = ""\n'
            f'[channels.local]\ntype = "file"\npath = "{tmp_path}/digests"\n'
            f'[[feeds]]\nname = "desk"\nurl = "{server.url("/desk.xml")}"\n',
            encoding="utf-8",
        )
        run(config, "poll", "--once", "--all")
    stored = json.loads(run(config, "articles", "list", "--format", "json"))
    ids = {a["guid"]: a["id"] for a in stored}
    engine: Engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            for guid, _, _, label in ARTICLES:
                if label is not None:
                    feedback_store.record_label(
                        connection,
                        watchlist_id="defence",
                        article_id=ids[guid],
                        label=label,
                        who="analyst",
                        note=None,
                        at=datetime.now(UTC),
                    )
    finally:
        engine.dispose()
    yield config, ids


def test_stats_name_the_noisy_term_and_an_exclude_that_replays_clean(
    labelled: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    config, ids = labelled
    stats: dict[str, Any] = json.loads(
        run(config, "watchlists", "stats", "defence", "--format", "json")
    )
    assert (stats["matches"], stats["stories"]) == (8, 8)
    assert sum(day["matches"] for day in stats["per_day"]) == 8
    assert (stats["labelled"], stats["relevant"], stats["irrelevant"]) == (7, 4, 3)
    assert stats["precision"] == round(4 / 7, 4)
    assert stats["labelled_share"] == round(7 / 8, 4)
    by_term = {t["term"]: (t["relevant"], t["irrelevant"]) for t in stats["terms"]}
    assert by_term == {"S-400": (1, 3), "CAATSA": (2, 0), "Incirlik": (1, 0)}
    assert stats["terms"][0]["term"] == "S-400" and stats["terms"][0]["noisy"]
    [noisy] = stats["noisy_terms"]
    assert noisy["term"] == "S-400"
    exclude = next(e for e in noisy["edits"] if e["kind"] == "exclude")
    assert exclude["toml"] == 'exclude = ["Mercedes"]'
    assert (exclude["removes_irrelevant"], exclude["loses_relevant"]) == (3, 0)
    # ... and the one Mercedes report nobody labelled, replayed with the window's matches
    assert (exclude["removes_unlabelled"], exclude["unlabelled"]) == (1, 1)
    assert (exclude["precision_before"], exclude["precision_after"]) == (round(4 / 7, 4), 1.0)

    # The suggestion, written into an edit of the file and replayed by `monitor backtest`:
    edited = tmp_path / "defence-edited.toml"
    edited.write_text(
        WATCHLIST.replace('channels = ["local"]\n', f'channels = ["local"]\n{exclude["toml"]}\n'),
        encoding="utf-8",
    )
    report = json.loads(
        run(config, "backtest", "defence", "--file", str(edited), "--format", "json")
    )
    labels = report["labels"]
    assert labels["labelled"] == 7
    assert labels["before"] == {"relevant": 4, "irrelevant": 3, "precision": round(4 / 7, 4)}
    assert labels["after"] == {"relevant": 4, "irrelevant": 0, "precision": 1.0}
    flipped = {f["article_id"]: f for f in labels["flips"]}
    assert set(flipped) == {ids["i1"], ids["i2"], ids["i3"]}
    assert all(
        f["agrees_with_label"] and f["label"] == "irrelevant" and not f["matched_after"]
        for f in flipped.values()
    )
    assert all(f["reason"].startswith("now vetoed by exclude 'Mercedes'") for f in flipped.values())
    # The unlabelled Mercedes report goes too: the edit's story count says so.
    assert report["removed"] and {r["article_id"] for r in report["removed"]} == {
        ids[g] for g in ("i1", "i2", "i3", "u1")
    }


def test_stats_and_backtest_text(labelled: tuple[Path, dict[str, int]], tmp_path: Path) -> None:
    config, ids = labelled
    out = run(config, "watchlists", "stats", "defence")
    lines = out.splitlines()
    assert "labelled: 7 of 8 stories (88%): 4 relevant, 3 irrelevant; precision 0.57" in lines
    terms = lines.index("terms, by the labelled stories they contributed to (noisy first):")
    assert lines[terms + 1].split() == ["S-400", "1", "relevant", "3", "irrelevant", "noisy"]
    assert '  exclude = ["Mercedes"]' in lines
    assert (
        "    removes 3 of 3 irrelevant matches, keeps every relevant one; precision 0.57 -> 1.00"
        in lines
    )
    assert "    and 1 of the window's 1 match without a label" in lines

    edited = tmp_path / "defence-edited.toml"
    edited.write_text(WATCHLIST.replace("[[terms]]", 'exclude = ["Mercedes"]\n[[terms]]', 1))
    lines = run(config, "backtest", "defence", "--file", str(edited)).splitlines()
    assert (
        "on 7 labelled articles: precision before 0.57 (4 relevant, 3 irrelevant match), after "
        "1.00 (4 relevant, 0 irrelevant match); 3 change verdict" in lines
    )
    flips = [line for line in lines if line.startswith("  irrelevant: no longer matches")]
    assert [int(line.split("article ")[1].split()[0]) for line in flips] == [
        ids["i1"],
        ids["i2"],
        ids["i3"],
    ]
    assert all("(as its label wants)" in line for line in flips)
