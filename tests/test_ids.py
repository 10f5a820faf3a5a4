"""Names from outside are checked whole: Python's ``$`` also matches before a final newline,
so every check must refuse a trailing one (it would split a line-protocol line)."""

from __future__ import annotations

import pytest

from lorakeet.decoders.fields import is_reading_key, is_vendor_key
from lorakeet.ids import is_dev_eui, is_valid_id


@pytest.mark.parametrize("good", ["bin-1", "a", "70b3d57ed0000012", "x" * 64])
def test_well_formed_ids_pass(good: str) -> None:
    assert is_valid_id(good)
    assert not is_valid_id(good + "\n") and not is_valid_id(good + "\r\n")


def test_dev_euis_are_checked_whole() -> None:
    assert is_dev_eui("70B3D57ED0000012") and not is_dev_eui("70B3D57ED0000012\n")


def test_reading_keys_are_checked_whole() -> None:
    assert is_vendor_key("v.Bat") and not is_vendor_key("v.Bat\n")
    assert is_reading_key("temperature_1") and not is_reading_key("temperature_1\n")
