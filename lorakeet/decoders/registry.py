"""The one table of built-in decoders, by name.

JavaScript codecs are not in this table: they are compiled per device or device type
from source held in the registry database (see :mod:`lorakeet.decoders.javascript`).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import cayenne, network
from .errors import UnknownDecoderError
from .types import Decoder


@dataclass(frozen=True, slots=True)
class DecoderInfo:
    """A registered decoder and what it is for."""

    name: str
    decode: Decoder
    description: str
    family: str = "generic"


_ENTRIES: tuple[DecoderInfo, ...] = (
    DecoderInfo("network", network.decode, "the network server's decoded_payload / object"),
    DecoderInfo("cayenne_lpp", cayenne.decode, "Cayenne LPP, extended type table"),
)

DECODERS: dict[str, DecoderInfo] = {d.name: d for d in _ENTRIES}


def get_decoder(name: str) -> Decoder:
    """The decoder registered under ``name``; raises UnknownDecoderError."""
    try:
        return DECODERS[name].decode
    except KeyError:
        raise UnknownDecoderError(name) from None
