"""Errors raised by decoders.

Every decoder raises only these; foreign exceptions (struct.error, IndexError, cbor2 and
quickjs errors) are translated at the boundary with ``raise ... from exc``::

    DecodeError
     +-- UnknownDecoderError       no decoder registered under that name
     +-- UnsupportedPortError      the decoder does not know this f_port
     +-- PayloadFormatError        the bytes do not follow the format
     |    +-- TruncatedPayloadError    fewer bytes than the format needs
     |    +-- LayoutMismatchError      a well-formed frame of another layout (a sibling model's)
     |    +-- PayloadLimitError        size, depth or item-count limit exceeded
     +-- MissingNetworkPayloadError   the network sent no decoded_payload
     +-- CodecError                a JavaScript codec failed or reported errors
          +-- CodecLimitError          a codec hit its time or memory limit
"""

from __future__ import annotations


class DecodeError(Exception):
    """A payload could not be decoded; the uplink is stored raw with this message."""


class UnknownDecoderError(DecodeError, LookupError):
    """No decoder is registered under the requested name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown decoder {name!r}")
        self.name = name


class UnsupportedPortError(DecodeError):
    """The decoder does not handle this f_port."""

    def __init__(self, f_port: int, decoder: str = "") -> None:
        where = f" for decoder {decoder!r}" if decoder else ""
        super().__init__(f"unsupported f_port {f_port}{where}")
        self.f_port = f_port


class PayloadFormatError(DecodeError, ValueError):
    """The bytes do not follow the decoder's format."""


class TruncatedPayloadError(PayloadFormatError):
    """The payload ends before the format says it should."""

    def __init__(self, needed: int, got: int, what: str = "payload") -> None:
        super().__init__(f"{what} truncated: needs {needed} bytes, got {got}")
        self.needed = needed
        self.got = got


class LayoutMismatchError(PayloadFormatError):
    """The frame is well formed but does not fit this decoder's layout (a sibling model's frame?).

    Raised instead of reading the fields at offsets that mean something else in that frame.
    """


class PayloadLimitError(PayloadFormatError):
    """A size, nesting-depth or item-count limit was exceeded."""


class MissingNetworkPayloadError(DecodeError):
    """The network server delivered no decoded_payload for this uplink."""


class CodecError(DecodeError):
    """A JavaScript codec raised, returned garbage or reported errors."""


class CodecLimitError(CodecError):
    """A JavaScript codec exceeded its time or memory limit and was stopped."""
