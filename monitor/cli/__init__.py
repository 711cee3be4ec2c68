"""The `monitor` command line: parse, call, print. Each command group lives in its own module
with a `register(subparsers)` function; handlers take the parsed args and return an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from monitor import __version__
from monitor.errors import ConfigError, MonitorError, WatchlistError

# One module per command group, in the order `monitor --help` lists them.
COMMAND_MODULES = [
    "monitor.cli.run",
    "monitor.cli.poll",
    "monitor.cli.feeds",
    "monitor.cli.articles",
    "monitor.cli.stories",
    "monitor.cli.watchlists",
    "monitor.cli.score",
    "monitor.cli.backtest",
    "monitor.cli.explain",
    "monitor.cli.digest",
    "monitor.cli.deliveries",
    "monitor.cli.db",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monitor",
        description="Self-hosted news monitoring: poll feeds, score watchlists, deliver digests.",
    )
    parser.add_argument("--version", action="version", version=f"monitor {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $MONITOR_CONFIG, else ./config.toml)",
    )
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="log lines for people (text, the default) or machines (json)",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from monitor.logs import configure_logging

    configure_logging(args.log_format, args.log_level)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, WatchlistError) as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except MonitorError as exc:
        print(f"monitor: {exc.stage}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        logging.getLogger("monitor").info("interrupted")
        return 130
