"""Fixtures of the end-to-end tests; the functions they use are in tests/harness.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from loopback import FeedServer


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A feed server on 127.0.0.1 for this test; add routes, then point a config at them."""
    with FeedServer() as server:
        yield server
