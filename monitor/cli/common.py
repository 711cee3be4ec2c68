"""What several commands share: loading settings, opening the database, parsing --since."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta

from sqlalchemy import Engine

from monitor.app import open_database, utc_now
from monitor.config import Settings, load_settings
from monitor.core.units import parse_duration
from monitor.errors import ConfigError


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def database_from(args: argparse.Namespace) -> tuple[Settings, Engine]:
    settings = settings_from(args)
    return settings, open_database(settings)


def duration_arg(text: str) -> timedelta:
    """argparse type for --since and friends."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def since_time(since: timedelta | None, now: datetime | None = None) -> datetime | None:
    return None if since is None else (now or utc_now()) - since


def add_format(parser: argparse.ArgumentParser, *choices: str) -> None:
    options = choices or ("table", "json")
    parser.add_argument(
        "--format",
        choices=options,
        default=options[0],
        help=f"output format (default: {options[0]})",
    )


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)
