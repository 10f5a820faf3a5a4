"""Decoder names to decoders, JavaScript codecs from the registry included.

``js:<id>`` names a codec stored in the registry's ``codecs`` table; it is compiled once
in the codec sandbox (:class:`lorakeet.gateway_bridge.sandbox.SandboxedCodec`, a separate
process) and cached by id and source, so an edited codec is recompiled on next use. Every
other name goes to the built-in table.

:func:`repo_codec` resolves a Device Repository model (brand, model, firmware version,
band) to its codec and compiles it in the same sandbox as uploaded codecs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from lorakeet.decoders import Decoder, UnknownDecoderError, get_decoder
from lorakeet.ttlcache import TtlCache

if TYPE_CHECKING:
    from lorakeet.decoders.device_repo import ModelCodec
    from lorakeet.gateway_bridge.sandbox import SandboxedCodec, SandboxHost

JS_PREFIX = "js:"


class CodecSource(Protocol):
    """Where codec sources come from (the registry)."""

    def get_codec(self, codec_id: int) -> _CodecLike | None:
        """A codec row by id, or None."""
        ...


class _CodecLike(Protocol):
    @property
    def source(self) -> str: ...


def compile_js(source: str, name: str = "", host: SandboxHost | None = None) -> Decoder:
    """Compile a JavaScript codec in the codec sandbox (default: the process's shared host).

    Raises CodecError (SandboxStoppedError when the codec crashed or hung the sandbox).
    """
    from lorakeet.gateway_bridge.sandbox import SandboxedCodec

    codec: Decoder = SandboxedCodec(source, host, name)
    return codec


def repo_codec(
    repo_path: Path | str,
    brand: str,
    model: str,
    firmware_version: str | None = None,
    band: str | None = None,
    host: SandboxHost | None = None,
) -> tuple[ModelCodec, SandboxedCodec]:
    """A Device Repository model's codec, resolved as its index does and compiled in the sandbox.

    Raises DeviceRepoError when the checkout lacks the model or codec (or the choice is
    ambiguous), CodecError when the script does not compile.
    """
    from lorakeet.decoders.device_repo import resolve
    from lorakeet.gateway_bridge.sandbox import SandboxedCodec

    found = resolve(repo_path, brand, model, firmware_version, band)
    name = f"{found.brand}/{found.codec_id}"
    return found, SandboxedCodec(found.definition.source, host, name)


def js_codec_id(name: str) -> int | None:
    """The codec id of ``js:<id>``, or None for any other name."""
    if name.startswith(JS_PREFIX) and name[len(JS_PREFIX) :].isdigit():
        return int(name[len(JS_PREFIX) :])
    return None


def make_resolver(
    registry: CodecSource, *, ttl: float = 30.0, max_cached: int = 256, host: SandboxHost | None = None
) -> Callable[[str], Decoder]:
    """A ``resolve(name) -> Decoder`` for :class:`~lorakeet.gateway_bridge.pipeline.Decoding`.

    ``js:<id>`` codecs run in the codec sandbox (``host``, default the process's shared
    host): a codec that crashes or hangs raises CodecError for its own uplink only.
    Raises UnknownDecoderError for an unknown name or codec id and CodecError when a
    stored codec does not compile (the pipeline stores the uplink raw with that error).
    """
    cache: TtlCache[int, tuple[str, Decoder]] = TtlCache(ttl, max_cached)  # id -> (source, compiled)

    def resolve(name: str) -> Decoder:
        codec_id = js_codec_id(name)
        if codec_id is None:
            return get_decoder(name)
        hit = cache.get(codec_id)
        if hit is not None:
            return hit[1]
        row = registry.get_codec(codec_id)
        if row is None:
            raise UnknownDecoderError(name)
        source = row.source
        stale = cache.get_stale(codec_id)  # unchanged source: keep the compiled codec
        if stale is not None and stale[0] == source:
            decoder = stale[1]
        else:
            decoder = compile_js(source, name, host)  # CodecError propagates: stored raw with that error
        cache.put(codec_id, (source, decoder))
        return decoder

    return resolve
