"""`monitor run`: the service in the foreground. Parses nothing beyond what it shares with
every command (--config, --log-format); the daemon itself is monitor/service/daemon.py."""

from __future__ import annotations

import argparse
from typing import Any

from monitor.cli.common import settings_from


def register(subparsers: Any) -> None:
    run = subparsers.add_parser(
        "run",
        help="run as a service: poll, digest, deliver, serve /healthz and /metrics",
        description=(
            "Run in the foreground until SIGTERM or SIGINT (then stop cleanly within 10 s). "
            "Applies pending database migrations first. Logs go to stderr; use "
            "`monitor --log-format json run` for machines."
        ),
    )
    run.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from monitor.service.daemon import (
        run,  # imports the scheduler and aiohttp: only for this command
    )

    return run(settings_from(args))
