"""Line numbers for messages: where a key or [[table]] stands in TOML source.

tomllib reports none, so this is a best-effort scan of the text, and `where` spells a key path
the way the messages show it (terms[3].aliases[1]).
"""

from __future__ import annotations

import re
from typing import Any


class LineIndex:
    """Best-effort line numbers of keys and [[tables]] in TOML source (tomllib gives none)."""

    _ARRAY = re.compile(r"^\s*\[\[\s*([A-Za-z0-9_-]+)\s*\]\]")
    _TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]")
    _KEY = re.compile(r"""^\s*([A-Za-z0-9_-]+|"[^"]*"|'[^']*')\s*=""")

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[Any, ...], int] = {}
        counts: dict[str, int] = {}
        where: tuple[Any, ...] = ()
        in_string = False
        for number, line in enumerate(text.splitlines(), start=1):
            quotes = line.count('"""') + line.count("'''")
            if in_string:
                in_string = quotes % 2 == 0
                continue
            if (match := self._ARRAY.match(line)) is not None:
                name = match[1]
                where = (name, counts.get(name, 0))
                counts[name] = counts.get(name, 0) + 1
                self.lines.setdefault(where, number)
            elif (match := self._TABLE.match(line)) is not None:
                where = (match[1],)
                self.lines.setdefault(where, number)
            elif (match := self._KEY.match(line)) is not None:
                self.lines.setdefault((*where, match[1].strip("\"'")), number)
            in_string = quotes % 2 == 1

    def line(self, path: tuple[Any, ...]) -> int | None:
        # The most precise known prefix: terms[3].aliases[1] → the line of terms[3].aliases.
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


def key_path(path: tuple[Any, ...]) -> str:
    out = ""
    for item in path:
        out += f"[{item}]" if isinstance(item, int) else (f".{item}" if out else str(item))
    return out or "(top level)"
