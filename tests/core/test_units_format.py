"""Sizes read back in the units config is written in; durations and sizes bounded."""

from __future__ import annotations

import pytest

from monitor.adapters.http.limits import size_text
from monitor.core.units import format_size, parse_duration, parse_size


@pytest.mark.parametrize(
    "text, shown",
    [
        ("1MB", "1MB"),
        ("10MB", "10MB"),
        ("512KB", "512KB"),
        ("1.5MB", "1.5MB"),
        ("1MiB", "1MiB"),
        ("64KiB", "64KiB"),
        ("2GB", "2GB"),
        ("100B", "100B"),
    ],
)
def test_a_size_reads_back_as_written(text: str, shown: str) -> None:
    assert format_size(parse_size(text)) == shown
    assert size_text(parse_size(text)) == shown  # the TooLarge message


@pytest.mark.parametrize(
    "parse, text, message",
    [
        (parse_duration, "999999999999w", "must be at most 36500d"),
        (parse_duration, "36501d", "must be at most 36500d"),
        (parse_size, "99999999GB", "must be at most 1000GB"),
        (parse_size, "0.1B", "must be more than zero"),
    ],
)
def test_out_of_range_values_are_errors_not_overflows(
    parse: object, text: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parse(text)  # type: ignore[operator]
