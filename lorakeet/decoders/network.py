"""The network server's own decoded payload (TTS ``decoded_payload`` and ``normalized_payload``,
ChirpStack ``object``).

Real formatters are loose: numbers arrive as strings with units (``"3.384 V"``), keys use
vendor spellings (``BatV``, ``TempC_SHT``) and objects nest. Every scalar leaf is kept;
:mod:`lorakeet.decoders.objects` says how a leaf becomes a vocabulary quantity or a
vendor field, and never guesses a unit. The TTS normalized payload, when present, is
read first with the units its schema defines.
"""

from __future__ import annotations

from .errors import MissingNetworkPayloadError
from .normalized import readings_from_normalized
from .objects import readings_from_object as readings_from_object
from .types import DecodeResult, DeviceContext, ReadingsBuilder


def decode(payload: bytes, f_port: int, ctx: DeviceContext, /) -> DecodeResult:
    """Readings from the network's decoded payload in ``ctx`` (and its normalized payload)."""
    obj = ctx.network_decoded
    normalized = ctx.network_normalized
    if obj is None and not normalized:
        raise MissingNetworkPayloadError("the network sent no decoded_payload for this uplink")
    b = ReadingsBuilder()
    claimed: set[str] = set()
    if normalized:
        readings_from_normalized(normalized, b, claimed)
    if obj is not None:
        readings_from_object(obj, b, ctx.field_map, claimed=claimed)
    return b.result()


def with_network(result: DecodeResult, ctx: DeviceContext) -> DecodeResult:
    """Another decoder's result plus every leaf of the network's own payload, if any.

    The decoder's readings keep their keys; a network field that would land on one of
    them is kept as a vendor field instead, so nothing the network sent is lost.
    """
    obj = ctx.network_decoded
    normalized = ctx.network_normalized
    if obj is None and not normalized:
        return result
    b = ReadingsBuilder()
    claimed = {r.key for r in result.readings if r.time_ns is None}
    if normalized:
        readings_from_normalized(normalized, b, claimed)
    if obj is not None:
        readings_from_object(obj, b, ctx.field_map, claimed=claimed)
    extra = b.result()
    have = {(r.key, r.time_ns) for r in result.readings}  # a JS codec's own output repeats TTS's
    readings = result.readings + tuple(r for r in extra.readings if (r.key, r.time_ns) not in have)
    return DecodeResult(readings, result.warnings + extra.warnings)
