"""The README's worked examples of scoring ("How an article is scored"), run as written: each
quoted article is saved under the name its command uses, `monitor score` runs on the shipped
watchlists, and its output must be the README's, line for line."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from harness import monitor_environment

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def worked_examples() -> dict[str, tuple[str, str, list[str], str]]:
    """Heading → (file name, file text, command arguments, expected output)."""
    found = {}
    for match in re.finditer(
        r"^### (Worked example[^\n]*)\n(.*?)(?=^### |^## )", README, re.M | re.S
    ):
        heading, body = match.groups()
        quote = [line[2:] for line in body.splitlines() if line.startswith("> ")]
        title = re.fullmatch(r"\*\*(.+)\*\*", quote[0])
        assert title, f"{heading}: the quoted article starts with its title in bold"
        command = re.search(r"`monitor score ([^`]+)` prints:\n\n```\n(.*?)```", body, re.S)
        assert command, f"{heading}: no `monitor score ...` prints: block"
        arguments = command.group(1).split()
        text = f"{title.group(1)}\n{' '.join(quote[1:])}\n"
        found[heading] = (arguments[0], text, arguments, command.group(2))
    return found


EXAMPLES = worked_examples()


def test_the_readme_has_a_lexical_and_a_semantic_worked_example() -> None:
    assert len(EXAMPLES) >= 2
    assert any("semantic: +" in output for *_, output in EXAMPLES.values())
    assert any("require: met by similarity" in output for *_, output in EXAMPLES.values())


@pytest.mark.parametrize("heading", sorted(EXAMPLES))
def test_monitor_score_prints_what_the_readme_says(heading: str, tmp_path: Path) -> None:
    name, text, arguments, expected = EXAMPLES[heading]
    (tmp_path / name).write_text(text, encoding="utf-8")
    # As a new user runs it: the shipped watchlists in ./watchlists, no config.toml.
    shutil.copytree(REPO / "watchlists", tmp_path / "watchlists")
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "score", *arguments],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**monitor_environment(), "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip("\n").splitlines() == expected.rstrip("\n").splitlines()
