"""JavaScript codecs in a separate process: a crashing or hanging codec cannot harm us.

:class:`~lorakeet.decoders.javascript.JsCodec` runs QuickJS in-process with CPU-time,
memory, stack and output limits, but QuickJS has holes no in-process limit closes: it can
segfault when a codec runs out of memory while building strings, and it does not check its
time limit inside the regular-expression engine. Here the codecs run in a **codec host**,
a long-lived child process (a fresh interpreter, never a fork) that keeps compiled
:class:`JsCodec` objects keyed by source digest and decodes on request:

- :class:`SandboxedCodec` (``SandboxedCodec(source, host)``) is a
  :class:`~lorakeet.decoders.types.Decoder`; it compile-checks the source in the host at
  construction (CodecError as from ``JsCodec``) and sends each uplink (source digest,
  payload, fPort, reception time, metadata) over a socket pair;
- the parent waits for the answer with a **wall-clock watchdog**
  (``TIME_LIMIT_S + margin``, plus a compile allowance when the source travels along); if
  the host does not answer in time, or dies (EOF: a segfault, an out-of-memory kill), the
  host is killed and restarted and that one call raises :class:`SandboxStoppedError`
  (a CodecLimitError: "codec crashed the sandbox" / "codec exceeded its time limit");
- after a restart the other codecs keep working: the new host is sent their sources
  lazily, on their next call;
- results come back as JSON (never pickle: the parent does not unpickle what a process
  running hostile code wrote) and are rebuilt into Reading / DecodeResult; a DecodeError
  subclass raised in the host comes back as the same class with the same message;
- one lock per host: calls are serialised (a decode is tens of microseconds; a hostile
  codec holds the host for at most the watchdog time);
- the host ignores SIGINT, writes no core files, is capped in address space and in total
  CPU time just ahead of its use (so an orphan stuck in a regex dies within seconds when
  its parent is gone), and exits when its socket closes.

The host is started with :mod:`subprocess` rather than :mod:`multiprocessing`: the ingest
worker is itself a daemonic multiprocessing process, and those may not have
multiprocessing children. It is still a fresh ``python`` (the "spawn" model).

:func:`shared_host` is the process-wide host (started on first use, stopped at exit).
"""

from __future__ import annotations

import atexit
import json
import marshal
import os
import select
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from lorakeet.decoders.errors import CodecError, CodecLimitError, PayloadLimitError
from lorakeet.decoders.javascript import (
    MAX_PAYLOAD_BYTES,
    MAX_SOURCE_CHARS,
    TIME_LIMIT_S,
    readings_from_output,
    recv_time_iso,
    source_digest,
)
from lorakeet.decoders.types import DecodeResult, DeviceContext

from .sandbox_host import (
    ADDRESS_SPACE_LIMIT,
    HOST_CACHE_SIZE,
    OP_COMPILE,
    OP_DECODE,
    OP_RUN,
    marshalable,
    rebuild_error,
    rebuild_result,
)

DEFAULT_MARGIN_S = 0.25
"""Wall-clock slack on top of the codec time limit before the watchdog kills the host."""
START_TIMEOUT_S = 30.0
"""How long a (re)started host may take to report ready (not counted against a codec)."""


class SandboxStoppedError(CodecLimitError):
    """The host was killed and restarted because of this call (it crashed or hung)."""

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


class SandboxHost:
    """One codec host process and the lock that serialises calls into it.

    ``timeout`` is the wall-clock limit of one call (default: the codec time limit plus
    :data:`DEFAULT_MARGIN_S`); a call that also ships the source gets the codec time limit
    again plus one second per million characters for compiling. The process is started on
    first use; :meth:`close` stops it (it also exits by itself when we go away).
    """

    def __init__(
        self,
        *,
        timeout: float = TIME_LIMIT_S + DEFAULT_MARGIN_S,
        start_timeout: float = START_TIMEOUT_S,
        cache_size: int = HOST_CACHE_SIZE,
        address_space: int = ADDRESS_SPACE_LIMIT,
    ) -> None:
        self.timeout = timeout
        self.start_timeout = start_timeout
        self.cache_size = cache_size
        self.address_space = address_space
        self.restarts = 0
        """How many times the host was killed because of a codec."""
        self.last_stop = ""
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._poll: Any = None
        self._ready = False
        self._known: set[str] = set()
        self._pid = os.getpid()
        self._closed = False

    def __repr__(self) -> str:
        pid = self._proc.pid if self._proc is not None else None
        return f"SandboxHost(pid={pid}, restarts={self.restarts})"

    def __enter__(self) -> SandboxHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The host process id (None before the first start)."""
        return self._proc.pid if self._proc is not None else None

    # -- process lifecycle (call with the lock held) --------------------------------------

    def _spawn(self) -> None:
        parent, child = socket.socketpair()
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        code = (
            "from lorakeet.gateway_bridge.sandbox_host import host_main; "
            f"host_main({child.fileno()}, {int(self.cache_size)}, {int(self.address_space)})"
        )
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-P", "-c", code],  # -P: the working directory is not on sys.path
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
                close_fds=True,
            )
        finally:
            child.close()
        self._conn = Connection(parent.detach())
        self._poll = select.poll()
        self._poll.register(self._conn.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
        self._ready = False
        self._known.clear()

    def _kill(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc, self._conn, self._poll, self._ready = None, None, None, False
        self._known.clear()
        if conn is not None:
            conn.close()
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            try:
                proc.wait(5.0)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL ignored?
                pass

    def _ensure(self) -> Connection:
        if self._closed:
            raise CodecError("the codec sandbox is closed")
        if self._pid != os.getpid():  # forked: the process and socket belong to our parent
            if self._conn is not None:
                self._conn.close()
            self._proc, self._conn, self._poll, self._ready = None, None, None, False
            self._known.clear()
            self._pid = os.getpid()
        if self._proc is None:
            self._spawn()
        elif self._ready and self._poll.poll(0):
            # readable or hung up while no call is outstanding: the host died while idle
            # (killed from outside); start a new one rather than blame the next codec
            self._kill()
            self._spawn()
        conn = self._conn
        assert conn is not None
        if not self._ready:
            if not self._poll.poll(self.start_timeout * 1000):
                self._kill()
                raise CodecError(f"the codec sandbox did not start within {self.start_timeout:g} s")
            try:
                hello = json.loads(conn.recv_bytes())
            except (EOFError, OSError, ValueError):
                self._kill()
                raise CodecError("the codec sandbox failed to start") from None
            if not (isinstance(hello, list) and hello and hello[0] == "ready"):
                self._kill()
                raise CodecError("the codec sandbox failed to start")
            self._ready = True
        return conn

    def _stopped(self, name: str, kind: str, waited: float) -> SandboxStoppedError:
        """Kill the host, start its replacement, and the error for the offending call."""
        self._kill()
        self.restarts += 1
        if kind == "time":
            text = (
                f"codec {name} exceeded its time limit of {TIME_LIMIT_S * 1000:.0f} ms"
                f" (stopped by the sandbox after {waited * 1000:.0f} ms)"
            )
        else:
            text = f"codec {name} crashed the sandbox ({kind}); it was restarted"
        self.last_stop = text
        try:
            self._spawn()  # start the replacement now; the next call waits for it to be ready
        except OSError:  # pragma: no cover - cannot fork: the next call retries
            self._kill()
        return SandboxStoppedError(text, kind)

    def _exchange(self, msg: tuple[Any, ...], name: str, timeout: float) -> list[Any]:
        conn = self._ensure()
        data = marshal.dumps(msg)
        t0 = time.monotonic()
        try:
            conn.send_bytes(data)
        except OSError:
            raise self._stopped(name, "connection lost", time.monotonic() - t0) from None
        if not self._poll.poll(timeout * 1000):
            raise self._stopped(name, "time", time.monotonic() - t0)
        try:
            reply = json.loads(conn.recv_bytes())
        except (EOFError, OSError):
            code = self._proc.poll() if self._proc is not None else None
            if code is None and self._proc is not None:
                try:
                    code = self._proc.wait(0.5)
                except subprocess.TimeoutExpired:
                    code = None
            kind = f"signal {-code}" if code is not None and code < 0 else f"exit {code}"
            raise self._stopped(name, kind, time.monotonic() - t0) from None
        except ValueError:
            raise self._stopped(name, "garbled answer", time.monotonic() - t0) from None
        if not isinstance(reply, list) or not reply:
            raise self._stopped(name, "garbled answer", time.monotonic() - t0)
        return reply

    def _call(self, codec: SandboxedCodec, op: int, args: tuple[Any, ...]) -> list[Any]:
        """Send one request (with the source if this host may lack it); the answer list."""
        with self._lock:
            if op == OP_COMPILE and codec.key in self._known and self._ready:
                return ["ok"]
            for _ in range(2):
                ship = codec.key not in self._known
                timeout = self.timeout
                if ship:
                    timeout += TIME_LIMIT_S + len(codec.source) / 1_000_000
                msg = (op, codec.key, codec.source if ship else None, codec.name, *args)
                reply = self._exchange(msg, codec.name, timeout)
                if reply[0] == "missing":  # evicted from the host's cache
                    self._known.discard(codec.key)
                    continue
                if ship:
                    if len(self._known) >= 4 * self.cache_size:
                        self._known.clear()
                    self._known.add(codec.key)
                if reply[0] == "err" and len(reply) == 3:
                    raise rebuild_error(reply[1], reply[2])
                if reply[0] != "ok":
                    raise self._stopped(codec.name, "garbled answer", 0.0)
                return reply
            raise self._stopped(codec.name, "garbled answer", 0.0)  # pragma: no cover

    # -- public ---------------------------------------------------------------------------

    def compile(self, codec: SandboxedCodec) -> None:
        """Compile ``codec`` in the host (a no-op when it already holds it); raises CodecError."""
        self._call(codec, OP_COMPILE, ())

    def decode(self, codec: SandboxedCodec, payload: bytes, f_port: int, ctx: DeviceContext) -> DecodeResult:
        """Decode one payload with ``codec`` in the host.

        With a field map, the codec's raw output comes back and is mapped here (a field map
        is the device's configuration, not the codec's).
        """
        if ctx.field_map:
            out = self.run(codec, payload, f_port, recv_time_iso(ctx.received_at_ns))
            return readings_from_output(out, codec.name, ctx)
        reply = self._call(
            codec, OP_DECODE, (bytes(payload), f_port, ctx.received_at_ns, marshalable(ctx.metadata))
        )
        try:
            return rebuild_result(reply[1], reply[2])
        except (TypeError, ValueError, IndexError) as exc:
            with self._lock:
                raise self._stopped(codec.name, "garbled answer", 0.0) from exc

    def run(self, codec: SandboxedCodec, payload: bytes, f_port: int, recv_time: str) -> dict[str, Any]:
        """The codec's raw result ``{data, warnings?, errors?}`` (as JsCodec.run)."""
        reply = self._call(codec, OP_RUN, (bytes(payload), f_port, recv_time))
        out = reply[1] if len(reply) > 1 else None
        if not isinstance(out, dict):
            raise CodecError(f"codec {codec.name} returned no object")
        return out

    def start(self) -> None:
        """Start the host now and wait until it is ready (otherwise the first call does)."""
        with self._lock:
            self._ensure()

    def close(self) -> None:
        """Stop the host; later calls raise CodecError."""
        with self._lock:
            self._closed = True
            if self._pid == os.getpid():
                self._kill()


class SandboxedCodec:
    """A JavaScript codec run in a :class:`SandboxHost`; a :class:`~lorakeet.decoders.types.Decoder`.

    Compiled (checked) in the host at construction: raises CodecError like ``JsCodec``,
    or :class:`SandboxStoppedError` when the top-level code crashed or hung the host.
    """

    def __init__(self, source: str, host: SandboxHost | None = None, name: str = "") -> None:
        if len(source) > MAX_SOURCE_CHARS:
            raise CodecError(f"codec source is {len(source)} characters, limit {MAX_SOURCE_CHARS}")
        self.source = source
        self.digest = source_digest(source)
        self.name = name or f"js:{self.digest[:12]}"
        self.key = f"{self.digest}:{self.name}"
        self.host = host if host is not None else shared_host()
        self.host.compile(self)

    def __repr__(self) -> str:
        return f"SandboxedCodec({self.name!r})"

    def __call__(self, payload: bytes, f_port: int, ctx: DeviceContext, /) -> DecodeResult:
        """Decode one uplink in the host."""
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise PayloadLimitError(f"payload is {len(payload)} bytes, limit {MAX_PAYLOAD_BYTES}")
        return self.host.decode(self, payload, f_port, ctx)

    def run(self, payload: bytes, f_port: int, recv_time: str) -> dict[str, Any]:
        """The codec's raw result for ``payload`` (see JsCodec.run)."""
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise PayloadLimitError(f"payload is {len(payload)} bytes, limit {MAX_PAYLOAD_BYTES}")
        return self.host.run(self, payload, f_port, recv_time)


_shared: SandboxHost | None = None
_shared_pid = 0
_shared_lock = threading.Lock()


def shared_host() -> SandboxHost:
    """The process-wide codec host (its process starts on first use and stops at exit)."""
    global _shared, _shared_pid
    with _shared_lock:
        if _shared is None or _shared_pid != os.getpid():
            _shared = SandboxHost()
            _shared_pid = os.getpid()
            atexit.register(_shared.close)
        return _shared
