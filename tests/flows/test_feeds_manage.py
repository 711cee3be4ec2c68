"""`monitor feeds add|remove|disable|enable|test|reset`, in-process against a real HTTP server
on loopback and a SQLite database of the test's own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback import FeedServer, Route

from monitor.cli import main

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Hürriyet Daily News</title><link>https://example.org/</link>
<item><title>Turkey weighs second S-400 batch</title><link>https://example.org/a</link>
<guid>a</guid><pubDate>Tue, 01 Dec 2026 06:00:00 GMT</pubDate><description>Ankara</description></item>
<item><title>Incirlik talks resume</title><link>https://example.org/b</link>
<guid>b</guid><pubDate>Tue, 01 Dec 2026 07:00:00 GMT</pubDate><description>Adana</description></item>
</channel></rss>""".encode()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        running.add("/rss", Route(RSS))
        running.add("/gone", Route(b"", status=410))
        running.add("/gone-too", Route(b"", status=410))
        running.add("/html", Route(b"<html><body>no feed</body></html>", content_type="text/html"))
        yield running


@pytest.fixture
def config(tmp_path: Path, server: FeedServer) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/m.db"\n'
        "[polling]\nparse_processes = 0\n"
        f'[[feeds]]\nname = "configured"\nurl = "{server.url("/gone")}"\n',
        encoding="utf-8",
    )
    return path


def cli(config: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["--config", str(config), *argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def listed(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, object]]:
    code, out, _ = cli(config, capsys, "feeds", "list", "--format", "json")
    assert code == 0
    return {feed["name"]: feed for feed in json.loads(out)}


def test_add_fetches_once_says_what_it_found_and_stores_the_feed(
    config: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = server.url("/rss")
    code, out, _ = cli(config, capsys, "feeds", "add", url, "--tag", "Turkey", "--interval", "10m")
    assert code == 0, out
    assert out.splitlines()[0] == "added hurriyet-daily-news: Hürriyet Daily News: rss20, 2 entries"
    feed = listed(config, capsys)["hurriyet-daily-news"]
    assert feed["url"] == url and feed["tags"] == ["turkey"] and feed["state"] == "active"
    assert feed["articles"] == 0  # `add` stores the feed, not its entries: `poll` does
    code, _, err = cli(config, capsys, "feeds", "add", url)
    assert code == 2 and "already a feed" in err


def test_add_with_a_name_and_a_taken_name(
    config: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = server.url("/rss")
    code, _, err = cli(config, capsys, "feeds", "add", url, "--name", "configured")
    assert code == 2 and "another feed has this name" in err
    code, _, err = cli(config, capsys, "feeds", "add", url, "--name", "bad name")
    assert code == 2 and "use letters, digits" in err
    code, out, _ = cli(config, capsys, "feeds", "add", url, "--name", "hdn")
    assert code == 0 and out.startswith("added hdn: ")


@pytest.mark.parametrize(
    "path, code, message",
    [
        ("/html", 1, "; not added"),
        ("/gone-too", 1, "HTTP 410; not added"),
    ],
)
def test_add_says_why_not_and_adds_nothing(
    config: Path,
    server: FeedServer,
    capsys: pytest.CaptureFixture[str],
    path: str,
    code: int,
    message: str,
) -> None:
    result, _, err = cli(config, capsys, "feeds", "add", server.url(path))
    assert result == code and message in err and "Traceback" not in err
    assert set(listed(config, capsys)) == {"configured"}


def test_add_refuses_urls_config_would_refuse(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(config, capsys, "feeds", "add", "file:///etc/passwd")
    assert code == 2 and "not an http:// or https:// URL" in err


def test_disable_enable_reset_remove(
    config: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(config, capsys, "feeds", "add", server.url("/rss"), "--name", "hdn")[0] == 0
    assert cli(config, capsys, "feeds", "disable", "hdn")[1] == "hdn: disabled\n"
    assert listed(config, capsys)["hdn"]["state"] == "disabled"
    assert cli(config, capsys, "feeds", "disable", "hdn")[1] == "hdn: already disabled\n"
    code, out, _ = cli(config, capsys, "poll", "--once", "--all", "--format", "json")
    assert code in (0, 1)
    assert "hdn" not in out  # a disabled feed is not polled
    assert cli(config, capsys, "feeds", "enable", "hdn")[1] == "hdn: enabled\n"
    code, out, _ = cli(config, capsys, "poll", "--once", "--format", "json")
    assert listed(config, capsys)["hdn"]["articles"] == 2
    code, out, _ = cli(config, capsys, "feeds", "remove", "hdn")
    assert (code, out) == (0, "removed hdn and its 2 articles\n")
    assert "hdn" not in listed(config, capsys)
    code, _, err = cli(config, capsys, "feeds", "remove", "hdn")
    assert code == 2 and "no feed named 'hdn'" in err


def test_config_feeds_are_read_only_but_can_be_reset(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for verb in ("remove", "disable", "enable"):
        code, _, err = cli(config, capsys, "feeds", verb, "configured")
        assert code == 2, verb
        assert "is configured in" in err and "read-only here" in err
    cli(config, capsys, "poll", "--once")  # /gone answers 410: the feed stops
    assert listed(config, capsys)["configured"]["state"] == "stopped"
    code, out, _ = cli(config, capsys, "feeds", "reset", "configured")
    assert (code, out) == (0, "configured: reset from stopped; polled at the next tick\n")
    feed = listed(config, capsys)["configured"]
    assert feed["state"] == "active" and feed["consecutive_failures"] == 0
    assert feed["last_error"] is None
    code, _, err = cli(config, capsys, "feeds", "reset", "nope")
    assert code == 2 and "no feed named 'nope'" in err


def test_test_prints_what_poll_would_store_and_stores_nothing(
    config: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(config, capsys, "feeds", "test", server.url("/rss"))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Hürriyet Daily News: rss20, 2 entries"
    assert lines[1] == "  2026-12-01 06:00 UTC  Turkey weighs second S-400 batch"
    assert "https://example.org/a" in lines[2]
    code, out, _ = cli(config, capsys, "feeds", "test", server.url("/rss"), "--format", "json")
    document = json.loads(out)
    assert document["format"] == "rss20" and len(document["entries"]) == 2
    assert document["entries"][0]["guid"] == "a"
    assert set(listed(config, capsys)) == {"configured"}
    code, _, err = cli(config, capsys, "feeds", "test", server.url("/gone"))
    assert code == 1 and "HTTP 410" in err
