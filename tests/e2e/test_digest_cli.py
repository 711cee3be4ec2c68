"""Done when: `monitor digest send` plus `monitor deliveries retry`, run as a user runs them,
against a real SMTP server and a real webhook receiver on loopback that fails twice."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from delivery_fixtures import (
    HOSTILE_TITLE,
    Mailbox,
    Rows,
    WebhookReceiver,
    delivery_rows,
    explanation,
    match_rows,
    smtp_server,
    verify_signature,
)
from harness import write_config
from sqlalchemy import select, update

from monitor.adapters.db.engine import make_engine, upgrade_database
from monitor.adapters.db.schema import Digest
from monitor.cli import main

SECRET = "whsec-cli"
WATCHLIST = """
name = "S-400 air defence system"
threshold = 4.0
channels = ["analysts", "desk-hook"]

[[terms]]
match = "S-400"
weight = 5.0
"""


@dataclass
class Setup:
    config: Path
    mailbox: Mailbox
    receiver: WebhookReceiver
    rows: Rows


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "mail-pw")
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", SECRET)
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)
    mailbox = Mailbox()
    with (
        WebhookReceiver([503, 502]) as receiver,
        smtp_server(mailbox, users={"monitor": "mail-pw"}) as port,
    ):
        config = write_config(
            tmp_path / "config.toml",
            f"""
[database]
url = "sqlite:///data/monitor.db"

[delivery]
base_delay = "1s"

[channels.analysts]
type = "email"
host = "127.0.0.1"
port = {port}
security = "none"
username = "monitor"
password_env = "TEST_SMTP_PASSWORD"
sender = "monitor@example.org"
to = ["desk@example.org"]
timeout = "5s"

[channels.desk-hook]
type = "webhook"
url = "{receiver.url}"
secret_env = "TEST_WEBHOOK_SECRET"
timeout = "5s"
""",
        )
        (tmp_path / "watchlists" / "s400.toml").write_text(WATCHLIST, encoding="utf-8")
        engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'monitor.db'}")
        upgrade_database(engine)
        rows = Rows(engine, datetime.now(UTC))
        yield Setup(config, mailbox, receiver, rows)
        engine.dispose()


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """main() configures logging for a process; put pytest's set-up back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    monitor_level = logging.getLogger("monitor").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("monitor").setLevel(monitor_level)


def run(setup: Setup, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["--config", str(setup.config), *argv])
    return code, capsys.readouterr().out


def add_matches(setup: Setup) -> None:
    story = setup.rows.story()
    setup.rows.match("s400", "al-monitor", score=14.0, title=HOSTILE_TITLE, story_id=story)
    setup.rows.match("s400", "reuters", score=12.0, story_id=story)
    setup.rows.match(
        "s400",
        "dw",
        score=8.0,
        title="Ankara weighs the S-400 second batch",
        explain=explanation("Ankara weighs the **S-400** second batch"),
    )


def test_one_send_plus_retries_delivers_exactly_once_everywhere(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    add_matches(setup)
    code, out = run(setup, capsys, "digest", "send", "s400")
    assert code == 1, out  # the webhook failed its first attempt
    assert "2 stories, 2 deliveries" in out
    assert "to analysts (email): delivered" in out
    assert "to desk-hook (webhook): pending after attempt 1" in out and "503" in out
    for expected_code in (1, 0):
        code, out = run(setup, capsys, "deliveries", "retry", "--all")
        assert code == expected_code, out
    assert "to desk-hook (webhook): delivered" in out

    # Exactly one email, with both parts, feed markup escaped, the subject naming the list.
    (mail,) = setup.mailbox.messages
    assert mail["Subject"] == "S-400 air defence system: 2 new stories"
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None and html is not None
    assert HOSTILE_TITLE in plain.get_content()
    markup = html.get_content()
    assert "<script" not in markup and "<img" not in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup

    # Exactly one accepted webhook, signed, with the Idempotency-Key of every failed attempt.
    receiver = setup.receiver
    assert [r.status for r in receiver.requests] == [503, 502, 200]
    (accepted,) = receiver.accepted
    assert verify_signature(SECRET, accepted.headers, accepted.body)
    assert {r.headers["Idempotency-Key"] for r in receiver.requests} == {
        accepted.headers["Idempotency-Key"]
    }
    payload = accepted.json()
    assert payload["schema"] == "monitor.digest/v1"
    assert [s["source"] for s in payload["stories"]] == ["al-monitor", "dw"]
    assert payload["stories"][0]["also_reported_by"] == ["reuters"]

    code, out = run(setup, capsys, "deliveries", "list", "--format", "json")
    listed = {row["channel"]: row for row in json.loads(out)}
    assert (listed["analysts"]["status"], listed["analysts"]["attempts"]) == ("delivered", 1)
    assert (listed["desk-hook"]["status"], listed["desk-hook"]["attempts"]) == ("delivered", 3)

    # A second send with nothing new sends nothing.
    code, out = run(setup, capsys, "digest", "send", "s400")
    assert code == 0 and "nothing sent" in out
    assert len(setup.mailbox.messages) == 1 and len(receiver.requests) == 3
    code, out = run(setup, capsys, "deliveries", "retry", "--all")
    assert code == 0 and "nothing to retry" in out


def test_preview_shows_the_next_digest_and_changes_nothing(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    add_matches(setup)
    code, text = run(setup, capsys, "digest", "preview", "s400")
    assert code == 0
    assert text.startswith("S-400 air defence system: 2 new stories")
    assert "Also reported by:\n   - reuters: https://reuters.example.org/news/2" in text
    code, html = run(setup, capsys, "digest", "preview", "s400", "--format", "html")
    assert code == 0 and "<script" not in html and "<mark" in html
    code, out = run(setup, capsys, "digest", "preview", "s400", "--format", "json")
    payload: dict[str, Any] = json.loads(out)
    assert (payload["digest_id"], payload["total"]) == (None, 2)
    assert all(m.digest_id is None for m in match_rows(setup.rows.engine).values())
    assert delivery_rows(setup.rows.engine) == []


def test_usage_errors_and_unknown_ids(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        run(setup, capsys, "deliveries", "retry")
    assert caught.value.code == 2
    assert "IDs or --all" in capsys.readouterr().err
    assert main(["--config", str(setup.config), "deliveries", "retry", "999"]) == 2
    assert "no such delivery: 999" in capsys.readouterr().err
    assert main(["--config", str(setup.config), "digest", "send", "nope"]) == 2
    assert "no such watchlist" in capsys.readouterr().err
    code, out = run(setup, capsys, "deliveries", "list")
    assert code == 0 and "0 deliveries" in out


def test_show_prints_every_story_of_a_digest_made_earlier(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(3):
        setup.rows.match("s400", "dw", score=9.0 - n, title=f"S-400 note {n}")
    # Email only, one story per message: the other two are "and 2 more".
    one_item = WATCHLIST.replace('channels = ["analysts", "desk-hook"]', 'channels = ["analysts"]')
    (setup.config.parent / "watchlists" / "s400.toml").write_text(
        one_item.replace("threshold = 4.0", "threshold = 4.0\nmax_items = 1"), encoding="utf-8"
    )
    code, out = run(setup, capsys, "digest", "send", "s400")
    assert code == 0, out
    digest_id = int(out.split()[1])
    (mail,) = setup.mailbox.messages
    plain = mail.get_body(("plain",))
    assert plain is not None
    assert f"`monitor digest show {digest_id}` lists all 3" in plain.get_content()
    assert "S-400 note 2" not in plain.get_content()
    # The command the email names lists every story of that digest.
    code, text = run(setup, capsys, "digest", "show", str(digest_id))
    assert code == 0
    assert all(f"S-400 note {n}" in text for n in range(3)) and "more stor" not in text
    code, out = run(setup, capsys, "digest", "show", str(digest_id), "--format", "json")
    payload = json.loads(out)
    assert (payload["total"], payload["omitted"], len(payload["stories"])) == (3, 0, 3)
    assert main(["--config", str(setup.config), "digest", "show", "999"]) == 2
    assert "no such digest: 999" in capsys.readouterr().err
    # A digest stored before its other stories were kept shows what it has, and its "and N
    # more" points at `articles list`, not back at `digest show`.
    digests = Digest.__table__
    with setup.rows.engine.begin() as connection:
        stored = connection.execute(
            select(digests.c.payload).where(digests.c.id == digest_id)
        ).scalar_one()
        old = {k: v for k, v in stored.items() if k != "rest"}
        connection.execute(update(digests).where(digests.c.id == digest_id).values(payload=old))
    code, text = run(setup, capsys, "digest", "show", str(digest_id))
    assert code == 0 and "S-400 note 0" in text and "S-400 note 2" not in text
    assert "…and 2 more stories. `monitor articles list --watchlist s400`" in text
