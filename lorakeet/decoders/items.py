"""The walk shared by item-list formats: ``[byte a][byte b][data...]`` repeated.

Cayenne LPP (channel, type) and Milesight (channel id, channel type) frames both look like
this; only the table lookup and what an item emits differ. A malformed item ends the walk
(the length of what follows is unknown), but the readings before it survive with a
warning; a frame with no readable item at all raises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from .errors import PayloadFormatError, TruncatedPayloadError
from .types import DecodeResult, ReadingsBuilder


class ItemSpec(Protocol):
    """What the walk needs to know of an item type."""

    @property
    def name(self) -> str: ...

    @property
    def size(self) -> int: ...


S = TypeVar("S", bound=ItemSpec)


def walk_items(
    payload: bytes,
    b: ReadingsBuilder,
    lookup: Callable[[int, int], S | None],
    emit: Callable[[S, bytes, int], None],
    frame: str,
    unknown: Callable[[int, int], str] = lambda a, b: f"unknown item {a:02x} {b:02x}",
) -> DecodeResult:
    """Decode every item with ``lookup(a, b)`` and ``emit(spec, data, a)``.

    ``unknown(a, b)`` words the error for a header the table does not know.
    """
    n = len(payload)
    if n == 0:
        raise TruncatedPayloadError(2, 0, f"{frame} frame")
    i = items = 0
    err: PayloadFormatError
    while i < n:
        if n - i < 2:
            err = TruncatedPayloadError(2, n - i, f"{frame} item header at byte {i}")
            break
        first, second = payload[i], payload[i + 1]
        spec = lookup(first, second)
        if spec is None:
            err = PayloadFormatError(f"{frame}: {unknown(first, second)} at byte {i}")
            break
        end = i + 2 + spec.size
        if end > n:
            err = TruncatedPayloadError(spec.size, n - i - 2, f"{frame} {spec.name} at byte {i}")
            break
        emit(spec, payload[i + 2 : end], first)
        items += 1
        i = end
    else:
        return b.result()
    if items == 0:
        raise err
    b.warn(f"{err}; {items} item(s) before it kept")
    return b.result()
