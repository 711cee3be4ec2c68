"""Every webhook format fits its service's documented limits, and a 413 is retried smaller.

A 60-story digest with 2,000-character titles goes through the outbox and the real webhook
sender to receivers on loopback that enforce each service's limits the way the service does
(refusing with 400 or 413): Slack (50 blocks, 3,000 characters per section, 40,000 for
`text`), Discord (10 embeds, 6,000 characters over them, 256 per title, 4,096 per
description, 2,048 per footer, 2,000 for `content`) and Teams (28 KB per message). Each
accepts it, with the stories that did not fit counted in "…and N more".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from delivery_fixtures import WebhookReceiver, delivery_rows, settings_for
from sqlalchemy import Engine

from monitor.adapters.channels import SenderDeps
from monitor.adapters.db import digest_store
from monitor.adapters.db.transactions import write_transaction
from monitor.core.digest import Copy, DigestContent, DigestItem, Snippet
from monitor.core.states import DigestKind
from monitor.flows.outbox import Outbox

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
STORIES = 60


def big_digest() -> DigestContent:
    items = []
    for n in range(STORIES):
        text = f"Ankara confirmed the S-400 battery number {n} arrived " + "and more " * 40
        items.append(
            DigestItem(
                match_id=n + 1,
                story_id=n + 1,
                title=f"Story {n}: " + "S-400 Triumf second batch delivered to Ankara " * 45,
                url=f"https://news.example.org/{n}",
                source=f"outlet-{n}",
                published_at=NOW - timedelta(minutes=n),
                score=50.0 - n / 2,
                matched_terms=("S-400",),
                snippet=Snippet(text[:300], ((28, 33),)),
                also_reported_by=tuple(f"other-{n}-{k}" for k in range(6)),
                # Each outlet linked to its copy, with long (tracking-laden) links.
                copies=tuple(
                    Copy(f"other-{n}-{k}", f"https://other{k}.example/{n}?" + "ref=x&" * 50, "t")
                    for k in range(6)
                ),
            )
        )
    return DigestContent(
        kind=DigestKind.DIGEST,
        watchlist_id="s400",
        watchlist_name="S-400 air defence system",
        generated_at=NOW,
        window_start=NOW - timedelta(days=1),
        window_end=NOW,
        items=tuple(items),
        total=STORIES,
    )


def slack_rules(body: bytes) -> int | None:
    data = json.loads(body)
    blocks = data.get("blocks", [])
    if len(blocks) > 50 or len(data.get("text", "")) > 40_000:
        return 400
    for block in blocks:
        if block["type"] == "section" and len(block["text"]["text"]) > 3000:
            return 400
        if block["type"] == "header" and len(block["text"]["text"]) > 150:
            return 400
    return None


def discord_rules(body: bytes) -> int | None:
    data = json.loads(body)
    embeds = data.get("embeds", [])
    if len(embeds) > 10 or len(data.get("content", "")) > 2000:
        return 400
    total = 0
    for embed in embeds:
        title, description = embed.get("title", ""), embed.get("description", "")
        footer = embed.get("footer", {}).get("text", "")
        if len(title) > 256 or len(description) > 4096 or len(footer) > 2048:
            return 400
        total += len(title) + len(description) + len(footer)
    return 400 if total > 6000 else None


def teams_rules(body: bytes) -> int | None:
    return 413 if len(body) > 28 * 1024 else None


def small_json_rules(body: bytes) -> int | None:
    return 413 if len(body) > 8 * 1024 else None  # a receiver behind a strict proxy


def shown_and_note(fmt: str, data: dict[str, Any]) -> tuple[int, str]:
    if fmt == "slack":
        sections = [b for b in data["blocks"] if b["type"] == "section"]
        return len(sections), json.dumps(data["blocks"][-1], ensure_ascii=False)
    if fmt == "discord":
        return len(data["embeds"]), data["content"]
    if fmt == "teams":
        body = data["attachments"][0]["content"]["body"]
        containers = [b for b in body if b["type"] == "Container"]
        return len(containers), json.dumps(body[-1], ensure_ascii=False)
    return len(data["stories"]), f"…and {data['omitted']} more"


@pytest.mark.parametrize(
    ("fmt", "rules"),
    [
        ("slack", slack_rules),
        ("discord", discord_rules),
        ("teams", teams_rules),
        ("json", small_json_rules),
    ],
)
async def test_a_sixty_story_digest_with_long_titles_is_accepted(
    fmt: str, rules: Callable[[bytes], int | None], sqlite_engine: Engine, tmp_path: Path
) -> None:
    content = big_digest()
    with write_transaction(sqlite_engine) as connection:
        digest_store.insert_digest(
            connection, content, window_key="w", channels=["hook"], send=True, now=NOW
        )
    with WebhookReceiver(check=rules) as receiver:
        settings = settings_for(
            tmp_path, {"hook": {"type": "webhook", "url": receiver.url, "format": fmt}}
        )
        async with httpx.AsyncClient() as client:
            deps = SenderDeps(http_client=client, environ={}, clock=lambda: NOW)
            outcomes = await Outbox(sqlite_engine, settings, deps=deps).deliver_pending(now=NOW)
    assert [o.status.value for o in outcomes] == ["delivered"], outcomes
    [accepted] = receiver.accepted
    assert rules(accepted.body) is None
    shown, note = shown_and_note(fmt, accepted.json())
    assert 0 < shown < STORIES
    assert f"…and {STORIES - shown} more" in note
    refused = [r for r in receiver.requests if r.status == 413]
    if fmt in ("json",):
        assert refused, "the strict receiver refused the first, whole body"
    assert all(r.status in (200, 413) for r in receiver.requests)
    [row] = delivery_rows(sqlite_engine)
    assert row.status == "delivered" and row.attempts == 1
    # The same delivery, smaller: one webhook-id for every try.
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    print(f"{fmt}: {shown} of {STORIES} stories, {len(accepted.body)} bytes")
