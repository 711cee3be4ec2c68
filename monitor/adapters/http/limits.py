"""What one fetch may cost: the limits, the time budget of one fetch, and the global and
per-host concurrency slots."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from monitor.core.units import format_size


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """What one fetch may cost, and how many run at once."""

    timeout: float = 30.0  # seconds for the whole fetch: every redirect hop and the body
    max_bytes: int = 10 * 1024 * 1024  # of body, after decompression
    max_redirects: int = 5
    concurrency: int = 32  # requests in flight
    per_host: int = 2  # requests in flight to one host

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout}")
        if self.max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1 byte, got {self.max_bytes}")
        if self.max_redirects < 0:
            raise ValueError(f"max_redirects must be 0 or more, got {self.max_redirects}")
        if self.concurrency < 1 or self.per_host < 1:
            raise ValueError(
                f"concurrency and per_host must be at least 1, got {self.concurrency} "
                f"and {self.per_host}"
            )


@dataclass(slots=True)
class Budget:
    """The time limit of one fetch; it starts when the first request may go out.

    Waiting for a free slot does not count: with a thousand due feeds, the last in the
    queue would otherwise time out before it sent a byte.
    """

    seconds: float
    started: float | None = None
    deadline: float = 0.0

    def start(self) -> float:
        if self.started is None:
            self.started = asyncio.get_running_loop().time()
            self.deadline = self.started + self.seconds
        return self.deadline

    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return asyncio.get_running_loop().time() - self.started


class Slots:
    """The global and per-host concurrency limits.

    A request takes its host's slot first, then a global one, and gives both back before a
    redirect's next hop: one order and no slot held while waiting for another host, so two
    feeds redirecting to each other's hosts cannot deadlock. A feed queued behind its busy
    host does not hold a global slot that another host's feed could use.
    """

    def __init__(self, concurrency: int, per_host: int) -> None:
        self._global = asyncio.Semaphore(concurrency)
        self._per_host = per_host
        self._hosts: dict[str, HostSlot] = {}

    @contextlib.asynccontextmanager
    async def hold(self, host: str) -> AsyncIterator[None]:
        slot = self._hosts.get(host)
        if slot is None:
            slot = self._hosts[host] = HostSlot(asyncio.Semaphore(self._per_host))
        slot.users += 1
        try:
            async with slot.semaphore, self._global:
                yield
        finally:
            slot.users -= 1
            if slot.users == 0:
                # Forget idle hosts, so a long-running worker's table stays small.
                del self._hosts[host]


@dataclass(slots=True)
class HostSlot:
    semaphore: asyncio.Semaphore
    users: int = 0


def seconds_text(value: float) -> str:
    return f"{value:g}s"


def size_text(count: int) -> str:
    """In the units config.toml is written in: max_bytes = "1MB" reads back as "1MB"."""
    return format_size(count)
