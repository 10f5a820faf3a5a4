"""Pure payload decoders: bytes + f_port (+ device context) -> readings.

No I/O, clock, logging or settings here; everything a decoder knows comes in through
its arguments.
"""

from .errors import (
    CodecError,
    CodecLimitError,
    DecodeError,
    LayoutMismatchError,
    MissingNetworkPayloadError,
    PayloadFormatError,
    PayloadLimitError,
    TruncatedPayloadError,
    UnknownDecoderError,
    UnsupportedPortError,
)
from .quantities import QUANTITIES, Quantity, is_valid_key, split_key
from .registry import DECODERS, DecoderInfo, get_decoder
from .types import Decoder, DecodeResult, DeviceContext, Reading, ReadingsBuilder, Value

__all__ = [
    "DECODERS",
    "QUANTITIES",
    "CodecError",
    "CodecLimitError",
    "DecodeError",
    "DecodeResult",
    "Decoder",
    "DecoderInfo",
    "DeviceContext",
    "LayoutMismatchError",
    "MissingNetworkPayloadError",
    "PayloadFormatError",
    "PayloadLimitError",
    "Quantity",
    "Reading",
    "ReadingsBuilder",
    "TruncatedPayloadError",
    "UnknownDecoderError",
    "UnsupportedPortError",
    "Value",
    "get_decoder",
    "is_valid_key",
    "split_key",
]
