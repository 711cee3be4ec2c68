"""Which network addresses a fetch may reach: the pure half of the SSRF guard.

A feed URL the operator wrote in config.toml may point anywhere, an intranet feed included.
What the operator did not write (a redirect chosen by a server, a URL from an imported OPML
file) may not lead from the public internet into the machine's own networks: loopback,
private ranges, link-local, carrier-grade NAT, or a cloud metadata endpoint. The shell
resolves names; this module only judges the addresses it is given.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable


class AddressKind(enum.StrEnum):
    """What an IP address is, as far as reaching it from a feed fetch is concerned."""

    PUBLIC = "public"
    LOOPBACK = "loopback"  # 127.0.0.0/8, ::1
    PRIVATE = "private"  # RFC 1918, fc00::/7
    LINK_LOCAL = "link-local"  # 169.254.0.0/16, fe80::/10
    CGNAT = "carrier-grade NAT"  # 100.64.0.0/10
    METADATA = "cloud metadata"  # 169.254.169.254, fd00:ec2::254
    UNSPECIFIED = "unspecified"  # 0.0.0.0, ::
    MULTICAST = "multicast"
    RESERVED = "reserved"  # documentation, benchmarking and other special-purpose ranges

    @property
    def is_public(self) -> bool:
        return self is AddressKind.PUBLIC


_METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def classify_address(text: str) -> AddressKind:
    """The kind of a literal IPv4 or IPv6 address; ValueError if `text` is not one."""
    address = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if address in _METADATA:
        return AddressKind.METADATA
    if address.is_unspecified:
        return AddressKind.UNSPECIFIED
    if address.is_loopback:
        return AddressKind.LOOPBACK
    if address.is_link_local:
        return AddressKind.LINK_LOCAL
    if address.is_multicast:
        return AddressKind.MULTICAST
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return AddressKind.CGNAT
    if address.is_private:
        # ipaddress counts documentation and benchmarking ranges as private too; only the
        # ranges a host can actually sit in are the machine's own networks.
        return AddressKind.RESERVED if _is_special(address) else AddressKind.PRIVATE
    if address.is_reserved or not address.is_global:
        return AddressKind.RESERVED
    return AddressKind.PUBLIC


def _is_special(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    private_ranges = (
        ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
        if isinstance(address, ipaddress.IPv4Address)
        else ("fc00::/7",)
    )
    return not any(address in ipaddress.ip_network(r) for r in private_ranges)


def not_public(addresses: Iterable[str]) -> list[tuple[str, AddressKind]]:
    """The addresses among `addresses` that are not public, with their kind."""
    found = [(a, classify_address(a)) for a in addresses]
    return [(a, kind) for a, kind in found if not kind.is_public]


def refusal(
    host: str,
    addresses: Iterable[str],
    *,
    redirected_from: str | None,
) -> str | None:
    """Why reaching `host` (resolved to `addresses`) is refused, or None if it is allowed.

    Called only where the guard applies: a redirect hop that leaves a public address, or the
    first hop of a URL the operator did not write. One non-public address is enough to
    refuse: a name that resolves to both is exactly what DNS rebinding looks like.
    """
    blocked = not_public(addresses)
    if not blocked:
        return None
    address, kind = blocked[0]
    shown = host if host == address else f"{host} ({address})"
    where = f"a redirect from {redirected_from} to" if redirected_from else "the feed URL points at"
    return (
        f"{where} {shown}, a {kind.value} address, was refused: a feed from outside may not "
        "reach this machine's own networks; set [polling] allow_private_networks = true "
        "in config.toml if this feed is meant to"
    )
