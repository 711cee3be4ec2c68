"""The SSRF guard of the fetcher: resolve each hop's host and refuse, by core.addresses' rule,
a redirect from a public address into this machine's networks, or a URL the operator did not
write (an OPML import) that points there.

The fetcher checks a hop before it is requested, with an injected resolver (tests use a fixed
table and send traffic only to loopback). The check is by resolved address, not by name, and
it is repeated where the connection is made: `GuardedResolver` is the aiohttp connector's
resolver, and while `REQUIRE_PUBLIC` is set for the hop being requested it refuses any
non-public answer, so a name that answers differently the second time (DNS rebinding) still
cannot reach a private address.
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult

from monitor.core.addresses import refusal

Resolve = Callable[[str, int], Awaitable[list[str]]]

# Set by the fetcher around a hop that must land on a public address; read by the connector.
REQUIRE_PUBLIC: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "monitor_require_public", default=None
)


class AddressRefused(OSError):
    """A hop resolved to an address the guard does not allow; the message says which."""


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, as the operating system's resolver answers."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def default_port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


@dataclass(frozen=True, slots=True)
class AddressGuard:
    """Checks hops by their resolved addresses (DESIGN.md, "Polling politeness")."""

    resolve: Resolve = system_resolve

    async def addresses(self, url: httpx.URL) -> list[str]:
        return await self.resolve(url.host, default_port(url))

    async def check(self, url: httpx.URL, *, redirected_from: httpx.URL | None) -> None:
        """Raise AddressRefused if `url` may not be requested; resolution errors propagate as
        the resolver raised them (socket.gaierror for an unknown name)."""
        reason = refusal(
            url.host,
            await self.addresses(url),
            redirected_from=str(redirected_from) if redirected_from is not None else None,
        )
        if reason is not None:
            raise AddressRefused(reason)

    async def is_public(self, url: httpx.URL) -> bool:
        return refusal(url.host, await self.addresses(url), redirected_from=None) is None


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing non-public answers while REQUIRE_PUBLIC is set."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        redirected_from = REQUIRE_PUBLIC.get()
        if redirected_from is not None:
            reason = refusal(
                host,
                [str(r["host"]) for r in results],
                redirected_from=redirected_from or None,
            )
            if reason is not None:
                raise AddressRefused(reason)
        return results

    async def close(self) -> None:
        await self._inner.close()
