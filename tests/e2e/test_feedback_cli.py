"""`monitor feedback`: label, list and export from the command line, with the exit codes and
messages of the other commands (0 done, 2 an argument to fix). In process, against a real
SQLite database made by the config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from entries import T0, add_feed, entry

from monitor.adapters.db import article_store
from monitor.app import open_database
from monitor.cli import main
from monitor.config import load_settings

WATCHLIST = 'name = "S-400"\nthreshold = 1.0\n\n[[terms]]\nmatch = "S-400"\n'


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text('[database]\nurl = "sqlite:///data/monitor.db"\n', encoding="utf-8")
    (tmp_path / "watchlists").mkdir()
    (tmp_path / "watchlists" / "s400.toml").write_text(WATCHLIST, encoding="utf-8")
    engine = open_database(load_settings(path, environ={}))
    feed_id = add_feed(engine)
    with engine.begin() as c:
        article_store.store_entries(c, feed_id, [entry(1), entry(2)], T0)
    engine.dispose()
    return path


def run(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        status = main(["--config", str(config), "feedback", *args])
    except SystemExit as exc:  # argparse's usage errors
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def test_label_list_and_export(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(config, capsys, "1", "--watchlist", "s400", "irrelevant", "--note", "cars")
    assert status == 0 and "article 1 (Story 1) is irrelevant for s400" in out
    status, out, _ = run(config, capsys, "https://example.org/2", "--watchlist", "s400", "relevant")
    assert status == 0

    status, out, _ = run(config, capsys, "list", "--format", "json")
    assert status == 0
    rows = json.loads(out)
    assert [(r["article_id"], r["label"], r["note"]) for r in rows] == [
        (1, "irrelevant", "cars"),
        (2, "relevant", None),
    ]
    status, out, _ = run(config, capsys, "list", "--since", "1d")
    assert status == 0 and "2 labels" in out and "Story 2" in out

    status, out, _ = run(config, capsys, "export", "--watchlist", "s400")
    lines = [json.loads(line) for line in out.splitlines()]
    assert status == 0
    assert [(x["id"], x["title"], x["relevant"], x["irrelevant"]) for x in lines] == [
        ("1", "Story 1", [], ["s400"]),
        ("2", "Story 2", ["s400"], []),
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (["999", "--watchlist", "s400", "relevant"], "no stored article with id 999"),
        (["https://nowhere.example/x", "--watchlist", "s400", "relevant"], "no stored article"),
        (["1", "--watchlist", "nope", "relevant"], "--watchlist 'nope': no such watchlist"),
        (["1", "--watchlist", "s400", "meh"], "label 'meh': use relevant or irrelevant"),
        (["1", "relevant"], "give --watchlist ID and relevant or irrelevant"),
        (["1", "--watchlist", "s400"], "give --watchlist ID and relevant or irrelevant"),
        (["list", "--note", "x"], "--note: not used when feedback list"),
        (["export", "--since", "1d"], "--since: not used when feedback export"),
        (["1", "--watchlist", "s400", "relevant", "--since", "1d"], "--since: not used"),
        (["list", "--watchlist", "nope"], "--watchlist 'nope': no such watchlist"),
    ],
)
def test_usage_and_unknown_names_exit_2_with_a_message(
    config: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    status, _, err = run(config, capsys, *args)
    assert status == 2
    assert message in err
    status, out, _ = run(config, capsys, "list", "--format", "json")
    assert json.loads(out) == []
