"""The one home of the id, DevEUI and time-range rules (lorakeet.ids, lorakeet.timeparse)."""

from __future__ import annotations

import pytest

from lorakeet.ids import is_dev_eui, is_valid_id
from lorakeet.storage.records import DeviceKey
from lorakeet.timeparse import parse_range

NOW = 1_700_000_000 * 1_000_000_000
DAY = 86_400 * 1_000_000_000


@pytest.mark.parametrize("value", ["bins-town", "a", "0011223344556677", "x_y-z", "a" * 64])
def test_ids_the_network_gives_are_valid(value: str) -> None:
    assert is_valid_id(value)
    assert DeviceKey.from_uid(f"{value}.{value}") == DeviceKey(value, value)


@pytest.mark.parametrize("value", ["", "Bins", "a.b", "-a", "a-", "a b", "a" * 65, "ä"])
def test_ids_that_break_a_uid_or_a_query_are_not(value: str) -> None:
    assert not is_valid_id(value)


def test_dev_euis_are_sixteen_hex_digits_of_either_case() -> None:
    assert is_dev_eui("70B3D57ED0050101") and is_dev_eui("70b3d57ed0050101")
    assert not any(is_dev_eui(v) for v in ("70b3d57ed005010", "70b3d57ed00501011", "70b3d57ed005010g", ""))


def test_a_range_is_read_from_relative_and_absolute_times() -> None:
    assert parse_range("-1d", "now", NOW) == (NOW - DAY, NOW)
    start, end = parse_range("2024-05-01T00:00:00Z", "2024-05-02T00:00:00Z", NOW)
    assert end - start == DAY


def test_an_empty_or_unreadable_range_says_what_is_wrong_in_the_callers_words() -> None:
    with pytest.raises(ValueError, match=r"^end must be after start$"):
        parse_range("now", "-1d", NOW)
    with pytest.raises(ValueError, match=r"^--end must be after --start$"):
        parse_range("-1h", "-1h", NOW, ("--start", "--end"))
    with pytest.raises(ValueError, match="is not a time"):
        parse_range("yesterday", "now", NOW)
