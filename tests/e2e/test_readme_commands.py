"""The README's command table against `monitor --help` of every command: every command has a
row, every option a command takes is in its row, and no row names an option that is not
there. Also: `monitor --version` imports none of the heavy libraries."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import build_parser, command_in

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def leaf_commands() -> dict[str, argparse.ArgumentParser]:
    """'feeds add' -> its parser, for every command `monitor --help` leads to."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not groups:
            found[prefix] = parser
            return
        for name, child in groups[0].choices.items():
            walk(child, f"{prefix} {name}".strip())

    walk(build_parser(), "")
    return found


def options_of(parser: argparse.ArgumentParser) -> set[str]:
    return {
        max(action.option_strings, key=len)
        for action in parser._actions
        if action.option_strings and not isinstance(action, argparse._HelpAction)
    }


def command_rows() -> list[str]:
    section = README[README.index("## Command line") :]
    section = section[: section.index("\n## ", 3)]
    return [line for line in section.splitlines() if line.startswith("| `monitor ")]


def rows_for(command: str) -> list[str]:
    pattern = re.compile(rf"`monitor {re.escape(command)}(?=[ `])")
    return [row for row in command_rows() if pattern.search(row.split(" | ")[0])]


COMMANDS = leaf_commands()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_and_option_is_in_the_readme(command: str) -> None:
    rows = rows_for(command)
    assert rows, f"README's command table has no row for `monitor {command}`"
    usage = " ".join(row.split(" | ")[0] for row in rows)
    missing = {option for option in options_of(COMMANDS[command]) if option not in usage}
    assert missing == set(), f"`monitor {command}`: {sorted(missing)} not in its README row"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_readme_names_no_option_a_command_lacks(command: str) -> None:
    usage = " ".join(row.split(" | ")[0] for row in rows_for(command))
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", usage))
    assert named - options_of(COMMANDS[command]) == set()


def test_global_options_are_documented() -> None:
    for option in ("--config PATH", "--log-format", "--log-level", "`monitor --version`"):
        assert option in README
    assert options_of(build_parser()) == {"--version", "--config", "--log-format", "--log-level"}


@pytest.mark.parametrize(
    "argv, command",
    [
        (["--config", "c.toml", "poll", "--once"], "poll"),
        (["--log-level", "DEBUG", "feeds", "list"], "feeds"),
        (["--version"], None),
        (["--config=c.toml", "db", "upgrade"], "db"),
    ],
)
def test_the_command_is_found_without_parsing(argv: list[str], command: str | None) -> None:
    assert command_in(argv) == command


@pytest.mark.slow
def test_version_imports_nothing_heavy() -> None:
    code = (
        "import sys\nfrom monitor.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "heavy = {'sqlalchemy', 'aiohttp', 'httpx', 'pydantic', 'feedparser', 'numpy', 'rich'}\n"
        "loaded = {m.split('.')[0] for m, module in sys.modules.items() if module}\n"
        "print(sorted(heavy & loaded))\n"
    )
    _assert_prints_nothing_loaded(code)


@pytest.mark.slow
def test_a_parse_worker_imports_the_parser_alone() -> None:
    # Every parse worker imports this module itself, again each time the pool is recycled:
    # the watchlist model (pulled in through the matcher) was nearly a quarter of that start.
    # A worker imports it only when a job asks it to score (adapters/worker_scoring.py: while
    # the writer is behind), not to parse.
    code = (
        "import sys\nimport monitor.adapters.feed_parse\n"
        "unwanted = {'monitor.core.watchlist', 'monitor.core.matcher', 'sqlalchemy', "
        "'pydantic', 'aiohttp', 'httpx', 'ahocorasick'}\n"
        "print(sorted(unwanted & set(sys.modules)))\n"
    )
    _assert_prints_nothing_loaded(code)


def _assert_prints_nothing_loaded(code: str) -> None:
    """`code`, in a fresh interpreter, ends by printing the unwanted modules it loaded: none."""
    result = _python(code)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter that imports this checkout's monitor."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )


@pytest.mark.slow
def test_the_fetch_and_delivery_code_leave_httpx_s_command_line_client_out() -> None:
    # httpx imports click, rich and pygments for its own CLI when they are installed (rich is
    # monitor's): 5.6 MB in every poll and daemon process. monitor/__init__.py keeps it out.
    code = (
        "import sys\nimport monitor.flows.outbox, monitor.adapters.http.client, httpx\n"
        "print(sorted({'click', 'pygments', 'rich'} & {m.split('.')[0] for m in sys.modules}))\n"
        "print(callable(httpx.main))\n"
    )
    result = _python(code)
    assert result.stdout.split() == ["[]", "True"], result.stdout + result.stderr
