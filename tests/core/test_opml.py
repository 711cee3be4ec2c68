"""OPML import and export, pure and through the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.core.opml import OPMLError, OPMLFeed, read_opml, write_opml

READER_EXPORT = b"""<?xml version="1.0"?>
<opml version="2.0"><head><title>my reader</title></head><body>
  <outline text="Turkey">
    <outline text="Duvar English" type="rss" xmlUrl="https://www.duvarenglish.com/rss"/>
    <outline title="Al-Monitor" text="x" type="rss" xmlUrl="https://www.al-monitor.com/rss"/>
  </outline>
  <outline text="Duvar English" type="rss" xmlUrl="https://example.org/other"/>
  <outline text="no url here"/>
</body></opml>"""


def test_folders_become_tags_and_names_are_unique() -> None:
    feeds = read_opml(READER_EXPORT).feeds
    assert feeds == [
        OPMLFeed("duvar-english", "https://www.duvarenglish.com/rss", ("turkey",)),
        OPMLFeed("al-monitor", "https://www.al-monitor.com/rss", ("turkey",)),
        OPMLFeed("duvar-english-2", "https://example.org/other", ()),
    ]


@pytest.mark.parametrize("data", [b"", b"<html><body/></html>", b"<opml><body>"])
def test_invalid_opml_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(OPMLError, match="OPML"):
        read_opml(data)


def test_export_reads_back() -> None:
    feeds = [
        OPMLFeed("a", "https://a.example/rss?x=1&y=2", ("t1", "t2")),
        OPMLFeed("b", "https://b"),
    ]
    text = write_opml(feeds, title="t", created=datetime(2026, 1, 1, tzinfo=UTC))
    assert 'version="2.0"' in text
    assert read_opml(text.encode()).feeds == feeds  # tags too


def test_import_then_list_then_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/m.db"\n'
        '[[feeds]]\nname = "configured"\nurl = "https://c.example/rss"\n'
    )
    opml = tmp_path / "reader.opml"
    opml.write_bytes(READER_EXPORT)
    assert main(["--config", str(config), "feeds", "import", str(opml)]) == 0
    assert "3 feeds found, 3 added" in capsys.readouterr().out
    assert main(["--config", str(config), "feeds", "import", str(opml)]) == 0
    assert "0 added, 3 already present" in capsys.readouterr().out
    assert main(["--config", str(config), "feeds", "list", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {f["name"] for f in listed} == {
        "configured",
        "duvar-english",
        "al-monitor",
        "duvar-english-2",
    }
    assert all(f["state"] == "active" and f["articles"] == 0 for f in listed)
    assert set(listed[0]) >= {
        "name",
        "url",
        "state",
        "last_status",
        "last_error",
        "consecutive_failures",
        "last_success_at",
        "next_poll_at",
        "articles",
    }
    assert main(["--config", str(config), "feeds", "export"]) == 0
    exported = read_opml(capsys.readouterr().out.encode()).feeds
    assert len(exported) == 4


def test_import_of_a_missing_file_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/m.db"\n')
    assert main(["--config", str(config), "feeds", "import", str(tmp_path / "none.opml")]) == 2
    assert "none.opml: cannot read" in capsys.readouterr().err
