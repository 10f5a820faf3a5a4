"""The bridge's per-uplink Python path alone: parse, dedup, decode (Cayenne LPP from the
registration) and line protocol, in this process, with no broker, store or network.

    .venv/bin/python bench/ingest_path.py [--n 20000]

prints µs per uplink (noisy on a shared host). For a figure that does not depend on the
host's load, count instructions with callgrind and take the difference of two sizes:

    for n in 2000 6000; do PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python bench/ingest_path.py --n $n 2>&1 | grep Collected; done

(instructions per uplink = (second - first) / 4000). Messages are bench/ingest.py's.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import fleet, make_messages  # noqa: E402
from lorakeet.gateway_bridge.decoding import Decoding  # noqa: E402
from lorakeet.gateway_bridge.devices import DeviceDirectory  # noqa: E402
from lorakeet.gateway_bridge.pipeline import Inbound, Pipeline  # noqa: E402
from lorakeet.storage.line_protocol import UnitLines, uplink_lines  # noqa: E402
from lorakeet.storage.records import DeviceKey, RejectedMessage, StoredUplink  # noqa: E402
from lorakeet.storage.registry import DeviceInfo  # noqa: E402


class Registered:
    """The benchmark fleet, registered with the Cayenne LPP decoder."""

    def __init__(self, devices: int) -> None:
        self.infos = {
            DeviceKey(a, d): DeviceInfo(DeviceKey(a, d), decoder="cayenne_lpp") for a, d, _ in fleet(devices)
        }

    def ensure_device(
        self, key: DeviceKey, dev_eui: str | None = None, model: object = None, decoded: bool = False
    ) -> DeviceInfo:
        return self.infos[key]


class LinesOnly:
    """Builds each batch's request body as InfluxStore does, and sends it nowhere."""

    def __init__(self) -> None:
        self.units = UnitLines()
        self.bytes = 0

    def write(self, batch: Sequence[StoredUplink]) -> None:
        lines: list[str] = []
        for s in batch:
            lines.extend(uplink_lines(s))
            self.units.add(s, lines)
        self.bytes += len("\n".join(lines).encode())

    def write_rejected(self, batch: Sequence[RejectedMessage]) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=5000)
    args = ap.parse_args()
    inbound = [Inbound(body, "ttn", topic=topic) for topic, body in make_messages(args.n, 1000)]
    writer = LinesOnly()
    pipeline = Pipeline(writer, Decoding(DeviceDirectory(Registered(1000))), batch_size=args.batch)  # type: ignore[arg-type]
    gc.collect()
    t0 = time.perf_counter()
    for i in range(0, args.n, args.batch):
        admitted = pipeline._prepare(inbound[i : i + args.batch])
        writer.write(admitted.stored)
    elapsed = time.perf_counter() - t0
    print(
        f"{elapsed / args.n * 1e6:.1f} µs per uplink for {args.n:,} uplinks "
        f"({writer.bytes / args.n:.0f} bytes of line protocol each)"
    )


if __name__ == "__main__":
    main()
