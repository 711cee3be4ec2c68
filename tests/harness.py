"""The end-to-end harness: `monitor` run as an operator runs it (a subprocess of this Python,
the environment a shell gives it), the config.toml it reads, feeds served on loopback, and
waiting for what the process does. Plain functions, for tests/e2e/ (its conftest.py holds the
fixtures) and any test that runs the command line. Nothing here listens beyond 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from loopback import FeedServer, Route

from monitor.adapters.feed_parse import parse_feed

T = TypeVar("T")


# ---- running monitor ------------------------------------------------------------------------


def monitor_command(config: Path, *args: str) -> list[str]:
    """`monitor --config CONFIG ARGS...`, by this Python (so the package under test runs)."""
    return [sys.executable, "-m", "monitor", "--config", str(config), *args]


def monitor_environment() -> dict[str, str]:
    """Ours, unbuffered, without $MONITOR_DATABASE_URL: it would win over the config's."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MONITOR_DATABASE_URL", None)
    return env


def run_monitor(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """One command to its end, its output captured; the caller checks the exit code."""
    return subprocess.run(
        monitor_command(config, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=monitor_environment(),
        check=False,
    )


def monitor_json(config: Path, *args: str, timeout: float = 120) -> Any:
    """The JSON document a `--format json` command prints, once it has exited 0."""
    return json_documents([run_monitor(config, *args, timeout=timeout)])[0]


def json_documents(results: list[subprocess.CompletedProcess[str]]) -> list[Any]:
    """What each process printed, read as JSON, once every one of them has exited 0."""
    for result in results:
        assert result.returncode == 0, result.stderr
    return [json.loads(result.stdout) for result in results]


def run_together(
    commands: Iterable[list[str]], timeout: float
) -> list[subprocess.CompletedProcess[str]]:
    """Start every command before waiting for any: workers racing for the same rows."""
    started = [
        (
            command,
            subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=monitor_environment(),
            ),
        )
        for command in commands
    ]
    try:
        results = []
        for command, process in started:
            out, err = process.communicate(timeout=timeout)
            results.append(subprocess.CompletedProcess(command, process.returncode, out, err))
        return results
    finally:
        for _, process in started:
            _end(process)


@contextmanager
def running(command: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A long-running process (`monitor run`), its output in `log`; killed if still running
    when the block ends."""
    with log.open("w", encoding="utf-8") as log_file:
        process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, env=monitor_environment()
        )
    try:
        yield process
    finally:
        _end(process)


def _end(process: subprocess.Popen[Any]) -> None:
    """Kills and reaps a process still running when its test is done (or failed)."""
    if process.poll() is None:
        process.kill()
        process.wait()


def wait_for(check: Callable[[], T | None], timeout: float, what: str, every: float = 0.25) -> T:
    """The first truthy value `check` returns; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


# ---- what it reads --------------------------------------------------------------------------


def digest_files(folder: Path) -> list[dict[str, Any]]:
    """The JSON digests a file channel wrote into `folder`, oldest first."""
    if not folder.is_dir():
        return []
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json"))]


def write_config(path: Path, *tables: str, feeds: Iterable[tuple[str, str]] = ()) -> Path:
    """config.toml at `path`: the TOML tables as given, then a [[feeds]] table per (name, url);
    and an empty watchlists/ folder next to it. Returns `path`."""
    feed_tables = [f'[[feeds]]\nname = "{name}"\nurl = "{url}"\n' for name, url in feeds]
    path.write_text("\n".join([*tables, *feed_tables]), encoding="utf-8")
    (path.parent / "watchlists").mkdir(exist_ok=True)
    return path


def serve_feed(server: FeedServer, name: str, body: bytes) -> tuple[str, str]:
    """`body` at /NAME.xml with an ETag (a second poll is a conditional GET); returns the
    (name, url) pair write_config takes."""
    return name, server.add(f"/{name}.xml", Route(body, etag=f'"{name}"'))


def stored_by_first_poll(body: bytes, url: str) -> int:
    """How many articles a first poll of this feed stores: its entries' distinct identities."""
    parsed = parse_feed(body, url=url, headers={}, fetched_at=datetime.now(UTC))
    return len({entry.identity_key for entry in parsed.entries})
