"""The bound on feeds fetched and not yet stored, so memory is flat in the number of feeds.

`concurrency` limits only the requests in flight. Without this, a cycle of thousands of feeds
fetches them all as fast as the network allows while parsing and the database writer go at
their own pace, and the bodies and parsed feeds waiting for them pile up (5,000 feeds peaked
at 1.5 GB). A feed takes a slot before its fetch and gives it back once stored or failed.
Its body's bytes are counted from the fetch until then, and its parsed entries' bytes from
the parse until then; and only a few feeds are parsed or parsed and waiting for the writer
at once (`parsed`): the writer is the slowest stage, and parsed feeds queued in front of it
beyond what fills its next transactions were memory held for nothing (up to 368 of them).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from monitor.core.model import ParsedFeed

# The objects around an entry's strings (the entry, its datetime, the band tuple's ints):
# an unpickled ParsedFeed takes about twice the bytes of its text, measured on the corpus.
_ENTRY_OVERHEAD = 600
_BAND_BYTES = 40


def parsed_bytes(parsed: ParsedFeed) -> int:
    """About what a parsed feed holds in memory: its entries' text and derived forms."""
    total = 0
    for entry in parsed.entries:
        total += _ENTRY_OVERHEAD + _BAND_BYTES * len(entry.story_bands or ())
        for text in (
            entry.identity_key,
            entry.guid,
            entry.url,
            entry.canonical_url,
            entry.title,
            entry.text,
            entry.author,
            entry.content_hash,
            entry.match_text,
        ):
            total += len(text or "")
        total += len(entry.semantic_features or b"") + len(entry.story_signature or b"")
    return total


class Held:
    """The bytes one feed holds in the backlog; it may grow as the feed goes on."""

    def __init__(self, backlog: Backlog, size: int) -> None:
        self._backlog = backlog
        self.size = size

    def add(self, size: int) -> None:
        """Count what the feed holds now besides its body (its parsed entries). Never waits:
        the bytes exist already; the feeds after it wait for them instead."""
        self.size += size
        self._backlog._bytes += size


class Backlog:
    """At most `feeds` feeds between "fetch started" and "stored", holding at most `max_bytes`
    of bodies and parsed entries in all; one body larger than that still passes, alone, so no
    feed is stuck. At most `parsed` of them are being parsed or wait for the writer.

    asyncio primitives belong to one event loop: make one per poll cycle."""

    def __init__(self, feeds: int, max_bytes: int, parsed: int = 64) -> None:
        self._slots = asyncio.Semaphore(feeds)
        self._parsed = asyncio.Semaphore(parsed)
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
    async def body(self, size: int) -> AsyncIterator[Held]:
        """Count a fetched body until it is stored; waits while the others fill the budget."""
        async with self._freed:
            await self._freed.wait_for(
                lambda: self._bytes == 0 or self._bytes + size <= self._max_bytes
            )
            self._bytes += size
        held = Held(self, size)
        try:
            yield held
        finally:
            async with self._freed:
                self._bytes -= held.size
                self._freed.notify_all()

    @asynccontextmanager
    async def parsing(self) -> AsyncIterator[None]:
        """Held from the start of a feed's parse until it is stored."""
        async with self._parsed:
            yield
