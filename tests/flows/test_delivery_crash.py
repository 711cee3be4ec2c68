"""Crashes injected between the steps of digest delivery, then a restart: nothing is lost, and
nothing is sent twice except where the channel could not tell us it accepted (then the
Idempotency-Key, the Message-ID and the file names are the same, so receivers drop the copy).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from delivery_fixtures import (
    Mailbox,
    Rows,
    WebhookReceiver,
    delivery_rows,
    digest_rows,
    match_rows,
    settings_for,
    smtp_server,
    watchlist,
)
from sqlalchemy import Engine

from monitor.adapters.channels.base import SenderDeps
from monitor.adapters.db import digest_store, outbox_store
from monitor.adapters.db.transactions import write_transaction
from monitor.config import Settings
from monitor.flows.digests import create_digest
from monitor.flows.outbox import Outbox, delivery_lease

CHANNELS = ("desk-hook", "analysts", "local")


class Crash(Exception):
    """The process dies here."""


@dataclass
class World:
    engine: Engine
    settings: Settings
    receiver: WebhookReceiver
    mailbox: Mailbox
    folder: Path
    now: datetime

    async def deliver(self, at: datetime, owner: str) -> list[Any]:
        async with httpx.AsyncClient() as client:
            deps = SenderDeps(http_client=client, environ={"HOOK_SECRET": "s"}, clock=lambda: at)
            outbox = Outbox(self.engine, self.settings, deps=deps, owner=owner)
            return await outbox.deliver_pending(now=at)

    def files(self) -> list[str]:
        return sorted(p.name for p in self.folder.iterdir()) if self.folder.exists() else []


@pytest.fixture
def world(sqlite_engine: Engine, now: datetime, tmp_path: Path) -> Iterator[World]:
    # SQLite only: crash recovery rests on the store's transactions and leases, which
    # test_digest_store.py proves on both databases.
    engine = sqlite_engine
    Rows(engine, now).match("s400", "ap")
    Rows(engine, now).match("s400", "dw")
    mailbox = Mailbox()
    with WebhookReceiver() as receiver, smtp_server(mailbox) as port:
        channels = {
            "desk-hook": {"type": "webhook", "url": receiver.url, "secret_env": "HOOK_SECRET"},
            "analysts": {
                "type": "email",
                "host": "127.0.0.1",
                "port": port,
                "security": "none",
                "sender": "monitor@example.org",
                "to": ["desk@example.org"],
            },
            "local": {"type": "file", "path": "digests"},
        }
        settings = settings_for(tmp_path, channels)
        yield World(engine, settings, receiver, mailbox, tmp_path / "digests", now)


def make_digest(world: World) -> Any:
    return create_digest(
        world.engine,
        world.settings,
        watchlist(channels=CHANNELS),
        now=world.now,
        window_end=world.now,
    )


def assert_delivered_once(world: World) -> None:
    assert len(world.receiver.accepted) == 1
    assert len({m["Message-ID"] for m in world.mailbox.messages}) == 1
    assert len(world.files()) == 3
    assert {r.status for r in delivery_rows(world.engine)} == {"delivered"}


async def test_a_crash_inside_digest_creation_leaves_nothing_half_done(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = digest_store.insert_digest

    def insert_then_crash(*args: Any, **kwargs: Any) -> Any:
        original(*args, **kwargs)
        raise Crash

    monkeypatch.setattr(digest_store, "insert_digest", insert_then_crash)
    with pytest.raises(Crash):
        make_digest(world)
    assert digest_rows(world.engine) == [] and delivery_rows(world.engine) == []
    assert all(m.digest_id is None for m in match_rows(world.engine).values())
    monkeypatch.undo()
    created = make_digest(world)  # the restart
    assert created.content.total == 2
    await world.deliver(world.now, "restarted")
    assert_delivered_once(world)


async def test_a_crash_between_digest_creation_and_delivery(world: World) -> None:
    created = make_digest(world)
    # The process dies here. After the restart the scheduler asks for the same window again.
    again = make_digest(world)
    assert (again.digest_id, again.created) == (created.digest_id, False)
    outcomes = await world.deliver(world.now + timedelta(seconds=5), "restarted")
    assert sorted(o.channel for o in outcomes) == sorted(CHANNELS)
    assert_delivered_once(world)
    assert len(world.mailbox.messages) == 1 and len(world.receiver.requests) == 1
    assert await world.deliver(world.now + timedelta(days=1), "later") == []


async def test_a_crash_after_claiming_before_sending(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_digest(world)
    with write_transaction(world.engine) as connection:
        claimed = outbox_store.claim_due(
            connection,
            now=world.now,
            owner="dying",
            lease=delivery_lease(world.settings),
            max_attempts=8,
        )
    assert len(claimed) == 3  # ...and the worker dies before sending anything
    assert await world.deliver(world.now + timedelta(seconds=10), "restarted") == []  # leased
    later = world.now + delivery_lease(world.settings)
    await world.deliver(later, "restarted")
    assert_delivered_once(world)
    assert len(world.receiver.requests) == 1 and len(world.mailbox.messages) == 1


async def test_a_crash_between_sending_and_marking_delivered(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_digest(world)
    crashed: list[int] = []

    def crash(engine: Engine, delivery_id: int, **kwargs: Any) -> bool:
        crashed.append(delivery_id)
        raise Crash

    monkeypatch.setattr(outbox_store, "mark_delivered", crash)
    with pytest.raises(Crash):
        await world.deliver(world.now, "dying")
    # The first crash ends deliver_pending; a dead process would not finish the other sends,
    # but these do: let them reach the same point before the "restart".
    for _ in range(500):
        if len(crashed) == 3:
            break
        await asyncio.sleep(0.01)
    monkeypatch.undo()
    # Every channel accepted, but no row says so: they are still pending, under the dead
    # worker's lease, so nobody resends while that worker might still be finishing.
    assert {r.status for r in delivery_rows(world.engine)} == {"pending"}
    assert await world.deliver(world.now + timedelta(seconds=10), "restarted") == []
    later = world.now + delivery_lease(world.settings)
    outcomes = await world.deliver(later, "restarted")
    assert {o.status for o in outcomes} == {"delivered"}
    # The channels could not tell us they had accepted, so each got the message again, with
    # the same identity: the receiver drops the repeat by its Idempotency-Key...
    keys = [r.headers["Idempotency-Key"] for r in world.receiver.requests]
    assert len(keys) == 2 and len(set(keys)) == 1
    # ...mail clients fold the two copies by Message-ID, and the files are overwritten.
    assert len(world.mailbox.messages) == 2
    assert_delivered_once(world)
    assert all(r.attempts == 2 for r in delivery_rows(world.engine))


async def test_after_marking_delivered_nothing_is_resent(world: World) -> None:
    make_digest(world)
    await world.deliver(world.now, "worker")
    # A crash here, and any number of restarts, send nothing more.
    for hours in (1, 24):
        assert await world.deliver(world.now + timedelta(hours=hours), "restarted") == []
    assert len(world.receiver.requests) == 1 and len(world.mailbox.messages) == 1
    assert_delivered_once(world)
