"""The codec host: the child process side of the codec sandbox (see ``sandbox``).

A fresh interpreter started by :class:`~lorakeet.gateway_bridge.sandbox.SandboxHost` runs
:func:`host_main`: it limits itself (no SIGINT, no core files, capped address space, CPU time
kept just ahead of its use), then answers compile, decode and run requests on its socket
until the socket closes, keeping compiled codecs by source digest. Also here: the messages
both sides exchange (marshal requests, JSON replies the parent rebuilds and checks).
"""

from __future__ import annotations

import json
import marshal
import os
import time
from collections import OrderedDict
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

from lorakeet.decoders import errors as _errors
from lorakeet.decoders.errors import CodecError, DecodeError
from lorakeet.decoders.types import DecodeResult, DeviceContext, Reading

HOST_CACHE_SIZE = 64
"""Compiled codecs a host keeps (each may hold up to the codec memory limit)."""
ADDRESS_SPACE_LIMIT = 1024 * 1024 * 1024
"""RLIMIT_AS of the host process (bytes); 0 for none."""
CPU_HEADROOM_S = 3
"""The host's RLIMIT_CPU is kept this many seconds ahead of its CPU use (orphan guard)."""

OP_COMPILE, OP_DECODE, OP_RUN = 0, 1, 2


def _limit_host(address_space: int) -> None:
    """Resource limits of the host process, set once at start."""
    import resource
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):  # pragma: no cover - platform dependent
        pass
    if address_space > 0:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard == resource.RLIM_INFINITY or hard > address_space:
            try:
                resource.setrlimit(resource.RLIMIT_AS, (address_space, hard))
            except (ValueError, OSError):  # pragma: no cover - platform dependent
                pass


class _CpuGuard:
    """Keeps RLIMIT_CPU a few seconds ahead of the host's CPU use.

    The parent's watchdog kills a hung host long before; this only matters for an orphan
    (parent gone) stuck where it cannot notice, such as a backtracking regex.
    """

    def __init__(self) -> None:
        import resource

        self._resource = resource
        self._soft = -1
        _, self._hard = resource.getrlimit(resource.RLIMIT_CPU)

    def arm(self) -> None:
        used = int(time.process_time())
        if used + 1 < self._soft:
            return
        soft = used + CPU_HEADROOM_S + 1
        if self._hard != self._resource.RLIM_INFINITY and soft > self._hard:  # pragma: no cover
            return
        try:
            self._resource.setrlimit(self._resource.RLIMIT_CPU, (soft, self._hard))
        except (ValueError, OSError):  # pragma: no cover - platform dependent
            return
        self._soft = soft


def _error_reply(exc: BaseException, name: str) -> bytes:
    if isinstance(exc, DecodeError):
        return json.dumps(["err", type(exc).__name__, str(exc)]).encode()
    text = f"codec {name} failed in the sandbox: {type(exc).__name__}: {exc}"
    return json.dumps(["err", "CodecError", text]).encode()


def _serve(conn: Connection, cache_size: int) -> None:
    """The host's request loop: answer until the socket closes."""
    from lorakeet.decoders.javascript import JsCodec

    codecs: OrderedDict[str, JsCodec] = OrderedDict()
    guard = _CpuGuard()
    dumps = json.dumps
    conn.send_bytes(dumps(["ready", os.getpid()]).encode())
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        guard.arm()
        name = ""
        try:
            msg = marshal.loads(data)  # noqa: S302 - written by our parent, which is trusted
            op, key, source, name = msg[0], msg[1], msg[2], msg[3]
            codec = codecs.get(key)
            if codec is None:
                if source is None:
                    conn.send_bytes(b'["missing"]')
                    continue
                codec = JsCodec(source, name)
                codecs[key] = codec
                while len(codecs) > cache_size:
                    codecs.popitem(last=False)
            else:
                codecs.move_to_end(key)
            if op == OP_DECODE:
                _, _, _, _, payload, f_port, received_at_ns, metadata = msg
                ctx = DeviceContext(received_at_ns, metadata) if metadata else DeviceContext(received_at_ns)
                res = codec(payload, f_port, ctx)
                reply = dumps(["ok", res.readings, res.warnings]).encode()
            elif op == OP_RUN:
                _, _, _, _, payload, f_port, recv_time = msg
                reply = dumps(["ok", codec.run(payload, f_port, recv_time)]).encode()
            else:
                reply = b'["ok"]'
        except Exception as exc:  # every failure is reported to the caller, the loop goes on
            reply = _error_reply(exc, name)
        conn.send_bytes(reply)


def host_main(fd: int, cache_size: int = HOST_CACHE_SIZE, address_space: int = ADDRESS_SPACE_LIMIT) -> None:
    """Entry point of the host process (``fd``: its end of the socket pair)."""
    _limit_host(address_space)
    conn = Connection(fd)
    try:
        _serve(conn, cache_size)
    finally:
        conn.close()


ERROR_CLASSES: dict[str, type[DecodeError]] = {
    name: obj for name, obj in vars(_errors).items() if isinstance(obj, type) and issubclass(obj, DecodeError)
}


def rebuild_error(name: object, message: object) -> DecodeError:
    """The DecodeError a host reported (its class by name; CodecError for an unknown one)."""
    cls = ERROR_CLASSES.get(name) if isinstance(name, str) else None
    text = message if isinstance(message, str) else str(message)
    if cls is None:
        return CodecError(text)
    exc = cls.__new__(cls)  # some classes take other constructor arguments: set the message only
    exc.args = (text,)
    return exc


def rebuild_result(readings: Any, warnings: Any) -> DecodeResult:
    """A host's decode reply as a DecodeResult; TypeError when it is not well formed."""
    out = []
    for key, value, unit, time_ns in readings:
        if (
            type(key) is not str
            or type(unit) is not str
            or type(value) not in (float, bool, str)
            or (time_ns is not None and type(time_ns) is not int)
        ):
            raise TypeError(f"bad reading {key!r}")
        out.append(Reading(key, value, unit, time_ns))
    if not all(type(w) is str for w in warnings):
        raise TypeError("bad warning")
    return DecodeResult(tuple(out), tuple(warnings))


def marshalable(metadata: Mapping[str, object]) -> dict[str, object] | None:
    """Device metadata as a plain dict a request can carry, or None (empty or not marshalable)."""
    if not metadata:
        return None
    try:
        plain = dict(metadata)
        marshal.dumps(plain)
    except (ValueError, TypeError):
        return None
    return plain
