"""The backlog of fetched-but-not-stored feeds: bounded in count and in body bytes."""

from __future__ import annotations

import asyncio

from monitor.flows.backlog import Backlog


def test_no_more_feeds_than_the_slots_are_between_fetch_and_store() -> None:
    async def run() -> int:
        backlog = Backlog(feeds=3, max_bytes=10**9)
        inside, most = 0, 0

        async def feed() -> None:
            nonlocal inside, most
            async with backlog.slot():
                inside += 1
                most = max(most, inside)
                await asyncio.sleep(0.001)  # fetch, parse, store
                inside -= 1

        await asyncio.gather(*(feed() for _ in range(40)))
        return most

    assert asyncio.run(run()) == 3


def test_bodies_wait_for_room_and_one_larger_than_the_budget_passes_alone() -> None:
    async def run() -> list[int]:
        backlog = Backlog(feeds=100, max_bytes=1000)
        seen: list[int] = []

        async def feed(size: int) -> None:
            async with backlog.body(size):
                seen.append(backlog.held_bytes)
                await asyncio.sleep(0.001)

        await asyncio.gather(*(feed(size) for size in [400, 400, 400, 5000, 300, 300]))
        assert backlog.held_bytes == 0
        return seen

    held = asyncio.run(run())
    assert len(held) == 6
    assert max(held) == 5000  # the large body, with nothing else held
    assert all(h <= 1000 for h in held if h != 5000)
