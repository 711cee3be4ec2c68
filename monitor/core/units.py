"""The human units of config and watchlists: durations ("15m") and sizes ("10MB")."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}

# A hundred years: longer than any interval or backoff makes sense for (the story evaluation
# runs use a window this long, to group articles from any date), and far inside what timedelta
# can hold ("999999999999w" would overflow it).
MAX_DURATION = timedelta(days=36500)
MAX_SIZE = 1000**4  # 1 TB

DURATION_HINT = 'a number followed by s, m, h, d or w, e.g. "90s", "15m", "6h", "7d"'
SIZE_HINT = 'a number followed by B, KB, MB or GB, e.g. "512KB", "10MB"'


def parse_duration(text: str) -> timedelta:
    """'15m' -> 15 minutes. Raises ValueError naming what would be valid."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"invalid duration {text!r}: use {DURATION_HINT}")
    seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"invalid duration {text!r}: must be more than zero")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"invalid duration {text!r}: must be at most 36500d (a hundred years)")
    return timedelta(seconds=seconds)


def parse_size(text: str) -> int:
    """'10MB' -> 10_000_000 bytes. Raises ValueError naming what would be valid."""
    match = _SIZE.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"invalid size {text!r}: use {SIZE_HINT}")
    size = float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]
    if size < 1:
        raise ValueError(f"invalid size {text!r}: must be more than zero")
    if size > MAX_SIZE:
        raise ValueError(f"invalid size {text!r}: must be at most 1000GB")
    return int(size)


def format_size(count: int) -> str:
    """Bytes in the units config is written in: 1_000_000 -> '1MB', 1_048_576 -> '1MiB',
    1_500_000 -> '1.5MB'. Decimal units unless the binary ones are exact."""
    for unit in ("GiB", "MiB", "KiB"):
        factor = _SIZE_UNITS[unit.lower()]
        if count >= factor and count % factor == 0 and count % (factor // 1024 * 1000) != 0:
            return f"{count // factor}{unit}"
    for unit in ("GB", "MB", "KB"):
        factor = _SIZE_UNITS[unit.lower()]
        if count >= factor:
            return f"{count / factor:.4g}{unit}"
    return f"{count}B"


def format_duration(delta: timedelta) -> str:
    """The shortest exact spelling: 900 s -> '15m'."""
    seconds = int(delta.total_seconds())
    for unit in ("d", "h", "m"):
        size = _DURATION_UNITS[unit]
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
