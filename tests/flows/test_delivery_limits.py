"""Concurrency limits of delivery: `monitor deliveries retry --all` over 3,000 dead-lettered
rows, as a user runs it, against real receivers on loopback that count what is in flight.
At most `[delivery] per_channel` sends per channel and `[delivery] concurrency` in all, and
every row is delivered exactly once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from delivery_fixtures import InFlight, WebhookReceiver, delivery_rows, hook_id
from sqlalchemy import update

from monitor.adapters.db import digest_store
from monitor.adapters.db.engine import make_engine, upgrade_database
from monitor.adapters.db.schema import Delivery
from monitor.adapters.db.transactions import write_transaction
from monitor.cli import main
from monitor.core.digest import DigestContent
from monitor.core.states import DigestKind

pytestmark = pytest.mark.slow  # about 35 s: 3,000 real HTTP requests and their commits

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ROWS = 3000


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def test_retry_all_keeps_the_limits_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)
    overall = InFlight()
    with (
        WebhookReceiver(delay=0.004, shared=overall) as one,
        WebhookReceiver(delay=0.004, shared=overall) as two,
        WebhookReceiver(delay=0.004, shared=overall) as three,
    ):
        config = tmp_path / "config.toml"
        config.write_text(
            f'[database]\nurl = "sqlite:///{tmp_path}/monitor.db"\n'
            "[delivery]\nper_channel = 3\nconcurrency = 7\n"
            f'[channels.one]\ntype = "webhook"\nurl = "{one.url}"\n'
            f'[channels.two]\ntype = "webhook"\nurl = "{two.url}"\n'
            f'[channels.three]\ntype = "webhook"\nurl = "{three.url}"\n'
        )
        engine = make_engine(f"sqlite:///{tmp_path}/monitor.db")
        upgrade_database(engine)
        content = DigestContent(
            kind=DigestKind.DIGEST,
            watchlist_id="s400",
            watchlist_name="S-400",
            generated_at=NOW,
            window_start=None,
            window_end=NOW,
            items=(),
            total=0,
        )
        with write_transaction(engine) as connection:
            for n in range(ROWS // 3):
                digest_store.insert_digest(
                    connection,
                    content,
                    window_key=f"w{n}",
                    channels=["one", "two", "three"],
                    send=True,
                    now=NOW,
                )
            # As the issue found them: thousands dead-lettered after an outage.
            connection.execute(
                update(Delivery.__table__).values(status="dead", attempts=8, last_error="down")
            )
        code = main(["--config", str(config), "deliveries", "retry", "--all"])
        out = capsys.readouterr().out
        assert code == 0, out
        rows = delivery_rows(engine)
        engine.dispose()
        receivers = {"one": one, "two": two, "three": three}

    assert len(rows) == ROWS and {r.status for r in rows} == {"delivered"}
    for name, receiver in receivers.items():
        keys = [hook_id(r.headers) for r in receiver.accepted]
        expected = {r.idempotency_key for r in rows if r.channel == name}
        assert len(receiver.requests) == len(keys) == len(set(keys)) == ROWS // 3, name
        assert set(keys) == expected, name
        assert 1 < receiver.gauge.most <= 3, (name, receiver.gauge.most)
    # Across the three receivers (3 + 3 + 3 would be 9): never more than `concurrency`.
    assert 3 < overall.most <= 7, overall.most
    print(f"peaks: {[r.gauge.most for r in receivers.values()]}, overall {overall.most}")
