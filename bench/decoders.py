"""Decoder benchmark: native Python decoders vs. the same payloads through the JS sandbox.

Run: ``.venv/bin/python bench/decoders.py [--rounds 7] [--reps 2000]``

Table-driven: :data:`PAYLOADS` maps a decoder name to ``(f_port, hex)`` payloads. It holds
Cayenne LPP, CBOR and the Lorakeet reference devices, plus every TTN Device Repository
example in ``tests/decoders/vectors`` whose codec name matches a registered decoder
(``dragino__ldds75`` -> ``dragino_ldds75``, ``milesight-iot__ws202`` -> ``milesight_ws202``).
Only registered decoders are run, so decoders added later join automatically once
registered.

For each decoder the figure is the median over rounds of (round time / decoded payloads).
Decoders with a JS twin in :data:`JS_CODECS` are also run through
:class:`lorakeet.decoders.javascript.JsCodec` and the JS/native ratio is printed, and
through the codec sandbox (:class:`lorakeet.gateway_bridge.sandbox.SandboxedCodec`: the
same codec in a separate host process, IPC included) in the "sandbox µs" column.
Targets: Cayenne LPP native <= 5 µs, JS <= 150 µs, native >= 10x faster than JS.

The second table is the generic decoded-object path (the registered ``network`` decoder,
which reads a TTS ``decoded_payload`` / ChirpStack ``object``): every ``expected`` object of
the Device Repository vectors handed over as the network's decoded payload, the median cost
per uplink and the readings kept per uplink. The figure from before a change to that path
is kept in bench/RESULTS.md ("Generic decoded-object path"); compare it with this run's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lorakeet.decoders import DECODERS, DecodeError  # noqa: E402
from lorakeet.decoders.javascript import JsCodec  # noqa: E402
from lorakeet.decoders.types import DeviceContext  # noqa: E402

CTX = DeviceContext(received_at_ns=1_718_000_000_000_000_000, metadata={"bin_depth_m": 1.2})

PAYLOADS: dict[str, list[tuple[int, str]]] = {
    "cayenne_lpp": [
        (1, "03670110056700ff"),  # two temperatures
        (1, "016700e1026873"),  # temperature + humidity
        (1, "0188062765118d4c0003e8"),  # GPS
        (1, "037100d2fc2e0403"),  # accelerometer
        (1, "0167010a0268500373279a04650190"),  # temperature, humidity, barometer, illuminance
    ],
    "cbor": [
        (
            1,
            "a26b74656d7065726174757265fb40358000000000006762617474657279a167766f6c74616765a26176190cf06175626d56",
        ),
        (1, "a16864697374616e636582a3617439025761761903286175626d6da3617439012b61761903166175626d6d"),
    ],
}

# Our own JS twin of the native Cayenne LPP decoder (same type table, same output keys).
CAYENNE_JS = r"""
var LPP = {
  0: ["digital_input", 1, false, 1], 1: ["digital_output", 1, false, 1],
  2: ["analog_input", 2, true, 100], 3: ["analog_output", 2, true, 100],
  100: ["generic", 4, false, 1], 101: ["illuminance", 2, false, 1],
  102: ["presence", 1, false, 1], 103: ["temperature", 2, true, 10],
  104: ["humidity", 1, false, 2], 115: ["pressure", 2, false, 10],
  116: ["voltage", 2, false, 100], 117: ["current", 2, false, 1000],
  118: ["frequency", 4, false, 1], 120: ["percentage", 1, false, 1],
  121: ["altitude", 2, true, 1], 125: ["concentration", 2, false, 1],
  128: ["power", 2, false, 1], 130: ["distance", 4, false, 1000],
  131: ["energy", 4, false, 1000], 132: ["direction", 2, false, 1],
  133: ["unix_time", 4, false, 1], 142: ["switch", 1, false, 1]
};
function num(b, i, n, signed) {
  var v = 0;
  for (var k = 0; k < n; k++) { v = v * 256 + b[i + k]; }
  if (signed && v >= Math.pow(2, 8 * n - 1)) { v -= Math.pow(2, 8 * n); }
  return v;
}
function decodeUplink(input) {
  var b = input.bytes, data = {}, i = 0;
  while (i + 2 <= b.length) {
    var ch = b[i], type = b[i + 1], t = LPP[type];
    i += 2;
    if (type === 113 || type === 134) {
      var p = type === 113 ? "acceleration" : "gyro", s = type === 113 ? 1000 : 100;
      data[p + "_x_" + ch] = num(b, i, 2, true) / s;
      data[p + "_y_" + ch] = num(b, i + 2, 2, true) / s;
      data[p + "_z_" + ch] = num(b, i + 4, 2, true) / s;
      i += 6;
    } else if (type === 136) {
      data["latitude_" + ch] = num(b, i, 3, true) / 10000;
      data["longitude_" + ch] = num(b, i + 3, 3, true) / 10000;
      data["altitude_" + ch] = num(b, i + 6, 3, true) / 100;
      i += 9;
    } else if (type === 135) {
      data["colour_r_" + ch] = b[i]; data["colour_g_" + ch] = b[i + 1]; data["colour_b_" + ch] = b[i + 2];
      i += 3;
    } else if (t) {
      if (i + t[1] > b.length) { return { errors: ["truncated LPP item"] }; }
      var v = num(b, i, t[1], t[2]) / t[3];
      data[t[0] + "_" + ch] = type === 142 ? v !== 0 : v;
      i += t[1];
    } else {
      return { errors: ["unknown LPP type " + type] };
    }
  }
  return { data: data };
}
"""

LORAKEET_JS = (ROOT / "lorakeet" / "firmware_payloads" / "lorakeet_codec.js").read_text()
JS_CODECS: dict[str, str] = {
    "cayenne_lpp": CAYENNE_JS,
    "lorakeet_bin": LORAKEET_JS,
    "lorakeet_tracker": LORAKEET_JS,
    "lorakeet_light": LORAKEET_JS,
}


def _add_golden_vectors() -> None:
    golden = json.loads((ROOT / "lorakeet" / "firmware_payloads" / "golden_vectors.json").read_text())
    for name, kind in (
        ("lorakeet_bin", "bin"),
        ("lorakeet_tracker", "tracker"),
        ("lorakeet_light", "light_status"),
    ):
        PAYLOADS[name] = [(v["f_port"], v["hex"]) for v in golden[kind]]


def _add_repository_vectors() -> None:
    for path in sorted((ROOT / "tests" / "decoders" / "vectors").glob("*-codec*.json")):
        data = json.loads(path.read_text())
        codec = path.name.split("-codec")[0]
        name = codec.replace("__", "_").replace("-", "_")
        if name not in DECODERS:  # vendor ids with a suffix: "milesight-iot__ws202" -> milesight_ws202
            vendor, model = codec.split("__", 1)
            name = f"{vendor.split('-')[0]}_{model.replace('-', '_')}"
            if name not in DECODERS and vendor in DECODERS:  # one decoder per vendor: "elsys"
                name = vendor
        examples = [(e["fPort"], e["bytes_hex"]) for e in data["examples"] if e["expected"] is not None]
        if examples:
            PAYLOADS.setdefault(name, []).extend(examples)


def _decodable(decode: Callable[..., object], payloads: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    ok = []
    for port, payload in payloads:
        try:
            decode(payload, port, CTX)
        except DecodeError:
            continue
        ok.append((port, payload))
    return ok


def _measure(
    decode: Callable[..., object], payloads: list[tuple[int, bytes]], reps: int, rounds: int
) -> float:
    """Median over rounds of nanoseconds per decoded payload."""
    per_payload = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for _ in range(reps):
            for port, payload in payloads:
                decode(payload, port, CTX)
        per_payload.append((time.perf_counter_ns() - t0) / (reps * len(payloads)))
    return statistics.median(per_payload)


def _repository_objects() -> list[tuple[int, dict[str, object]]]:
    """Every ``expected`` object of the Device Repository vectors, with its f_port."""
    out = []
    for path in sorted((ROOT / "tests" / "decoders" / "vectors").glob("*-codec*.json")):
        for e in json.loads(path.read_text())["examples"]:
            if isinstance(e["expected"], dict):
                out.append((e["fPort"], e["expected"]))
    return out


def generic_path(reps: int, rounds: int) -> None:
    """Print the per-uplink cost of the generic decoded-object path over the vectors' objects."""
    decode = DECODERS["network"].decode
    contexts = [
        (port, DeviceContext(received_at_ns=CTX.received_at_ns, network_decoded=obj))
        for port, obj in _repository_objects()
    ]
    kept = failed = 0
    for port, ctx in contexts:
        try:
            kept += len(decode(b"", port, ctx).readings)
        except DecodeError:
            failed += 1
    per_uplink = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for _ in range(reps):
            for port, ctx in contexts:
                try:
                    decode(b"", port, ctx)
                except DecodeError:
                    pass
        per_uplink.append((time.perf_counter_ns() - t0) / (reps * len(contexts)))
    median_us = statistics.median(per_uplink) / 1000
    print(f"{'generic decoded-object path':<30} {'uplinks':>8} {'µs/uplink':>10} {'readings/uplink':>16}")
    cells = f"{len(contexts):>8} {median_us:>10.2f} {kept / len(contexts):>16.2f}"
    print(f"{'network (vectors expected)':<30} {cells}" + (f"  ({failed} raised)" if failed else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--reps", type=int, default=2000, help="repetitions per round (native)")
    parser.add_argument("--js-reps", type=int, default=200, help="repetitions per round (JS)")
    parser.add_argument("--generic-only", action="store_true", help="only the generic decoded-object path")
    args = parser.parse_args()
    if args.generic_only:
        generic_path(max(args.reps // 20, 1), args.rounds)
        return
    _add_golden_vectors()
    _add_repository_vectors()

    from lorakeet.gateway_bridge.sandbox import SandboxedCodec, SandboxHost

    host = SandboxHost()  # the sandboxed JS path: the same codecs in the codec host process
    print(
        f"{'decoder':<26} {'payloads':>8} {'native µs':>10} {'JS µs':>9} {'JS/native':>10} {'sandbox µs':>11}"
    )
    failures = []
    for name in sorted(PAYLOADS):
        info = DECODERS.get(name)
        if info is None:
            continue
        raw = [(port, bytes.fromhex(h)) for port, h in PAYLOADS[name]]
        payloads = _decodable(info.decode, raw)
        if not payloads:
            print(f"{name:<26} {0:>8} {'(no decodable payload)':>10}")
            continue
        native_ns = _measure(info.decode, payloads, args.reps, args.rounds)
        js_cell, ratio_cell, sandbox_cell = "", "", ""
        if name in JS_CODECS:
            codec = JsCodec(JS_CODECS[name], f"bench:{name}")
            js_payloads = _decodable(codec, payloads)
            js_ns = _measure(codec, js_payloads, args.js_reps, args.rounds)
            js_cell, ratio_cell = f"{js_ns / 1000:.1f}", f"{js_ns / native_ns:.1f}x"
            boxed = SandboxedCodec(JS_CODECS[name], host, f"bench:{name}")
            sandbox_cell = f"{_measure(boxed, js_payloads, args.js_reps, args.rounds) / 1000:.1f}"
            if js_ns > 150_000 or js_ns < 10 * native_ns:
                failures.append(f"{name}: JS {js_ns / 1000:.1f} µs, native {native_ns / 1000:.2f} µs")
        if name == "cayenne_lpp" and native_ns > 5_000:
            failures.append(f"cayenne_lpp native {native_ns / 1000:.2f} µs > 5 µs")
        cells = f"{js_cell:>9} {ratio_cell:>10} {sandbox_cell:>11}"
        print(f"{name:<26} {len(payloads):>8} {native_ns / 1000:>10.2f} {cells}")
    host.close()
    print()
    generic_path(max(args.reps // 20, 1), args.rounds)
    print()
    print("targets missed: " + "; ".join(failures) if failures else "all targets met")


if __name__ == "__main__":
    main()
