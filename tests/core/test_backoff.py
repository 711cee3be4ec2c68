"""Capped exponential backoff with jitter: the shared rule of polling and the outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.backoff import backoff_delay

BASE, CAP = timedelta(seconds=30), timedelta(hours=1)


@pytest.mark.parametrize(
    ("failures", "jitter", "expected"),
    [
        (1, 0.0, 15),
        (1, 0.999999, 30),
        (2, 0.0, 30),
        (3, 0.0, 60),
        (8, 0.0, 1800),
        (9, 0.0, 1800),
        (9, 0.999999, 3600),
        (1000, 0.0, 1800),
    ],
)
def test_grows_doubling_and_stops_at_the_cap(failures: int, jitter: float, expected: int) -> None:
    delay = backoff_delay(failures, base=BASE, cap=CAP, jitter=jitter)
    assert delay.total_seconds() == pytest.approx(expected, abs=0.01)


@given(
    failures=st.integers(min_value=1, max_value=10**6),
    base=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=30)),
    cap=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=365)),
    jitter=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_never_overflows_and_stays_within_half_the_step_and_the_cap(
    failures: int, base: timedelta, cap: timedelta, jitter: float
) -> None:
    delay = backoff_delay(failures, base=base, cap=cap, jitter=jitter)
    assert min(base, cap) / 2 - timedelta(milliseconds=1) <= delay <= cap


@pytest.mark.parametrize(("failures", "jitter"), [(0, 0.5), (1, 1.0), (1, -0.1)])
def test_rejects_nonsense(failures: int, jitter: float) -> None:
    with pytest.raises(ValueError):
        backoff_delay(failures, base=BASE, cap=CAP, jitter=jitter)
