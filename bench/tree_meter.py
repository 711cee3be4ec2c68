"""A process-tree meter that runs in a process of its own, reading /proc of the measured tree.

Run in the measured process it cost that process CPU and GIL time (reading every thread's
/proc stat every 50 ms was 16 ms of CPU per feed, and slowed the poll's wall time with it);
out here it costs the measured tree nothing but a share of the machine's cores.

    meter = TreeMeter(os.getpid(), not_ours)  # start() ... stop() -> the readings
    with meter: ...

The meter process is started as `python tree_meter.py` with its settings as one JSON line on
stdin; it answers "ready" on stdout after its first sample, samples until it reads "stop",
then prints its readings as one JSON line. It imports only the standard library, so it starts
in a few tens of milliseconds and never pulls in what it measures.

Thread names: Python 3.11 does not name its OS threads, so `name_os_threads()`, called in the
measured process before its threads start, makes every new thread set its kernel name
(/proc/<pid>/task/<tid>/comm, 15 bytes) to its Python name as its first act.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")
_PR_SET_NAME = 15


def _set_os_thread_name(name: str) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the meter reads /proc anyway
        pass


def name_os_threads() -> None:
    """Every thread started from now on, and the calling one, carries its Python name in
    the kernel, where a meter in another process can read it. One prctl per thread."""
    bootstrap = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]

    def named(self: threading.Thread) -> None:
        _set_os_thread_name(self.name)
        bootstrap(self)

    threading.Thread._bootstrap_inner = named  # type: ignore[attr-defined]
    _set_os_thread_name(threading.current_thread().name)


class TreeMeter:
    """Samples CPU and resident memory of process `pid` and all its live descendants, from a
    process of its own (see the module docstring). `not_ours`: pids (with their descendants)
    that are in the tree but not measured, such as a loopback server.

    Parse workers live under a forkserver, so they are grandchildren that neither os.times()
    nor RUSAGE_CHILDREN ever counts; and they exit when the pool closes. So every process is
    sampled every `every` seconds and keeps its last CPU reading after it is gone (a worker's
    last fraction of a sample period is lost: under 1% of a poll). Readings (`stop()`):
    `cpu` of the tree and `main_cpu` of `pid` alone (seconds); `threads`, the CPU of `pid`
    per kind of thread (its name, "_N" and "-N" suffixes dropped; a thread's last moments
    between two samples are lost); `peak`, the largest sum of RSS over the tree at one moment
    (shared pages counted in each process: an upper bound, and the figure issue 16 sets its
    target on); `peak_pss`, the largest sum of PSS (sampled every `pss_every` samples:
    smaps_rollup walks page tables); `roles`, the RSS of the main process, the forkserver
    and the workers at the RSS peak; `most_workers`, the most parse workers alive at once;
    `main_peak`; and `meter_cpu`, what the meter process itself spent."""

    def __init__(
        self, pid: int, not_ours: set[int], every: float = 0.05, pss_every: int = 5
    ) -> None:
        self.settings = {"pid": pid, "not_ours": sorted(not_ours), "every": every}
        self.settings["pss_every"] = pss_every
        self._process: subprocess.Popen[str] | None = None
        self.readings: dict[str, Any] = {}

    def __enter__(self) -> TreeMeter:
        self._process = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdin and self._process.stdout
        self._process.stdin.write(json.dumps(self.settings) + "\n")
        self._process.stdin.flush()
        if self._process.stdout.readline().strip() != "ready":
            raise RuntimeError("the meter process did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._process and self._process.stdin and self._process.stdout
        self._process.stdin.write("stop\n")
        self._process.stdin.close()
        self.readings = json.loads(self._process.stdout.readline())
        self._process.wait(10)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["readings"][name]
        except KeyError:
            raise AttributeError(name) from None


# --- the meter process --------------------------------------------------------------------


def _stat(path: str) -> list[str] | None:
    try:
        with open(path, "rb") as file:
            return file.read().rsplit(b")", 1)[1].decode().split()
    except (OSError, IndexError):
        return None


def cpu_and_rss(pid: int) -> tuple[float, int] | None:
    """CPU seconds (user + system) and resident bytes of one process, None once it is gone."""
    fields = _stat(f"/proc/{pid}/stat")
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK, int(fields[21]) * PAGE


def descendants(pid: int) -> list[int]:
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", "rb") as file:
                children = file.read().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *descendants(child)]
    return found


def _pss(pid: int) -> int:
    """Proportional set size: each shared page divided among the processes that map it, so
    the tree's PSS adds up to what it really costs (its RSS counts the forkserver's pages
    once in it and again in every worker forked from it)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class _Sampler:
    def __init__(self, pid: int, not_ours: list[int], pss_every: int) -> None:
        self.pid = pid
        self.not_ours = {os.getpid(), *not_ours}
        for other in not_ours:
            self.not_ours.update(descendants(other))
        self.pss_every = pss_every
        self.samples = 0
        self.peak = self.peak_pss = self.most_workers = self.main_peak = 0
        self.roles: dict[str, int] = {}
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.roles_of: dict[int, str] = {}
        # The measured process's threads: tid -> (name, first reading, last reading).
        self.threads: dict[int, tuple[str, float, float]] = {}

    def role(self, pid: int, parent: int) -> str:
        """main (the measured process: event loop, writer, scoring), forkserver, or worker.
        Workers are forked from the forkserver without exec, so they share its command
        line; the forkserver is the one whose parent is the measured process."""
        if pid == self.pid:
            return "main"
        if pid not in self.roles_of:
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                return "worker"
            forkserver = b"multiprocessing.forkserver" in command and parent == self.pid
            self.roles_of[pid] = "forkserver" if forkserver else "worker"
        return self.roles_of[pid]

    def sample(self, initial: bool = False) -> None:
        total, pss, workers = 0, 0, 0
        roles = {"main": 0, "forkserver": 0, "workers": 0}
        with_pss = self.samples % self.pss_every == 0
        self.samples += 1
        for pid in [self.pid, *descendants(self.pid)]:
            if pid in self.not_ours or (fields := _stat(f"/proc/{pid}/stat")) is None:
                continue
            cpu = (int(fields[11]) + int(fields[12])) / TICK
            rss = int(fields[21]) * PAGE
            self.start.setdefault(pid, cpu if initial else 0.0)
            self.last[pid] = cpu
            total += rss
            role = self.role(pid, int(fields[1]))
            roles["workers" if role == "worker" else role] += rss
            workers += role == "worker"
            if with_pss:
                pss += _pss(pid)
        if total > self.peak:
            self.peak, self.roles = total, roles
        self.peak_pss = max(self.peak_pss, pss)
        self.most_workers = max(self.most_workers, workers)
        self.main_peak = max(self.main_peak, roles["main"])
        # Threads live for the whole poll: read as seldom as PSS, the meter's CPU is the
        # machine's too.
        if with_pss or initial:
            self.sample_threads(initial)

    def sample_threads(self, initial: bool) -> None:
        for task in os.listdir(f"/proc/{self.pid}/task"):
            tid = int(task)
            if (fields := _stat(f"/proc/{self.pid}/task/{task}/stat")) is None:
                continue
            cpu = (int(fields[11]) + int(fields[12])) / TICK
            name, first, _ = self.threads.get(tid, ("", cpu if initial else 0.0, 0.0))
            # Read every time: a new thread names itself as its first act, and a sample
            # taken before that sees the process's name.
            with contextlib.suppress(OSError):
                name = Path(f"/proc/{self.pid}/task/{task}/comm").read_text().strip()
            self.threads[tid] = (name, first, cpu)

    def readings(self) -> dict[str, Any]:
        try:
            argv0 = Path(f"/proc/{self.pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            argv0 = "python"
        threads: dict[str, float] = {}
        for name, first, last in self.threads.values():
            # Threads started in C (OpenBLAS's, say) never ran name_os_threads's hook and
            # keep the name the kernel gave the process.
            kind = "native" if name == Path(argv0).name[:15] else re.sub(r"(_\d+|-\d+)$", "", name)
            threads[kind] = threads.get(kind, 0.0) + last - first
        return {
            "cpu": sum(self.last[pid] - self.start[pid] for pid in self.last),
            "main_cpu": self.last.get(self.pid, 0.0) - self.start.get(self.pid, 0.0),
            "threads": dict(sorted(threads.items(), key=lambda item: -item[1])),
            "peak": self.peak,
            "peak_pss": self.peak_pss,
            "roles": self.roles,
            "most_workers": self.most_workers,
            "main_peak": self.main_peak,
            "meter_cpu": time.process_time(),
        }


def _serve() -> None:
    settings = json.loads(sys.stdin.readline())
    sampler = _Sampler(settings["pid"], settings["not_ours"], settings["pss_every"])
    sampler.sample(initial=True)  # processes alive now count from here, later ones whole
    print("ready", flush=True)
    while not select.select([sys.stdin], [], [], settings["every"])[0]:
        sampler.sample()
    sampler.sample()
    sampler.sample_threads(False)  # the last readings, whichever sample that was
    print(json.dumps(sampler.readings()), flush=True)


if __name__ == "__main__":
    _serve()
