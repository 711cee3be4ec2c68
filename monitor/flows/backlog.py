"""The bound on feeds fetched and not yet stored, so memory is flat in the number of feeds.

`concurrency` limits only the requests in flight. Without this, a cycle of thousands of feeds
fetches them all as fast as the network allows while parsing and the database writer go at
their own pace, and the bodies and parsed feeds waiting for them pile up (5,000 feeds peaked
at 1.5 GB). A feed takes a slot before its fetch and gives it back once stored or failed;
its body's bytes are counted from the fetch until then.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Backlog:
    """At most `feeds` feeds between "fetch started" and "stored", holding at most `max_bytes`
    of bodies in all; one body larger than that still passes, alone, so no feed is stuck.

    asyncio primitives belong to one event loop: make one per poll cycle."""

    def __init__(self, feeds: int, max_bytes: int) -> None:
        self._slots = asyncio.Semaphore(feeds)
        self._max_bytes = max_bytes
        self._bytes = 0
        self._freed = asyncio.Condition()

    @property
    def held_bytes(self) -> int:
        return self._bytes

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._slots:
            yield

    @asynccontextmanager
    async def body(self, size: int) -> AsyncIterator[None]:
        """Count a fetched body until it is stored; waits while the others fill the budget."""
        async with self._freed:
            await self._freed.wait_for(
                lambda: self._bytes == 0 or self._bytes + size <= self._max_bytes
            )
            self._bytes += size
        try:
            yield
        finally:
            async with self._freed:
                self._bytes -= size
                self._freed.notify_all()
