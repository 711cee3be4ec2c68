"""The moment the tests are set at, 2026-11-21 12:00 UTC. Tests take it as the `now` fixture
(conftest.py); modules that need it at import time (parametrize tables, helpers that build
sample data) import NOW from here. Tests about another moment name their own."""

from __future__ import annotations

from datetime import UTC, datetime

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
