"""A real email in an aiosmtpd mailbox on loopback carries the sender's display name,
List-Id, List-Unsubscribe (to the configured address) and Precedence: bulk, and points the
reader of "…and N more" at the command that lists every story of the digest."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
from delivery_fixtures import Mailbox, Rows, settings_for, smtp_server, wait_until, watchlist
from sqlalchemy import Engine

from monitor.adapters.channels import SenderDeps
from monitor.flows.digests import create_digest
from monitor.flows.outbox import Outbox

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


async def test_list_headers_in_a_real_message(sqlite_engine: Engine, tmp_path: Path) -> None:
    rows = Rows(sqlite_engine, NOW)
    for n in range(3):
        rows.match("s400", f"outlet{n}", title=f"S-400 story {n}")
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        settings = settings_for(
            tmp_path,
            {
                "mail": {
                    "type": "email",
                    "host": "127.0.0.1",
                    "port": port,
                    "security": "none",
                    "sender": "monitor@example.org",
                    "sender_name": "Monitor, defence desk",
                    "unsubscribe": "desk-admin@example.org",
                    "to": ["desk@example.org"],
                }
            },
        )
        create_digest(sqlite_engine, settings, watchlist(channels=("mail",), max_items=2), now=NOW)
        async with httpx.AsyncClient() as client:
            deps = SenderDeps(http_client=client, environ={}, clock=lambda: NOW)
            outcomes = await Outbox(sqlite_engine, settings, deps=deps).deliver_pending(now=NOW)
        assert [o.status.value for o in outcomes] == ["delivered"]
        assert wait_until(lambda: len(mailbox.messages) == 1)
    [mail] = mailbox.messages
    assert mail["From"] == '"Monitor, defence desk" <monitor@example.org>'
    assert mail["List-Id"] == '"S-400 air defence system" <s400.monitor.example.org>'
    assert mail["List-Unsubscribe"] == (
        "<mailto:desk-admin@example.org?subject=unsubscribe%20s400>"
    )
    assert mail["Precedence"] == "bulk"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    digest_id = int(mail["X-Monitor-Digest-Id"])
    assert (
        f"…and 1 more story. `monitor digest show {digest_id}` lists all 3 of this digest." in text
    )
