"""The layering of DESIGN.md ("Layout") as a test over the import graph of the package.

Every `import` in every module counts, at module level or inside a function (a lazy import
is still a dependency). A rule broken anywhere fails with the module, the import and the rule.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "monitor"
STDLIB = frozenset(sys.stdlib_module_names)

# What the pure core may use besides the standard library: numeric and parsing libraries
# that do no I/O of their own.
CORE_LIBRARIES = frozenset({"numpy", "lxml", "ahocorasick", "defusedxml"})
# Standard modules that reach the clock, the network, the disk, the environment or the log:
# the shell's business, never the core's (time is a parameter there).
CORE_FORBIDDEN = frozenset(
    {
        "os",
        "io",
        "socket",
        "ssl",
        "subprocess",
        "sqlite3",
        "asyncio",
        "logging",
        "random",
        "shutil",
        "tempfile",
        "smtplib",
        "urllib.request",
        "http.client",
        "http.server",
    }
)

# Each adapter wraps its library; the map says which third-party packages each may import.
ADAPTER_LIBRARIES: dict[str, frozenset[str]] = {
    "monitor.adapters.http": frozenset({"httpx", "aiohttp", "httpx_aiohttp"}),
    "monitor.adapters.db": frozenset({"sqlalchemy", "alembic", "psycopg"}),
    "monitor.adapters.feed_parse": frozenset({"feedparser", "lxml"}),
    "monitor.adapters.feed_trim": frozenset({"lxml"}),
    "monitor.adapters.feed_fast": frozenset({"feedparser", "lxml"}),
    "monitor.adapters.channels": frozenset({"httpx", "apprise", "standardwebhooks"}),
    "monitor.adapters.render": frozenset({"jinja2", "markupsafe"}),
    "monitor.adapters.files": frozenset({"trafilatura", "lxml"}),
    "monitor.adapters.embed": frozenset({"numpy", "threadpoolctl", "wordllama"}),
    # The watchlists' snapshot for the parse workers: pickle files in a temporary folder.
    "monitor.adapters.worker_scoring": frozenset(),
}
# Adapters that build on another adapter, and why.
ADAPTER_USES: dict[str, frozenset[str]] = {
    # A channel sends what the renderer made of a digest, configured by its [channels.*] table.
    "monitor.adapters.channels": frozenset({"monitor.adapters.render", "monitor.config"}),
    # The embedding model learns its vocabulary from the watchlists' example files.
    "monitor.adapters.embed": frozenset({"monitor.adapters.files"}),
    # Parsing reads only the entries the trimming pass kept of an oversized feed.
    # ... and its job scores the entries too while the writer is behind.
    "monitor.adapters.feed_parse": frozenset(
        {
            "monitor.adapters.feed_trim",
            "monitor.adapters.feed_fast",
            "monitor.adapters.worker_scoring",
        }
    ),
    # The snapshot holds the semantic index (its type only: the pickle brings the class).
    "monitor.adapters.worker_scoring": frozenset({"monitor.adapters.embed"}),
}


@dataclass(frozen=True, slots=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module, absolute
    line: int


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> Iterator[Import]:
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base == "monitor" or base.startswith("monitor."):
                # `from monitor.adapters.db import feed_store` imports a module, not a name.
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    yield Import(module, candidate if _is_module(candidate) else base, node.lineno)
            else:
                yield Import(module, base, node.lineno)


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def all_imports() -> list[Import]:
    return [found for path in sorted(PACKAGE.rglob("*.py")) for found in imports_of(path)]


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def top(name: str) -> str:
    return name.split(".")[0]


def adapter_of(module: str) -> str | None:
    return next((a for a in ADAPTER_LIBRARIES if within(module, a)), None)


def violation(found: Import) -> str | None:
    """The rule `found` breaks, or None."""
    module, target = found.module, found.target
    ours = within(target, "monitor")
    if within(module, "monitor.core"):
        if ours and not (within(target, "monitor.core") or target == "monitor.errors"):
            return "core imports only monitor.core and monitor.errors"
        if not ours and top(target) not in STDLIB and top(target) not in CORE_LIBRARIES:
            return f"core imports only the standard library and {sorted(CORE_LIBRARIES)}"
        if target in CORE_FORBIDDEN or top(target) in CORE_FORBIDDEN:
            return f"core does no I/O and reads no clock: {target} is the shell's"
        return None
    if within(module, "monitor.adapters"):
        adapter = adapter_of(module)
        if adapter is None:
            return "every adapter is listed in ADAPTER_LIBRARIES with the library it wraps"
        if ours:
            allowed = ("monitor.core", "monitor.errors", adapter, *ADAPTER_USES.get(adapter, ()))
            if target == "monitor" or any(within(target, a) for a in allowed):
                return None
            return f"{adapter} imports core, errors and itself (and {ADAPTER_USES.get(adapter)})"
        if top(target) not in STDLIB and top(target) not in ADAPTER_LIBRARIES[adapter]:
            return f"{adapter} wraps {sorted(ADAPTER_LIBRARIES[adapter])}, not {top(target)}"
        return None
    if within(module, "monitor.flows"):
        for outer in ("monitor.service", "monitor.cli", "monitor.app"):
            if within(target, outer):
                return "flows never import service, cli or app: those call flows"
        return None
    if within(module, "monitor.service") and within(target, "monitor.cli"):
        return "service never imports cli"
    if within(module, "monitor.cli") and within(target, "monitor.adapters.db"):
        return "cli calls app and flows, never adapters.db"
    if module in ("monitor.config", "monitor.errors", "monitor.logs") and ours:
        allowed = {"monitor.config": ("monitor.core", "monitor.errors")}.get(module, ())
        if not any(within(target, a) for a in allowed):
            return f"{module} is imported by every layer and imports {list(allowed) or 'none'}"
    return None


def test_the_layout_breaks_no_import_rule() -> None:
    broken = [
        f"{found.module}:{found.line} imports {found.target}: {rule}"
        for found in all_imports()
        if (rule := violation(found)) is not None
    ]
    assert broken == []


def test_the_top_level_holds_only_the_entry_points_and_the_layers() -> None:
    names = {p.name for p in PACKAGE.iterdir() if not p.name.startswith((".", "__pycache__"))}
    assert names == {
        "__init__.py",
        "__main__.py",
        "app.py",
        "config.py",
        "errors.py",
        "logs.py",
        "py.typed",
        "core",
        "adapters",
        "flows",
        "service",
        "cli",
        "templates",
    }


def test_no_module_imports_itself_back() -> None:
    """No cycles between modules: each layer can be read without the ones above it."""
    graph: dict[str, set[str]] = {}
    for found in all_imports():
        if within(found.target, "monitor") and found.target != found.module:
            graph.setdefault(found.module, set()).add(found.target)
    cycle = _find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            # A package's __init__ re-exporting its own modules is not a cycle of ideas.
            if within(nxt, node):
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


@pytest.mark.parametrize(
    ("module", "target", "broken"),
    [
        ("monitor.core.scoring", "sqlalchemy", True),
        ("monitor.core.scoring", "monitor.adapters.db.schema", True),
        ("monitor.core.scoring", "numpy", False),
        ("monitor.core.polling", "logging", True),
        ("monitor.core.polling", "urllib.request", True),
        ("monitor.core.urls", "urllib.parse", False),
        ("monitor.adapters.http.fetcher", "sqlalchemy", True),
        ("monitor.adapters.db.engine", "monitor.flows.poll", True),
        ("monitor.flows.poll", "monitor.service.daemon", True),
        ("monitor.cli.feeds", "monitor.adapters.db.feed_store", True),
        ("monitor.cli.feeds", "monitor.flows.feeds", False),
        ("monitor.errors", "monitor.core.states", True),
    ],
)
def test_the_rules_catch_what_they_name(module: str, target: str, broken: bool) -> None:
    assert (violation(Import(module, target, 1)) is not None) is broken
