"""Peak memory of a command and every process it starts (Linux /proc), for end-to-end tests.

Two figures, because a poll runs in several processes (the monitor, a forkserver, parse
workers):

- `largest_mb`: the high-water RSS of the largest single process, exact (from the kernel's
  rusage), as `/usr/bin/time -v` reports it.
- `total_mb`: the sum of proportional set sizes (shared pages split between the processes
  sharing them) over the whole process tree, sampled every 20 ms, so a spike shorter than
  that can be missed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

# Linux records a process's high-water RSS at exec from the memory it had before exec, which
# for a child of pytest is pytest's own (400 MB late in the suite). A small wrapper process in
# between makes the figure the command's own.
_WRAPPER = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


@dataclass(frozen=True, slots=True)
class Measured:
    result: subprocess.CompletedProcess[str]
    largest_mb: float
    total_mb: float


def run_measuring_memory(
    command: list[str], *, env: dict[str, str], timeout: float, scratch: Path
) -> Measured:
    largest_file = scratch / "largest-rss-kb"
    wrapped = [sys.executable, "-c", _WRAPPER, str(largest_file), *command]
    process = subprocess.Popen(
        wrapped,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # so a timeout can stop the whole tree, not just the wrapper
    )
    peak_kb = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_kb
        while not done.wait(0.02):
            peak_kb = max(peak_kb, _tree_pss_kb(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        done.set()
        sampler.join()
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    result = subprocess.CompletedProcess(wrapped, process.returncode, stdout, stderr)
    largest_kb = int(largest_file.read_text()) if largest_file.exists() else 0
    return Measured(result, largest_kb / 1024, peak_kb / 1024)


def _tree_pss_kb(root: int) -> int:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue  # exited meanwhile
            # The command name may hold spaces and parentheses; the fields after it do not.
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _pss_kb(pid)
        stack.extend(children.get(pid, ()))
    return total


def _pss_kb(pid: int) -> int:
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in rollup.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0
