"""The README's promises: its watchlist example is valid, its config reference names every
key config.toml accepts, and its command table lists every command."""

from __future__ import annotations

import re
from pathlib import Path

from monitor.cli import build_parser
from monitor.config import Settings
from monitor.core.watchlist import parse_watchlist

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def test_the_watchlist_example_is_a_valid_watchlist() -> None:
    example = re.search(r"```toml\n(name = .*?)```", section("Watchlists"), re.S)
    assert example is not None
    watchlist = parse_watchlist(
        example.group(1), watchlist_id="s400", source="README.md", known_channels={"local"}
    )
    assert watchlist.threshold == 4.0 and len(watchlist.terms) == 3


def test_the_config_reference_names_every_key() -> None:
    reference = section("Configuration")
    for name, field in Settings.model_fields.items():
        if name in {"config_file", "feeds", "channels"}:
            continue
        for key in field.annotation.model_fields:  # type: ignore[union-attr]
            assert f"`[{name}] {key}" in reference or f", `{key}`" in reference, (name, key)


def test_the_command_table_lists_every_command() -> None:
    table = section("Command line")
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, sub in commands.items():
        nested = [a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"]
        names = [f"{name} {n}" for n in nested[0].choices] if nested else [name]
        for full in names:
            assert f"`monitor {full}" in table, full
