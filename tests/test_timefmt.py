"""RFC 3339 parsing: the per-minute cache gives exactly what the full parse gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lorakeet import timefmt
from lorakeet.timefmt import format_rfc3339_ns, parse_rfc3339_ns


def uncached(text: str) -> int | None:
    timefmt._MINUTES.clear()
    try:
        return parse_rfc3339_ns(text)
    except ValueError:
        return None


def cached(text: str, warm: str) -> int | None:
    timefmt._MINUTES.clear()
    parse_rfc3339_ns(warm)  # the minute is known
    assert timefmt._MINUTES
    try:
        return parse_rfc3339_ns(text)
    except ValueError:
        return None


@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),
    st.integers(0, 999_999_999),
    st.sampled_from(["", ".", ".{ns}", ".{short}", ".{ns}0", "x", ":61"]),
    st.sampled_from(["Z", "z", "+00:00", "+02:00", " Z", "Z "]),
)
def test_the_minute_cache_agrees_with_the_full_parse(
    dt: datetime, ns: int, fraction: str, suffix: str
) -> None:
    base = dt.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S")
    text = base + fraction.format(ns=f"{ns:09d}", short=str(ns)[:3]) + suffix
    warm = base[:16] + ":00Z"
    assert cached(text, warm) == uncached(text)


def test_values_and_errors() -> None:
    t = "2026-11-20T00:00:00.022548354Z"
    assert parse_rfc3339_ns(t) == parse_rfc3339_ns(t) == 1_795_132_800_022_548_354
    assert parse_rfc3339_ns("2026-11-20T00:00:59.5Z") == 1_795_132_859_500_000_000
    for bad in (
        "2026-11-20T00:00:60Z",
        "2026-11-20T00:00:5Z",
        "2026-11-20T00:00:05.Z",
        "2026-11-20T00:00:05",
    ):
        with pytest.raises(ValueError):
            parse_rfc3339_ns(bad)
    now = datetime.now(UTC) + timedelta(microseconds=1)
    ns = int(now.timestamp()) * 1_000_000_000 + 123_456_789
    assert parse_rfc3339_ns(format_rfc3339_ns(ns)) == ns
