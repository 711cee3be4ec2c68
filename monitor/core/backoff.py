"""Capped exponential backoff with jitter, shared by feed polling and the outbox.

Pure: the caller supplies the random draw, so tests pin it.
"""

from __future__ import annotations

from datetime import timedelta


def backoff_delay(failures: int, *, base: timedelta, cap: timedelta, jitter: float) -> timedelta:
    """The wait after the `failures`-th consecutive failure (1 = first failure).

    `jitter` is a draw from [0, 1); the delay is spread over [50%, 100%] of the exponential
    step ("equal jitter"), so workers that failed together do not retry together, and the
    wait never drops below half the step.
    """
    if failures < 1:
        raise ValueError(f"failures must be >= 1, got {failures}")
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"jitter must be in [0, 1), got {jitter}")
    # Work in float seconds and cap the exponent: timedelta * 2**32 overflows for long bases.
    seconds = min(cap.total_seconds(), base.total_seconds() * 2.0 ** min(failures - 1, 64))
    return timedelta(seconds=seconds * (0.5 + 0.5 * jitter))
