"""The name a worker process goes by in feed and outbox leases."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterable


def worker_id() -> str:
    """Names this process in leases: host, pid and a random part for pid reuse."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def dead_local_owners(
    owners: Iterable[str],
    *,
    host: str | None = None,
    alive: Callable[[int], bool] = process_alive,
) -> list[str]:
    """The lease owners that were processes on this host and are gone (killed, crashed).

    Only this host's owners can be judged: a pid means nothing on another machine, so
    their leases expire as usual. A reused pid looks alive and is left to expire too.
    """
    here = host or socket.gethostname()
    dead = []
    for owner in owners:
        parts = owner.rsplit(":", 2)
        if len(parts) != 3 or parts[0] != here or not parts[1].isdigit():
            continue
        if not alive(int(parts[1])):
            dead.append(owner)
    return dead
