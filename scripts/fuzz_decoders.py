#!/usr/bin/env python3
"""Fuzz every registered decoder: only DecodeError subclasses may escape.

Inputs per case: random bytes (0-64), a random f_port (0-255), or a truncation / bit
flip / byte insertion / splice of a seed (every ``bytes_hex`` in tests/decoders/vectors and
the firmware golden vectors). The long run is ``--cases 1000000`` per decoder (not part of
the test suite); a short run prints the throughput. Exit status 1 on any escaped exception.

    .venv/bin/python scripts/fuzz_decoders.py --cases 1000000 [--only dragino] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import traceback
from pathlib import Path

from lorakeet.decoders import DecodeError, DeviceContext
from lorakeet.decoders.registry import DECODERS

ROOT = Path(__file__).resolve().parent.parent


def seeds() -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    for f in sorted((ROOT / "tests/decoders/vectors").glob("*.json")):
        doc = json.loads(f.read_text())
        for ex in doc.get("examples", []) if isinstance(doc, dict) else []:
            try:
                out.append((int(ex.get("fPort", 1)), bytes.fromhex(ex["bytes_hex"])))
            except (KeyError, ValueError, TypeError):
                continue
    golden = ROOT / "lorakeet/firmware_payloads/golden_vectors.json"
    if golden.exists():
        out.extend(_walk(json.loads(golden.read_text())))
    return out or [(1, b"\x00")]


def _walk(doc: object) -> list[tuple[int, bytes]]:
    found: list[tuple[int, bytes]] = []
    if isinstance(doc, dict):
        hexes = [v for k, v in doc.items() if isinstance(v, str) and "hex" in k.lower()]
        port = doc.get("f_port", doc.get("fPort", 1))
        for h in hexes:
            try:
                found.append((int(port) if isinstance(port, int) else 1, bytes.fromhex(h)))
            except ValueError:
                pass
        for v in doc.values():
            found.extend(_walk(v))
    elif isinstance(doc, list):
        for v in doc:
            found.extend(_walk(v))
    return found


def mutate(rng: random.Random, pool: list[tuple[int, bytes]]) -> tuple[int, bytes]:
    r = rng.random()
    if r < 0.3:
        return rng.randrange(256), rng.randbytes(rng.randrange(65))
    port, data = rng.choice(pool)
    if rng.random() < 0.2:
        port = rng.randrange(256)
    b = bytearray(data)
    op = rng.randrange(5)
    if op == 0 and b:
        del b[rng.randrange(len(b)) :]  # truncation
    elif op == 1 and b:
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif op == 2:
        i = rng.randrange(len(b) + 1)
        b[i:i] = rng.randbytes(rng.randrange(1, 6))
    elif op == 3 and b:
        i = rng.randrange(len(b))
        b[i] = rng.choice((0x00, 0xFF, 0x7F, 0x80))
    else:
        _, other = rng.choice(pool)
        b = b[: rng.randrange(len(b) + 1)] + bytearray(other[rng.randrange(len(other) + 1) :])
    return port, bytes(b)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=1_000_000, help="cases per decoder")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", default="", help="decoders whose name contains this")
    args = ap.parse_args()
    pool = seeds()
    ctx = DeviceContext(1_767_225_600_000_000_000, {"bin_depth_m": 1.2, "sensor_offset_m": 0.1})
    failures = 0
    total_cases, total_s = 0, 0.0
    for name, info in DECODERS.items():
        if args.only not in name:
            continue
        rng = random.Random(f"{args.seed}:{name}")
        decode = info.decode
        t0 = time.perf_counter()
        errors = 0
        for _ in range(args.cases):
            port, data = mutate(rng, pool)
            try:
                decode(data, port, ctx)
            except DecodeError:
                errors += 1
            except Exception:
                failures += 1
                if failures <= 20:
                    print(f"ESCAPED {name} f_port={port} bytes={data.hex()}", file=sys.stderr)
                    traceback.print_exc()
        dt = time.perf_counter() - t0
        total_cases += args.cases
        total_s += dt
        print(
            f"{name:24s} {args.cases:>9d} cases {dt:7.2f}s {args.cases / dt:>10.0f}/s  DecodeError {errors}"
        )
    print(
        f"total {total_cases} cases in {total_s:.1f}s: {total_cases / max(total_s, 1e-9):.0f} cases/s, "
        f"{failures} escaped exceptions ({len(pool)} seeds)"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
