"""TTN / The Things Stack JavaScript payload formatters, run in a QuickJS sandbox.

A codec is JavaScript source defining either

- ``decodeUplink(input)`` (TTS / Device Repository style): ``input`` is
  ``{bytes: number[], fPort: number, recvTime: Date}`` and the result is
  ``{data: object, warnings?: string[], errors?: string[]}``; or
- ``Decoder(bytes, port)`` (TTN v2 legacy style), returning the data object itself.

The ``data`` object goes through the same mapping as the network's own decoded payload
(:func:`lorakeet.decoders.network.readings_from_object`), so vendor keys such as
``BatV`` land on our vocabulary.

Sandbox, per codec:

- its own QuickJS runtime and context (a codec that pollutes ``Object.prototype`` or
  replaces ``JSON.stringify`` only harms itself);
- every call (and the top-level code at compile time) is limited to
  :data:`TIME_LIMIT_S` of CPU time, :data:`MEMORY_LIMIT` bytes of heap and
  :data:`STACK_LIMIT` bytes of stack; the output is serialised with the ``JSON.stringify``
  captured before the codec ran and may be at most :data:`MAX_OUTPUT_CHARS` long;
- after any failure the context is thrown away and rebuilt from the source on the next
  call, so a half-dead runtime (out of memory) is never reused;
- one lock per codec: calls into one codec are serialised, different codecs run
  independently.

Known limits of the sandbox (documented, not fixed here):

- QuickJS measures the time limit with ``clock()``, the CPU time of the whole process;
  under heavy multi-threaded load a codec may be stopped a little early.
- The bundled QuickJS does not check the time limit inside the regular-expression
  engine: a catastrophically backtracking regex (``/(a+)+b/`` on a long subject) is not
  stopped. Codecs come from the device registry (operators), not from anonymous users.
- Unlike TTS (a fresh runtime per uplink), a codec's global state persists between its
  own calls until a failure rebuilds the context.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import quickjs

from .errors import CodecError, CodecLimitError, PayloadLimitError
from .network import readings_from_object
from .types import DecodeResult, DeviceContext, ReadingsBuilder

TIME_LIMIT_S = 0.1
"""CPU time limit of one codec call (The Things Stack uses 100 ms)."""
MEMORY_LIMIT = 16 * 1024 * 1024
"""Heap limit of one codec's runtime, compiled code included."""
STACK_LIMIT = 256 * 1024
"""Stack limit of one codec call (QuickJS's default; about 400 nested JS calls)."""
MAX_OUTPUT_CHARS = 64 * 1024
"""Largest JSON text a codec call may return."""
MAX_SOURCE_CHARS = 512 * 1024
"""Largest codec source the sandbox runs (Device Repository codecs may exceed the upload limit)."""
MAX_UPLOAD_BYTES = 40 * 1024
"""Largest codec a user uploads, in UTF-8 bytes: The Things Stack's documented limit for a
JavaScript payload formatter (40 KB, 40,960 bytes; those from the Device Repository may be larger)."""
MAX_PAYLOAD_BYTES = 512
"""Largest payload handed to a codec (LoRaWAN application payloads are at most 242 bytes)."""
CACHE_SIZE = 128
"""Compiled codecs kept by :func:`get_codec`."""

# Evaluated before the codec source: captures the intrinsics the runner needs, so that a
# codec that replaces JSON.parse / JSON.stringify / Date cannot change how we talk to it.
# The Things Stack hands a codec's result over as a Go value: a property that is undefined
# is there, as null (JSON.stringify alone would leave it out), hence the replacer.
_PRELUDE = r"""
(function () {
  "use strict";
  var parse = JSON.parse, stringify = JSON.stringify, DateCtor = Date;
  return function (fn, legacy) {
    return function (bytesJson, fPort, recvTime, maxChars) {
      var bytes = parse(bytesJson);
      var out = legacy
        ? { data: fn(bytes, fPort) }
        : fn({ bytes: bytes, fPort: fPort, recvTime: new DateCtor(recvTime) });
      var text = out === undefined ? undefined
        : stringify(out, function (k, v) { return v === undefined ? null : v; });
      if (typeof text !== "string") {
        return "";
      }
      if (text.length > maxChars) {
        return text.length;
      }
      return text;
    };
  };
})()
"""

_ENTRY_POINTS: tuple[tuple[str, bool], ...] = (("decodeUplink", False), ("Decoder", True))


def _limit_kind(exc: BaseException) -> str | None:
    """Which sandbox limit an exception from QuickJS reports, or None for a plain JS error."""
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, quickjs.StackOverflow):
        return "stack"
    text = str(exc)
    if "InternalError: interrupted" in text:
        return "time"
    if "out of memory" in text or "Failed obtaining QuickJS error string" in text:
        return "memory"
    if "stack overflow" in text:
        return "stack"
    return None


_LIMIT_TEXT = {
    "time": f"exceeded its time limit of {TIME_LIMIT_S * 1000:.0f} ms",
    "memory": f"exceeded its memory limit of {MEMORY_LIMIT // (1024 * 1024)} MB",
    "stack": "exceeded its stack limit (recursion too deep)",
}


def _context_alive(context: Any) -> bool:
    """False when a runtime can no longer evaluate anything (left behind by running out of memory)."""
    try:
        context.eval("0")
    except (quickjs.JSException, MemoryError):
        return False
    return True


def _translate(exc: BaseException, what: str, context: Any = None) -> CodecError:
    kind = _limit_kind(exc)
    if kind is None and context is not None and str(exc).strip() == "null" and not _context_alive(context):
        # QuickJS could not even allocate the out-of-memory error: the exception is null
        # and the runtime is dead (a codec's own ``throw null`` leaves it alive).
        kind = "memory"
    if kind is not None:
        return CodecLimitError(f"{what} {_LIMIT_TEXT[kind]}")
    first = str(exc).strip().splitlines()
    return CodecError(f"{what} failed: {first[0] if first else type(exc).__name__}")


def recv_time_iso(received_at_ns: int) -> str:
    """The ISO 8601 UTC time (millisecond precision) handed to a codec as ``recvTime``."""
    try:
        when = datetime.fromtimestamp(received_at_ns // 1_000_000 / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        when = datetime.fromtimestamp(0, tz=UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsCodec:
    """One compiled JavaScript codec; a :class:`~lorakeet.decoders.types.Decoder`.

    Raises :class:`CodecError` at construction when the source does not compile, its
    top-level code fails, or it defines neither ``decodeUplink`` nor ``Decoder``.
    """

    def __init__(self, source: str, name: str = "") -> None:
        if len(source) > MAX_SOURCE_CHARS:
            raise CodecError(f"codec source is {len(source)} characters, limit {MAX_SOURCE_CHARS}")
        self.source = source
        self.digest = source_digest(source)
        self.name = name or f"js:{self.digest[:12]}"
        self._lock = threading.Lock()
        self._runner: Any = None
        self._context: Any = None
        self.legacy = False
        self.rebuilds = 0
        with self._lock:
            self._build()

    def __repr__(self) -> str:
        return f"JsCodec({self.name!r})"

    def _build(self) -> None:
        """Create a fresh runtime, run the prelude and the codec's top-level code."""
        self._runner = None
        self._context = None
        context = quickjs.Context()
        context.set_memory_limit(MEMORY_LIMIT)
        context.set_max_stack_size(STACK_LIMIT)
        context.set_time_limit(TIME_LIMIT_S)
        try:
            factory = context.eval(_PRELUDE)
            context.eval(self.source)
            found = None
            for entry, is_legacy in _ENTRY_POINTS:
                fn = context.eval(f"typeof {entry} === 'function' ? {entry} : null")
                if isinstance(fn, quickjs.Object):
                    found = (fn, is_legacy)
                    break
            if found is None:
                raise CodecError(
                    f"codec {self.name} defines neither decodeUplink(input) nor Decoder(bytes, port)"
                )
            self._runner = factory(*found)
        except (quickjs.JSException, MemoryError) as exc:
            raise _translate(exc, f"codec {self.name}: compiling") from exc
        self._context = context
        self.legacy = found[1]

    def run(self, payload: bytes, f_port: int, recv_time: str) -> dict[str, Any]:
        """Call the codec and return its raw result ``{data, warnings?, errors?}``.

        Raises CodecLimitError when a limit was hit, CodecError when the codec threw or
        returned something that is not an object.
        """
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise PayloadLimitError(f"payload is {len(payload)} bytes, limit {MAX_PAYLOAD_BYTES}")
        bytes_json = "[" + ",".join(map(str, payload)) + "]"
        with self._lock:
            if self._runner is None:
                self.rebuilds += 1
                self._build()
            try:
                text = self._runner(bytes_json, f_port, recv_time, MAX_OUTPUT_CHARS)
            except (quickjs.JSException, MemoryError) as exc:
                # A limit hit can leave the runtime unusable, and a thrown error may have
                # left the codec's globals half-updated: start afresh next time.
                context, self._runner, self._context = self._context, None, None
                raise _translate(exc, f"codec {self.name}", context) from exc
        if isinstance(text, int):
            raise CodecLimitError(
                f"codec {self.name} output is {text} characters of JSON, limit {MAX_OUTPUT_CHARS}"
            )
        if not isinstance(text, str) or not text:
            raise CodecError(f"codec {self.name} returned nothing JSON can represent")
        if len(text) > MAX_OUTPUT_CHARS:  # pragma: no cover - the prelude checks first
            raise CodecLimitError(f"codec {self.name} output exceeds {MAX_OUTPUT_CHARS} characters of JSON")
        try:
            out = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise CodecError(f"codec {self.name} returned unreadable JSON: {exc}") from exc
        if not isinstance(out, dict):
            raise CodecError(f"codec {self.name} returned {type(out).__name__}, expected an object")
        return out

    def __call__(self, payload: bytes, f_port: int, ctx: DeviceContext, /) -> DecodeResult:
        """Decode one uplink: run the codec and map its ``data`` onto readings."""
        out = self.run(payload, f_port, recv_time_iso(ctx.received_at_ns))
        return readings_from_output(out, self.name, ctx)


def readings_from_output(out: dict[str, Any], name: str, ctx: DeviceContext) -> DecodeResult:
    """The readings of a codec's raw result ``{data, warnings?, errors?}`` (field map applied)."""
    errors = out.get("errors")
    if errors:
        items = errors if isinstance(errors, list) else [errors]
        raise CodecError("; ".join(str(e) for e in items))
    data = out.get("data")
    if not isinstance(data, dict):
        raise CodecError(f"codec {name} returned no data object")
    b = ReadingsBuilder()
    warnings = out.get("warnings")
    if warnings:
        for w in warnings if isinstance(warnings, list) else [warnings]:
            b.warn(f"codec: {w}")
    readings_from_object(data, b, ctx.field_map)
    return b.result()


def source_digest(source: str) -> str:
    """The cache key of a codec source (SHA-256 hex)."""
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


_cache: OrderedDict[str, JsCodec] = OrderedDict()
_cache_lock = threading.Lock()


def get_codec(source: str, name: str = "") -> JsCodec:
    """The compiled codec for ``source``, from a bounded LRU cache keyed by its digest.

    Compile errors are not cached: a broken codec raises CodecError on every call.
    """
    key = source_digest(source)
    with _cache_lock:
        codec = _cache.get(key)
        if codec is not None:
            _cache.move_to_end(key)
            return codec
    codec = JsCodec(source, name)
    with _cache_lock:
        existing = _cache.get(key)
        if existing is not None:
            return existing
        _cache[key] = codec
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return codec


def clear_cache() -> None:
    """Forget every cached codec."""
    with _cache_lock:
        _cache.clear()


def cache_size() -> int:
    """How many codecs the cache holds."""
    with _cache_lock:
        return len(_cache)
