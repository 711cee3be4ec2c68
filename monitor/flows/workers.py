"""The name a worker process goes by in feed and outbox leases."""

from __future__ import annotations

import os
import socket
import uuid


def worker_id() -> str:
    """Names this process in leases: host, pid and a random part for pid reuse."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
