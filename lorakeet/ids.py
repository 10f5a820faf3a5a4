"""The rules for names the network gives: application and device ids, and DevEUIs.

One home for the patterns the API schemas, the ingest envelopes, the importers and the model
files all check against.
"""

from __future__ import annotations

import re

ID_PATTERN = r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$"
"""Application and device ids: The Things Stack's id rules, which ChirpStack's UUIDs and
lower-cased DevEUIs also meet. No dots, spaces, commas, quotes, backslashes or control
characters, so an id is safe in a ``application_id.device_id`` uid, in line protocol and
in queries."""

DEV_EUI_PATTERN = r"^[0-9A-Fa-f]{16}$"
"""A DevEUI (EUI-64): 16 hex digits, either case (stored lower-case)."""

_ID = re.compile(ID_PATTERN)
_DEV_EUI = re.compile(DEV_EUI_PATTERN)


def is_valid_id(value: str) -> bool:
    """True when ``value`` is a well-formed application or device id.

    ``fullmatch``: with ``match``, Python's ``$`` also matches before a final newline, and
    ``"bin-1\\n"`` would pass (pydantic's patterns run on another engine, where it does not)."""
    return _ID.fullmatch(value) is not None


def is_dev_eui(value: str) -> bool:
    """True when ``value`` is 16 hex digits."""
    return _DEV_EUI.fullmatch(value) is not None
