"""Parsing a watchlist file's text: TOML in, `Watchlist` or `WatchlistError` out."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Mapping
from typing import Any

from monitor.core.watchlist.checks import Checker
from monitor.core.watchlist.lines import LineIndex
from monitor.core.watchlist.model import Watchlist
from monitor.errors import WatchlistError


def parse_watchlist(
    text: str,
    *,
    watchlist_id: str,
    source: str,
    known_channels: Collection[str] | None = None,
) -> Watchlist:
    """Parse and validate one watchlist file's text; raise WatchlistError listing every problem.

    `known_channels`: the channel names of config.toml, or None to skip that check.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WatchlistError([_syntax_problem(source, exc)]) from None
    return validate_watchlist(
        data,
        watchlist_id=watchlist_id,
        source=source,
        known_channels=known_channels,
        lines=LineIndex(text),
    )


def _syntax_problem(source: str, exc: tomllib.TOMLDecodeError) -> str:
    message = str(exc)
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if found:
        message = message[: found.start()]
        return f"{source}: line {found[1]}, column {found[2]}: invalid TOML: {message}"
    return f"{source}: invalid TOML: {message}"


def validate_watchlist(
    data: Mapping[str, Any],
    *,
    watchlist_id: str,
    source: str,
    known_channels: Collection[str] | None = None,
    lines: LineIndex | None = None,
) -> Watchlist:
    """Validate a parsed watchlist document; raise WatchlistError listing every problem."""
    check = Checker(source, lines or LineIndex(""))
    watchlist = check.watchlist(data, watchlist_id, known_channels)
    if check.problems or watchlist is None:
        raise WatchlistError(check.problems)
    return watchlist
