"""The `monitor` command line: parse, call, print. Each command group lives in its own module
with a `register(subparsers)` function; handlers take the parsed args and return an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from monitor import __version__
from monitor.cli.output import error_line
from monitor.errors import ConfigError, InputError, MonitorError, WatchlistError

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
    "monitor.cli.feedback",
    "monitor.cli.digest",
    "monitor.cli.deliveries",
    "monitor.cli.db",
]


# Options of `monitor` itself that take a value: skipped when looking for the command name.
_GLOBAL_WITH_VALUE = ("--config", "--log-format", "--log-level")


def command_in(argv: Sequence[str]) -> str | None:
    """The command named in `argv` (the first word that is not a global option), if any."""
    words = iter(argv)
    for word in words:
        if word in _GLOBAL_WITH_VALUE:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _modules_for(argv: Sequence[str] | None) -> list[str]:
    """Only the module of the command being run: importing every command's dependencies
    (SQLAlchemy, aiohttp, pydantic...) costs most of a second, which `monitor --version` and
    `monitor watchlists check` need not pay. `--help` and usage errors see every command."""
    if argv is None:
        return COMMAND_MODULES
    command = command_in(argv)
    if command is None:
        quick = {"--version"} & set(argv) and not {"-h", "--help"} & set(argv)
        return [] if quick else COMMAND_MODULES
    matching = [m for m in COMMAND_MODULES if m.rpartition(".")[2] == command]
    return matching or COMMAND_MODULES


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`'s command (every command when `argv` is None)."""
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
    for name in _modules_for(argv):
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes: 0 done, 1 something failed while doing it, 2 the config, a watchlist, an
    argument or an input file must be fixed first (argparse's own errors exit 2 as well)."""
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words)
    args = parser.parse_args(words)
    from monitor.logs import configure_logging

    configure_logging(args.log_format, args.log_level)
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # inside the try: a closed pipe shows here, not at exit
        return status
    except (ConfigError, WatchlistError) as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except InputError as exc:
        print(error_line(exc), file=sys.stderr)
        return 2
    except MonitorError as exc:
        print(error_line(exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        logging.getLogger("monitor").info("interrupted")
        return 130
    except BrokenPipeError:
        # `monitor ... | head`: the reader has what it wanted. Python would print a traceback
        # when it flushes stdout at exit; point stdout at /dev/null so it has nothing to say.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
