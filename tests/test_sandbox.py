"""The codec sandbox: JavaScript codecs in a separate host process behind a wall-clock watchdog.

Every hostile codec here must be stopped within the limit + margin, with this (the parent)
process alive and a well-behaved codec, and a second one, decoding correctly right after.
All JS is written for these tests.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from lorakeet.api.app import create_app
from lorakeet.api.deps import Services
from lorakeet.decoders import DeviceContext, Reading
from lorakeet.decoders.errors import (
    CodecError,
    CodecLimitError,
    DecodeError,
    PayloadLimitError,
    TruncatedPayloadError,
    UnknownDecoderError,
)
from lorakeet.decoders.javascript import MAX_PAYLOAD_BYTES, TIME_LIMIT_S, JsCodec
from lorakeet.gateway_bridge import sandbox as sb
from lorakeet.gateway_bridge import sandbox_host
from lorakeet.gateway_bridge.codecs import make_resolver
from lorakeet.gateway_bridge.sandbox import SandboxedCodec, SandboxHost, SandboxStoppedError
from lorakeet.storage.registry import Registry
from lorakeet.storage.sqlite_store import SqliteStore
from tests.api.conftest import api_settings, signup

CTX = DeviceContext(received_at_ns=1_718_000_000_123_456_789, metadata={"bin_depth_m": 1.2})

BATTERY = """
function decodeUplink(input) {
  if (input.fPort !== 2) { return { errors: ["unknown FPort", "really"] }; }
  var b = input.bytes;
  return { data: { BatV: ((b[0] << 8) | b[1]) / 1000, temperature_C: b[2] - 40 }, warnings: ["from js"] };
}
"""
BATTERY_OUT = {"battery_voltage": 3.3, "temperature": 21.0}

LEGACY = """
function Decoder(bytes, port) {
  return { battery_voltage_V: ((bytes[0] << 8) | bytes[1]) / 1000, counter: port };
}
"""

STRING_BOMB = 'function decodeUplink(i){var a=[]; while(true){a.push("x".repeat(1000)+a.length);}}'
LOOP = "function decodeUplink(i){ while (true) {} }"
REGEX = (
    "function decodeUplink(i){ var s = 'a'.repeat(40) + 'c';"
    " return {data: {status: String(/(a+)+b/.test(s))}}; }"
)
POLLUTER = """
Object.prototype.battery_voltage = 99;
Object.prototype.polluted = true;
Array.prototype.push = function () { throw new Error("no push for you"); };
JSON.stringify = function () { return '{"data": {"battery_voltage": 42}}'; };
JSON.parse = function () { return [255, 255]; };
Date = function () { return { evil: true }; };
globalThis.process = { exit: function () {} };
function decodeUplink(input) {
  return { data: { temperature_C: input.bytes[0], clean: typeof input.recvTime.getTime } };
}
"""
CLEAN = (
    "function decodeUplink(i){var a=[]; a.push(i.bytes[0]);"
    " return {data: {counter: a.length, status: typeof ({}).polluted + ',' + JSON.stringify([1])}}}"
)

MARGIN = 0.5
"""Slack for these assertions on a loaded machine, on top of the host's own timeout."""


@pytest.fixture(scope="module")
def host() -> Iterator[SandboxHost]:
    with SandboxHost() as h:
        h.start()
        yield h


def _well_behaved(host: SandboxHost) -> None:
    """A good codec and a second one (legacy style) decode correctly."""
    assert SandboxedCodec(BATTERY, host)(bytes([0x0C, 0xE4, 61]), 2, CTX).as_dict() == BATTERY_OUT
    assert SandboxedCodec(LEGACY, host)(b"\x0c\xe4", 7, CTX).as_dict() == {
        "battery_voltage": 3.3,
        "counter": 7.0,
    }


# ---------------------------------------------------------------- parity with JsCodec


def test_same_results_as_in_process(host: SandboxHost) -> None:
    for source, payload, port in ((BATTERY, bytes([0x0C, 0xE4, 61]), 2), (LEGACY, b"\x0c\xe4", 7)):
        ours = SandboxedCodec(source, host, "mine")(payload, port, CTX)
        theirs = JsCodec(source, "mine")(payload, port, CTX)
        assert ours == theirs
        assert all(type(r) is Reading for r in ours.readings)
    codec = SandboxedCodec(BATTERY, host)
    assert codec.run(bytes([0x0C, 0xE4, 61]), 2, "2024-01-01T00:00:00Z") == {
        "data": {"BatV": 3.3, "temperature_C": 21},
        "warnings": ["from js"],
    }
    assert repr(codec).startswith("SandboxedCodec('js:")


def test_errors_come_back_as_the_same_class(host: SandboxHost) -> None:
    codec = SandboxedCodec(BATTERY, host, "battery")
    with pytest.raises(CodecError) as info:
        codec(b"\x00\x01\x02", 9, CTX)
    assert type(info.value) is CodecError and str(info.value) == "unknown FPort; really"
    with pytest.raises(CodecError, match="SyntaxError") as compile_info:
        SandboxedCodec("function decodeUplink(input {", host)
    assert type(compile_info.value) is CodecError
    with pytest.raises(CodecError, match="neither decodeUplink"):
        SandboxedCodec("var x = 1;", host)
    with pytest.raises(PayloadLimitError):
        codec(bytes(MAX_PAYLOAD_BYTES + 1), 2, CTX)
    with pytest.raises(PayloadLimitError):
        codec.run(bytes(MAX_PAYLOAD_BYTES + 1), 2, "")
    with pytest.raises(CodecError, match=f"limit {sb.MAX_SOURCE_CHARS}"):
        SandboxedCodec("x" * (sb.MAX_SOURCE_CHARS + 1), host)
    limit = SandboxedCodec("function decodeUplink(i){return {data: {big: 'y'.repeat(200000)}}}", host)
    with pytest.raises(CodecLimitError, match="output is") as limit_info:
        limit(b"\x00", 1, CTX)
    assert type(limit_info.value) is CodecLimitError
    # classes whose constructors take other arguments are rebuilt with the message alone
    rebuilt = sandbox_host.rebuild_error("TruncatedPayloadError", "payload truncated: needs 3 bytes, got 1")
    assert (
        type(rebuilt) is TruncatedPayloadError and str(rebuilt) == "payload truncated: needs 3 bytes, got 1"
    )
    assert type(sandbox_host.rebuild_error("UnknownDecoderError", "x")) is UnknownDecoderError
    assert type(sandbox_host.rebuild_error("KeyboardInterrupt", "x")) is CodecError
    assert type(sandbox_host.rebuild_error(None, 3)) is CodecError


def test_answers_are_checked() -> None:
    assert sandbox_host.rebuild_result([["temperature", 1.5, "°C", None]], ["w"]).as_dict() == {
        "temperature": 1.5
    }
    for bad in ([[1, 1.5, "°C", None]], [["t", [1], "°C", None]], [["t", 1.0, "°C", "x"]], [["t"]]):
        with pytest.raises((TypeError, ValueError)):
            sandbox_host.rebuild_result(bad, [])
    with pytest.raises(TypeError):
        sandbox_host.rebuild_result([], [3])


def test_metadata_that_cannot_cross_is_left_behind(host: SandboxHost) -> None:
    ctx = DeviceContext(received_at_ns=CTX.received_at_ns, metadata={"odd": object()})
    assert SandboxedCodec(BATTERY, host)(bytes([0x0C, 0xE4, 61]), 2, ctx).as_dict() == BATTERY_OUT
    assert sandbox_host.marshalable({}) is None
    assert sandbox_host.marshalable({"a": {"b": [1, 2.5, "x"]}}) == {"a": {"b": [1, 2.5, "x"]}}


# ---------------------------------------------------------------- hostile codecs


def test_string_push_memory_bomb_does_not_crash_the_process() -> None:
    """The memory limit stops the bomb, or QuickJS segfaults (1.19.4 does after some of these,
    depending on the machine): either way a CodecError, and only the host process dies."""
    with SandboxHost() as host:
        host.start()
        for n in range(10):
            t0 = time.perf_counter()
            with pytest.raises(CodecError):  # the memory limit, or "crashed the sandbox"
                SandboxedCodec(f"{STRING_BOMB} // {n}", host)(b"\x00", 1, CTX)
            elapsed = time.perf_counter() - t0
            assert elapsed < host.timeout + TIME_LIMIT_S + MARGIN, (n, elapsed)
        if host.restarts:
            assert "crashed the sandbox (signal 11)" in host.last_stop
        _well_behaved(host)


def crash_mid_call(host: SandboxHost, call: Callable[[], object]) -> tuple[bool, BaseException | None]:
    """Run ``call`` (a codec busy for its whole time limit) and SIGSEGV the host while it runs.

    Tried a few times, since the signal must land after the request reached the host;
    returns whether it did, and what the call raised then.
    """
    for delay in (0.02, 0.03, 0.04, 0.05, 0.06):
        outcome: list[BaseException | None] = []

        def run(outcome: list[BaseException | None] = outcome) -> None:
            try:
                call()
                outcome.append(None)
            except BaseException as exc:
                outcome.append(exc)

        restarts, pid = host.restarts, host.pid
        assert pid is not None
        worker = threading.Thread(target=run)
        worker.start()
        time.sleep(delay)
        os.kill(pid, signal.SIGSEGV)
        worker.join(10)
        if host.restarts > restarts:
            return True, outcome[0]
        host.start()  # the signal hit an idle host: the next call would replace it
    return False, None


def test_a_host_that_segfaults_mid_call_is_a_codec_error_and_restarted() -> None:
    """A real SIGSEGV of the host while it runs a codec (what a QuickJS crash looks like)."""
    with SandboxHost() as host:
        host.start()
        pid = host.pid
        hit, raised = crash_mid_call(host, lambda: SandboxedCodec(LOOP, host, "loop")(b"\x00", 1, CTX))
        assert hit and isinstance(raised, CodecError) and "crashed the sandbox" in str(raised)
        assert "signal 11" in host.last_stop
        _well_behaved(host)
        assert host.pid != pid


def test_infinite_loop_is_stopped(host: SandboxHost) -> None:
    codec = SandboxedCodec(LOOP, host, "loop")
    good = SandboxedCodec(BATTERY, host)
    for _ in range(2):
        t0 = time.perf_counter()
        with pytest.raises(CodecLimitError, match="time limit"):
            codec(b"\x00", 1, CTX)
        assert time.perf_counter() - t0 < host.timeout + MARGIN
        assert good(bytes([0x0C, 0xE4, 61]), 2, CTX).as_dict() == BATTERY_OUT
    _well_behaved(host)


def test_backtracking_regex_is_stopped_by_the_watchdog(host: SandboxHost) -> None:
    good = SandboxedCodec(BATTERY, host)
    hang = SandboxedCodec(REGEX, host, "regex")
    before, pid = host.restarts, host.pid
    t0 = time.perf_counter()
    with pytest.raises(SandboxStoppedError, match="codec regex exceeded its time limit") as info:
        hang(b"\x00", 1, CTX)
    elapsed = time.perf_counter() - t0
    assert info.value.kind == "time"
    assert host.timeout <= elapsed < host.timeout + MARGIN, elapsed
    assert host.restarts == before + 1 and host.pid != pid
    assert os.getpid()  # we are still here
    # the other codecs keep working: the new host is sent their sources on their next call
    assert good(bytes([0x0C, 0xE4, 61]), 2, CTX).as_dict() == BATTERY_OUT
    _well_behaved(host)


def test_hang_in_top_level_code_is_stopped_at_compile(host: SandboxHost) -> None:
    t0 = time.perf_counter()
    with pytest.raises(SandboxStoppedError, match="time limit"):
        SandboxedCodec("/(a+)+b/.test('a'.repeat(40) + 'c'); function decodeUplink(i){}", host)
    assert time.perf_counter() - t0 < host.timeout + TIME_LIMIT_S + MARGIN
    _well_behaved(host)


def test_prototype_pollution_stays_in_its_codec(host: SandboxHost) -> None:
    bad = SandboxedCodec(POLLUTER, host)
    good = SandboxedCodec(CLEAN, host)
    res = bad(b"\x15", 1, CTX)
    assert res.as_dict() == {"temperature": 21.0, "v.clean:str": "function"}
    assert good(b"\x07", 1, CTX).as_dict() == {"counter": 1.0, "status": "undefined,[1]"}
    _well_behaved(host)


# ---------------------------------------------------------------- the host process


def test_host_killed_while_idle_is_restarted_without_blame() -> None:
    with SandboxHost() as host:
        codec = SandboxedCodec(BATTERY, host)
        pid = host.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        assert codec(bytes([0x0C, 0xE4, 61]), 2, CTX).as_dict() == BATTERY_OUT
        assert host.pid != pid and host.restarts == 0


def test_host_exits_when_its_parent_goes_away() -> None:
    host = SandboxHost()
    host.start()
    proc = host._proc
    assert proc is not None and host._conn is not None
    host._conn.close()  # as when this process dies: the host sees EOF
    assert proc.wait(5) == 0
    host._proc = None
    host.close()
    with pytest.raises(CodecError, match="closed"):
        SandboxedCodec(BATTERY, host)


def test_evicted_codecs_are_sent_again() -> None:
    with SandboxHost(cache_size=1) as host:
        a, b = SandboxedCodec(BATTERY, host), SandboxedCodec(LEGACY, host)
        for _ in range(3):
            assert a(bytes([0x0C, 0xE4, 61]), 2, CTX).as_dict() == BATTERY_OUT
            assert b(b"\x0c\xe4", 1, CTX).as_dict()["counter"] == 1.0
        assert host.restarts == 0


def test_many_threads_one_host(host: SandboxHost) -> None:
    codecs = [SandboxedCodec(BATTERY, host), SandboxedCodec(LEGACY, host)]
    errors: list[BaseException] = []
    count = [0]

    def work(n: int) -> None:
        try:
            for i in range(40):
                if (n + i) % 2:
                    assert codecs[0](bytes([0x0C, 0xE4, 61]), 2, CTX).as_dict() == BATTERY_OUT
                else:
                    assert codecs[1](b"\x0c\xe4", n, CTX).as_dict()["counter"] == float(n)
                count[0] += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(1, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and count[0] == 240


def test_resolver_uses_the_sandbox(sqlite_registry: Registry) -> None:
    good = sqlite_registry.create_codec(None, "good", BATTERY, [])
    bad = sqlite_registry.create_codec(None, "bad", REGEX, [])
    with SandboxHost() as host:
        resolve = make_resolver(sqlite_registry, host=host)
        decoder = resolve(f"js:{good.id}")
        assert isinstance(decoder, SandboxedCodec)
        with pytest.raises(DecodeError, match=f"js:{bad.id} exceeded its time limit"):
            resolve(f"js:{bad.id}")(b"\x00", 1, CTX)
        assert decoder(bytes([0x0C, 0xE4, 61]), 2, CTX).as_dict() == BATTERY_OUT


def test_shared_host_is_one_per_process() -> None:
    assert sb.shared_host() is sb.shared_host()


# ---------------------------------------------------------------- through the API


@pytest.fixture
def client(sqlite_registry: Registry, sqlite_store: SqliteStore) -> Iterator[TestClient]:
    services = Services(api_settings(), sqlite_registry, sqlite_store)
    with TestClient(create_app(services), raise_server_exceptions=True) as c:
        yield c


def test_api_codec_that_crashes_the_sandbox_is_a_422(client: TestClient) -> None:
    maker = signup(client)
    example = [{"fPort": 1, "bytes": "00", "expected": {"battery_voltage": 3.3}}]
    for source, what in (
        (STRING_BOMB, "was stopped"),
        (REGEX, "was stopped"),
        ("/(a+)+b/.test('a'.repeat(40) + 'c');", "was stopped"),
        (LOOP, "was stopped"),
    ):
        t0 = time.perf_counter()
        r = client.post(
            "/v1/codecs", json={"name": "evil", "source": source, "examples": example}, headers=maker.headers
        )
        assert r.status_code == 422, r.text
        assert what in r.json()["detail"]
        assert time.perf_counter() - t0 < 2.0
        assert client.get("/v1/codecs", headers=maker.headers).status_code == 200
    # the bomb: a 422 whether the memory limit stops it or it crashes the shared host
    for n in range(5):
        r = client.post(
            "/v1/codecs",
            json={"name": "evil", "source": f"{STRING_BOMB} // {n}", "examples": example},
            headers=maker.headers,
        )
        assert r.status_code == 422, r.text
    # a host that dies under a request (a real SIGSEGV) is a 422 too, and comes back
    shared = sb.shared_host()
    shared.start()
    answers: list[int] = []
    hit, raised = crash_mid_call(
        shared,
        lambda: answers.append(
            client.post(
                "/v1/codecs",
                json={"name": "evil", "source": LOOP, "examples": example},
                headers=maker.headers,
            ).status_code
        ),
    )
    assert hit and raised is None and answers[-1] == 422
    good_body = {
        "name": "good",
        "source": BATTERY,
        "examples": [{"fPort": 2, "bytes": "0CE43D", "expected": BATTERY_OUT}],
    }
    r = client.post("/v1/codecs", json=good_body, headers=maker.headers)
    assert r.status_code == 201, r.text


def test_api_test_route_stops_a_hanging_codec(client: TestClient) -> None:
    maker = signup(client)
    source = (
        "function decodeUplink(i){ if (i.fPort === 9) { /(a+)+b/.test('a'.repeat(40) + 'c'); }"
        " return {data: {battery_voltage_V: 3.3}}; }"
    )
    example = [{"fPort": 1, "bytes": "00", "expected": {"battery_voltage": 3.3}}]
    r = client.post(
        "/v1/codecs", json={"name": "trap", "source": source, "examples": example}, headers=maker.headers
    )
    assert r.status_code == 201, r.text
    url = f"/v1/codecs/{r.json()['id']}/test"
    r = client.post(url, json={"fPort": 9, "bytes_hex": "00"}, headers=maker.headers)
    assert r.status_code == 422 and "was stopped" in r.json()["detail"], r.text
    r = client.post(url, json={"fPort": 1, "bytes_hex": "00"}, headers=maker.headers)
    assert r.status_code == 200 and r.json()["ok"] is True
