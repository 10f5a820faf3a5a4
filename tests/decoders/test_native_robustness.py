"""Every native decoder, on any bytes and any port: only DecodeError escapes, and no field is
ever read past the end of the frame.

Python slicing past the end of ``bytes`` returns fewer bytes without a word, and a value
built from them is a silently wrong number. The payload is handed over as :class:`Strict`,
which raises :class:`ReadPastEnd` (not a DecodeError, so the test fails) on any such slice.
"""

from __future__ import annotations

from typing import Any, SupportsIndex

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lorakeet.decoders import DECODERS, DecodeError, DeviceContext

from . import vectorlib

# The network decoder reads the network's decoded object, not the bytes; the others are byte formats.
NATIVE = sorted(name for name in DECODERS if name != "network")
CTX = DeviceContext(metadata={"bin_depth_m": 2.0, "mount_offset_m": 0.1})


class ReadPastEnd(AssertionError):
    """A decoder sliced beyond the payload."""


class Strict(bytes):
    """Bytes whose slices may not run past the end (they stay Strict, so nested slices are checked)."""

    def __getitem__(self, key: SupportsIndex | slice) -> Any:  # type: ignore[override]
        if isinstance(key, slice):
            start, stop, _ = key.indices(len(self))
            if key.stop is not None and isinstance(key.stop, int) and key.stop > len(self):
                raise ReadPastEnd(f"slice [{key.start}:{key.stop}] of a {len(self)}-byte frame")
            if key.start is not None and isinstance(key.start, int) and key.start > len(self):
                raise ReadPastEnd(f"slice [{key.start}:{key.stop}] of a {len(self)}-byte frame")
            return Strict(bytes.__getitem__(self, slice(start, stop, key.step)))
        return bytes.__getitem__(self, key)

    def __bytes__(self) -> bytes:
        return self


def test_strict_bytes_catch_an_overread() -> None:
    p = Strict(b"\x01\x02\x03")
    assert p[0:2] == b"\x01\x02" and isinstance(p[0:2], Strict) and isinstance(bytes(p), Strict)
    with pytest.raises(ReadPastEnd):
        int.from_bytes(p[2:4], "big")
    with pytest.raises(ReadPastEnd):
        _ = p[1:][1:3]


def _valid_frames() -> list[tuple[bytes, int]]:
    frames = []
    for path in sorted(vectorlib.VECTORS.glob("*-codec*.json")):
        for ex in vectorlib.load(path.name):
            frames.append((ex.payload, ex.f_port))
    return frames


VALID = _valid_frames()


def _run(name: str, payload: bytes, f_port: int) -> None:
    try:
        DECODERS[name].decode(Strict(payload), f_port, CTX)
    except DecodeError:
        pass


@pytest.mark.parametrize("name", NATIVE)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.binary(max_size=80), f_port=st.integers(0, 255))
def test_random_bytes(name: str, payload: bytes, f_port: int) -> None:
    _run(name, payload, f_port)


@pytest.mark.parametrize("name", NATIVE)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_vendor_frame_cut_extended_or_mutated(name: str, data: st.DataObject) -> None:
    """Real frames of every vendor (so each decoder also meets its siblings' frames), damaged."""
    payload, port = data.draw(st.sampled_from(VALID))
    frame = bytearray(payload[: data.draw(st.integers(0, len(payload)))])
    if frame and data.draw(st.booleans()):
        frame[data.draw(st.integers(0, len(frame) - 1))] = data.draw(st.integers(0, 255))
    frame += data.draw(st.binary(max_size=4))
    _run(
        name, bytes(frame), data.draw(st.one_of(st.just(port), st.sampled_from([1, 2, 3, 5, 6, 7, 85, 100])))
    )


@pytest.mark.parametrize("name", NATIVE)
def test_every_vendor_frame_on_every_decoder(name: str) -> None:
    for payload, port in VALID:
        for p in (port, 1, 2, 3, 5, 6, 7, 85, 100):
            _run(name, payload, p)
