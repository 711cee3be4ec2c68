"""The outbox mints feedback links into each digest as it sends it: the file channel's files
carry links naming the watchlist and the article of each story; with the secret missing the
digest still goes out, without links; without `public_url` there are none."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from delivery_fixtures import Rows, match_rows, watchlist
from fixed_time import NOW
from sqlalchemy import Engine

from monitor.adapters.channels.base import SenderDeps
from monitor.config import Settings, parse_settings
from monitor.core.feedback_tokens import verify_token
from monitor.core.states import FeedbackLabel
from monitor.flows.digests import create_digest
from monitor.flows.outbox import Outbox

SECRET = "outbox-feedback-secret-012345678"


def settings(tmp_path: Path, *, links: bool) -> Settings:
    server = {"public_url": "https://monitor.example.org", "feedback_secret_env": "FB"}
    data = {
        "database": {"url": f"sqlite:///{tmp_path / 'monitor.db'}"},
        "channels": {"local": {"type": "file", "path": str(tmp_path / "digests")}},
        "server": server if links else {},
    }
    return parse_settings(data, tmp_path / "config.toml")


async def send(engine: Engine, config: Settings, environ: dict[str, str]) -> dict[str, str]:
    create_digest(engine, config, watchlist(channels=("local",)), now=NOW)
    deps = SenderDeps(environ=environ, base_dir=config.base_dir)
    [outcome] = await Outbox(engine, config, deps=deps).deliver_pending(now=NOW)
    assert outcome.status == "delivered"
    folder = config.base_dir / "digests"
    return {path.suffix: path.read_text("utf-8") for path in folder.iterdir()}


async def test_each_story_links_its_article_for_its_watchlist(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    match_id = Rows(sqlite_engine, NOW).match("s400", "wire")
    article_id = match_rows(sqlite_engine)[match_id].article_id
    files = await send(sqlite_engine, settings(tmp_path, links=True), {"FB": SECRET})
    [story] = json.loads(files[".json"])["stories"]
    for label in FeedbackLabel:
        url = story["feedback"][label.value]
        assert url.startswith("https://monitor.example.org/feedback/")
        assert url in files[".html"] and url in files[".txt"]
        claim = verify_token(SECRET.encode(), url.rsplit("/", 1)[1], NOW)
        assert (claim.watchlist_id, claim.article_id, claim.label) == ("s400", article_id, label)


async def test_a_missing_secret_sends_without_links_and_says_so(
    sqlite_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    Rows(sqlite_engine, NOW).match("s400", "wire")
    with caplog.at_level(logging.WARNING):
        files = await send(sqlite_engine, settings(tmp_path, links=True), {})
    assert "/feedback/" not in "".join(files.values())
    assert any("sending without feedback links" in r.getMessage() for r in caplog.records)


async def test_without_public_url_there_are_no_links(sqlite_engine: Engine, tmp_path: Path) -> None:
    Rows(sqlite_engine, NOW).match("s400", "wire")
    files = await send(sqlite_engine, settings(tmp_path, links=False), {"FB": SECRET})
    assert json.loads(files[".json"])["stories"][0]["feedback"] is None
    assert "/feedback/" not in "".join(files.values())
