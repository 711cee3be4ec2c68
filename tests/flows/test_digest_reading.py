"""A digest as its readers get it, through the real outbox: outlets by their titles, "also
reported by" linking each outlet's own copy, the file channel listing every story of the
digest, and email saying how many more there are and which command lists them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
from delivery_fixtures import Mailbox, Rows, feeds, settings_for, smtp_server, wait_until, watchlist
from sqlalchemy import Engine, update

from monitor.adapters.channels import SenderDeps
from monitor.flows.digests import create_digest
from monitor.flows.outbox import Outbox

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


async def test_outlets_copies_and_the_rest_of_the_digest(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    rows = Rows(sqlite_engine, NOW)
    story = rows.story("S-400 batch arrives")
    lead = rows.match("s400", "aa", score=19.0, story_id=story, title="S-400 batch arrives")
    rows.article("reuters", story_id=story, url="https://reuters.example/s400-batch")
    rows.article("hdn", story_id=story, url="https://hdn.example/s400")
    for n in range(3):  # weaker stories: one is shown, two are "and N more"
        rows.match("s400", "aa", score=8.0 - n, title=f"S-400 side story {n}")
    with sqlite_engine.begin() as connection:
        connection.execute(update(feeds).where(feeds.c.name == "reuters").values(title="Reuters"))
        connection.execute(update(feeds).where(feeds.c.name == "hdn").values(feed_title="HDN"))
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        mail = {"type": "email", "host": "127.0.0.1", "port": port, "security": "none"}
        mail |= {"sender": "monitor@example.org", "to": ["desk@example.org"]}
        settings = settings_for(tmp_path, {"mail": mail, "files": {"type": "file", "path": "out"}})
        created = create_digest(
            sqlite_engine, settings, watchlist(channels=("mail", "files"), max_items=2), now=NOW
        )
        async with httpx.AsyncClient() as client:
            deps = SenderDeps(http_client=client, environ={}, clock=lambda: NOW)
            outcomes = await Outbox(sqlite_engine, settings, deps=deps).deliver_pending(now=NOW)
        assert {o.status.value for o in outcomes} == {"delivered"}
        assert wait_until(lambda: len(mailbox.messages) == 1)

    shown = created.content.items
    assert shown[0].match_id == lead and created.content.total == 4
    assert shown[0].also_reported_by == ("HDN", "Reuters")  # titles, not feed names
    text = mailbox.messages[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "   - Reuters: https://reuters.example/s400-batch" in text
    assert "   - HDN: https://hdn.example/s400" in text
    did = created.digest_id
    assert f"…and 2 more stories. `monitor digest show {did}` lists all 4 of this digest." in text
    html = mailbox.messages[0].get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert '<a href="https://reuters.example/s400-batch"' in html
    assert "S-400 side story 2" not in html  # the email keeps to max_items

    (page,) = (tmp_path / "out").glob("*.html")
    listing = page.read_text(encoding="utf-8")
    # The file has no size limit: every story of the digest, and no "and N more".
    assert all(f"S-400 side story {n}" in listing for n in range(3))
    assert "more stories" not in listing
    assert ">Reuters</a>" in listing
