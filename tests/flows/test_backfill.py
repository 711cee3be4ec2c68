"""Backfill: a watchlist that appears, changes or becomes valid again gets the matches of the
stored articles of the backfill window for its next digest: never an alert, never an article
matched already, never a story already delivered for it. The flow against a real database,
then `monitor run` as an operator runs it: a new watchlist file dropped into its folder gets
a first digest with the stored matches, and an edit of it brings no story delivered before."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from delivery_fixtures import alert_matches
from entries import T0, real_news_feeds
from harness import digest_files, monitor_command, wait_for
from harness import monitor_environment as environment
from loopback import FeedServer, Route
from sqlalchemy import Engine, select
from test_explain import FIRST_POLL, WATCHLIST, Item, poll

from monitor.adapters.db.schema import matches
from monitor.config import parse_settings
from monitor.core.watchlist import parse_watchlist
from monitor.flows.backfill import apply_watchlists, backfill_watchlist
from monitor.flows.digests import record_digest
from monitor.service.reload import WatchlistReloader

SYRIA = """name = "Syria desk"
threshold = 4.0
alert_threshold = 5.0
schedule = "* * * * *"
channels = ["local"]
max_items = 100

[[terms]]
match = "Syria"
aliases = ["Syrian"]
weight = 4.0
"""
IRAN_TERM = '\n[[terms]]\nmatch = "Iran"\naliases = ["Iranian"]\nweight = 4.0\n'


def stored_matches(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(matches).order_by(matches.c.id)))


def test_a_new_watchlist_gets_the_stored_matches_for_its_next_digest_never_an_alert(
    engine: Engine,
) -> None:
    existing = parse_watchlist(WATCHLIST, watchlist_id="idlib", source="idlib.toml")
    ids = poll(engine, existing, FIRST_POLL, T0)
    # The same watchlist under a new id, as if its file had just been dropped in.
    new = parse_watchlist(WATCHLIST, watchlist_id="fresh", source="fresh.toml")
    now = T0 + timedelta(hours=1)
    results = apply_watchlists(engine, [existing, new], window=timedelta(days=3), now=now)
    # Neither version was recorded: both are backfilled, and idlib's matches are all there.
    assert [r.watchlist_id for r in results] == ["fresh", "idlib"]
    result, old = results
    assert (old.recorded, old.already_matched) == (0, 3)
    rows = [m for m in stored_matches(engine) if m.watchlist_id == "fresh"]
    assert {m.article_id for m in rows} == {ids["delivered"], ids["alert"], ids["rate_limited"]}
    assert all(m.origin == "backfill" for m in rows) and result.recorded == 3
    # Strong enough to alert, yet a backfill never alerts, even were its matches handed to
    # the alert path as a poll's are.
    assert alert_matches(engine, new, [m.id for m in rows], now=now, channels=["local"]) == []
    digest = record_digest(engine, new, channels=["local"], window_key="w", window_end=now, now=now)
    assert digest.content.total == 3
    # Nothing changed: nothing is backfilled again.
    assert apply_watchlists(engine, [existing, new], window=timedelta(days=3), now=now) == []


def test_backfill_skips_stories_delivered_before_and_matched_articles(engine: Engine) -> None:
    v1 = parse_watchlist(WATCHLIST, watchlist_id="idlib", source="idlib.toml")
    ids = poll(engine, v1, FIRST_POLL, T0)
    apply_watchlists(engine, [v1], window=timedelta(0), now=T0)  # in force, no backfill
    record_digest(engine, v1, channels=["local"], window_key="w1", window_end=T0, now=T0)
    # A copy of the delivered story arrives while the watchlist misses it (scored by nothing),
    # then v2 is saved: it matches the copy, whose story was delivered.
    copy = Item(
        "copy",
        "desk",
        "Idlib talks resume in Ankara (update)",
        "Delegations met on Tuesday to discuss Idlib and the road ahead for the province.",
        "https://news.example/idlib-talks?utm_source=desk",
    )
    blind = parse_watchlist(
        WATCHLIST.replace('feeds = ["wire", "desk"]', 'feeds = ["wire"]'),
        watchlist_id="idlib",
        source="idlib.toml",
    )
    ids.update(poll(engine, blind, [copy], T0 + timedelta(minutes=5)))
    v2 = parse_watchlist(
        WATCHLIST.replace('exclude = ["football"]', "exclude = []"),
        watchlist_id="idlib",
        source="idlib.toml",
    )
    now = T0 + timedelta(hours=1)
    (result,) = apply_watchlists(engine, [v2], window=timedelta(days=3), now=now)
    assert result.delivered == 1  # the copy
    assert result.already_matched == 3
    assert result.recorded == 1  # the football article, no longer vetoed
    (new,) = [m for m in stored_matches(engine) if m.origin == "backfill"]
    assert new.article_id == ids["vetoed"]


def test_backfill_window_zero_records_the_version_only(engine: Engine) -> None:
    watchlist = parse_watchlist(WATCHLIST, watchlist_id="idlib", source="idlib.toml")
    poll(engine, parse_watchlist(WATCHLIST, watchlist_id="other", source="o.toml"), FIRST_POLL, T0)
    assert apply_watchlists(engine, [watchlist], window=timedelta(0), now=T0) == []
    assert not [m for m in stored_matches(engine) if m.watchlist_id == "idlib"]
    # `watchlists apply` backfills by hand, whatever was recorded.
    result = backfill_watchlist(engine, watchlist, since=T0 - timedelta(days=1), now=T0)
    assert result.recorded == 3


@pytest.mark.parametrize(("value", "days"), [("0", 0), ("3d", 3), ("12h", 0.5)])
def test_the_backfill_setting(value: str, days: float, tmp_path: Path) -> None:
    settings = parse_settings({"watchlists": {"backfill": value}}, tmp_path / "config.toml")
    assert settings.watchlists.backfill == timedelta(days=days)
    assert parse_settings({}, tmp_path / "c.toml").watchlists.backfill == timedelta(days=3)


# ---- the daemon ---------------------------------------------------------------------------


@pytest.fixture
def running(corpus: Path, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    with FeedServer() as server:
        feeds = [
            f'[[feeds]]\nname = "outlet-{i:02d}"\nurl = "'
            + server.add(f"/o{i}.xml", Route(path.read_bytes(), etag=f'"{i}"'))
            + '"\n'
            for i, path in enumerate(real_news_feeds(corpus))
        ]
        (tmp_path / "watchlists").mkdir()
        config = tmp_path / "config.toml"
        config.write_text(
            "\n".join(
                [
                    '[database]\nurl = "sqlite:///data/monitor.db"\n',
                    "[polling]\nparse_processes = 1\n",
                    '[server]\nlisten = ""\n',
                    '[watchlists]\ndir = "watchlists"\nbackfill = "3d"\n',
                    '[channels.local]\ntype = "file"\npath = "data/digests"\n',
                    *feeds,
                ]
            ),
            encoding="utf-8",
        )
        log_path = tmp_path / "run.log"
        with log_path.open("w", encoding="utf-8") as log_file:
            daemon = subprocess.Popen(
                monitor_command(config, "--log-format", "json", "run"),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=environment(),
            )
        try:
            yield config, log_path
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)


def log_lines(log_path: Path) -> list[dict[str, Any]]:
    lines = []
    for line in log_path.read_text(encoding="utf-8").splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def logged(log_path: Path, words: str) -> list[dict[str, Any]]:
    return [line for line in log_lines(log_path) if words in str(line.get("message", ""))]


def syria_digests(config: Path) -> list[dict[str, Any]]:
    return [
        d
        for d in digest_files(config.parent / "data" / "digests")
        if d["watchlist"]["id"] == "syria" and d["stories"]
    ]


@pytest.mark.slow
def test_a_watchlist_dropped_into_a_running_daemon_gets_the_stored_matches(
    running: tuple[Path, Path], tmp_path: Path
) -> None:
    config, log_path = running
    wait_for(lambda: logged(log_path, "polled 13 feeds"), 60, "the first poll of the 13 feeds")
    # What the new watchlist will find, asked beforehand the way an analyst would.
    draft = tmp_path / "draft.toml"
    draft.write_text(SYRIA, encoding="utf-8")
    expected = json.loads(
        subprocess.run(
            monitor_command(config, "backtest", "syria", "--file", str(draft), "--format", "json"),
            capture_output=True,
            text=True,
            env=environment(),
            check=True,
            timeout=60,
        ).stdout
    )
    assert expected["after"]["stories"] >= 5 and expected["before"]["matched"] == 0

    (config.parent / "watchlists" / "syria.toml").write_text(SYRIA, encoding="utf-8")
    assert wait_for(lambda: logged(log_path, "backfill:"), 60, "the backfill log line")
    # The first digest asked for now, as an analyst would, rather than at the next minute;
    # the second is the daemon's own scheduled one. (Had the daemon's schedule fired first,
    # this digest is empty and sends nothing: the daemon's holds the backfilled matches.)
    subprocess.run(
        monitor_command(config, "digest", "send", "syria"),
        capture_output=True,
        env=environment(),
        check=True,
        timeout=60,
    )
    (first,) = wait_for(lambda: syria_digests(config), 90, "the first digest of syria")
    stories = {item["story_id"] for item in first["stories"]}
    assert stories == {item["story_id"] for item in expected["added"]}
    assert first["total"] == expected["after"]["stories"]

    # An edit (Iran too): the reload backfills again; the next digest carries the new stories
    # and none that the first digest delivered.
    (config.parent / "watchlists" / "syria.toml").write_text(SYRIA + IRAN_TERM, encoding="utf-8")
    digests = wait_for(
        lambda: (found := syria_digests(config)) and len(found) >= 2 and found,
        150,
        "the second digest of syria",
    )
    second = digests[1]
    again = {item["story_id"] for item in second["stories"]}
    assert again and not again & stories
    assert all("Iran" in item["matched_terms"] for item in second["stories"]), second["stories"]
    # Neither backfill alerted.
    assert not [d for d in digest_files(config.parent / "data" / "digests") if d["kind"] == "alert"]


def test_an_edit_that_becomes_valid_again_is_backfilled(engine: Engine, tmp_path: Path) -> None:
    """While a file is invalid its last good version stays in force (and scores what
    arrives); once fixed, the fixed version is backfilled over what arrived meanwhile."""
    folder = tmp_path / "watchlists"
    folder.mkdir()
    path = folder / "idlib.toml"
    narrow = WATCHLIST.replace('exclude = ["football"]', 'exclude = ["football", "Ankara"]')
    path.write_text(narrow, encoding="utf-8")
    reloader = WatchlistReloader(folder)
    reloader.check()
    apply_watchlists(engine, reloader.state.in_force.values(), window=timedelta(days=3), now=T0)
    path.write_text(narrow.replace("threshold = 4.0", 'threshold = "high"'), encoding="utf-8")
    assert reloader.check() and reloader.state.invalid
    # Articles arrive while the file is broken: scored by the last good (narrow) version.
    ids = poll(engine, reloader.state.in_force["idlib"], FIRST_POLL, T0 + timedelta(minutes=5))
    in_force = reloader.state.in_force.values()
    assert apply_watchlists(engine, in_force, window=timedelta(days=3), now=T0) == []
    assert ids["delivered"] not in {m.article_id for m in stored_matches(engine)}  # "Ankara"
    path.write_text(WATCHLIST, encoding="utf-8")  # fixed, and without the Ankara veto
    assert reloader.check() and not reloader.state.invalid
    now = T0 + timedelta(minutes=10)
    (result,) = apply_watchlists(
        engine, reloader.state.in_force.values(), window=timedelta(days=3), now=now
    )
    assert result.recorded == 1
    (backfilled,) = [m for m in stored_matches(engine) if m.origin == "backfill"]
    assert backfilled.article_id == ids["delivered"]
