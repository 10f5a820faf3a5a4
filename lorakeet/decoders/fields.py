"""Vendor-field keys: where a decoded value outside the vocabulary is stored.

A vendor field's key is its source path, made safe and kept apart from the vocabulary::

    v.<segment>[.<segment>...][:bool|:str]     a decoded object's field (decoded_payload,
                                               ChirpStack object, JS codec data, CBOR)
    n.<segment>[.<segment>...][:bool|:str]     a TTS normalized_payload field

- Each path segment keeps ``A-Z a-z 0-9 _ -``; any other character becomes ``~XX`` per
  UTF-8 byte (``"Active Energy"`` -> ``Active~20Energy``, ``"温度"`` -> ``~E6~B8~A9...``).
  The encoding is one-to-one, so two source fields never share a key, and a key never
  needs quoting in line protocol and is always a plain double-quoted InfluxQL identifier.
- Case is kept: ``TempC_SHT`` and ``tempc_sht`` are two fields.
- The type is part of the key: numbers under the bare path, booleans under ``…:bool``,
  text under ``…:str``. One key holds one type for ever, on every device and in every
  store (InfluxDB fixes a field's type per shard across all devices), and a field that
  changes type lands on its typed sibling instead of failing the write.
- Keys longer than :data:`MAX_KEY_CHARS` end in ``~h`` and a digest of the full key.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Literal

from .quantities import is_valid_key
from .types import Value

DECODED_PREFIX = "v."
NORMALIZED_PREFIX = "n."
MAX_KEY_CHARS = 200

KeyType = Literal["float", "bool", "str"]

_KEEP = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_VENDOR_KEY = re.compile(r"^[vn]\.[A-Za-z0-9_~.\-]*(?::bool|:str)?\Z")
_SUFFIX: dict[type, str] = {bool: ":bool", str: ":str"}


def _segment(text: str) -> str:
    if all(c in _KEEP for c in text):
        return text
    return "".join(c if c in _KEEP else "".join(f"~{b:02X}" for b in c.encode()) for c in text)


@lru_cache(maxsize=1 << 14)
def vendor_key(path: tuple[str, ...], kind: type = float, prefix: str = DECODED_PREFIX) -> str:
    """The key of a vendor field at ``path`` holding values of ``kind`` (float, bool or str)."""
    key = prefix + ".".join(_segment(p) for p in path)
    if len(key) > MAX_KEY_CHARS:
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        key = key[: MAX_KEY_CHARS - 18] + "~h" + digest
    return key + _SUFFIX.get(kind, "")


def value_kind(value: Value) -> type:
    """float, bool or str: the kind of key a value is stored under."""
    if isinstance(value, bool):
        return bool
    if isinstance(value, str):
        return str
    return float


def is_vendor_key(key: str) -> bool:
    """True when ``key`` is a well-formed vendor-field key."""
    return len(key) <= MAX_KEY_CHARS + 5 and _VENDOR_KEY.match(key) is not None


def is_reading_key(key: str) -> bool:
    """A vocabulary key (``temperature_2``) or a vendor-field key (``v.TempC_SHT``)."""
    return is_valid_key(key) or is_vendor_key(key)


def vendor_key_type(key: str) -> KeyType:
    """The value type a vendor key holds (from its suffix)."""
    if key.endswith(":bool"):
        return "bool"
    if key.endswith(":str"):
        return "str"
    return "float"


def source_path(key: str) -> str:
    """The source path a vendor key was made from (``v.Active~20Energy`` -> ``Active Energy``)."""
    body = key[2:].removesuffix(":bool").removesuffix(":str")
    parts = []
    for seg in body.split("."):
        raw = bytearray()
        i = 0
        while i < len(seg):
            if seg[i] == "~" and i + 2 < len(seg) + 0 and re.match(r"[0-9A-F]{2}", seg[i + 1 : i + 3]):
                raw.append(int(seg[i + 1 : i + 3], 16))
                i += 3
            else:
                raw.extend(seg[i].encode())
                i += 1
        parts.append(raw.decode("utf-8", "replace"))
    return ".".join(parts)
