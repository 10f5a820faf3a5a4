"""lorakeet export: a device's readings from the configured store as CSV or NDJSON."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated

import orjson
import typer

from lorakeet.api.csvout import SafeWriter
from lorakeet.settings import Settings

from .common import console

EXPORT_PAGE = 5000
"""Points read per store request while exporting."""


@contextmanager
def _open_output(output: Path | None) -> Iterator[IO[str]]:
    if output is None or str(output) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    with output.open("w", newline="", encoding="utf-8") as f:
        yield f


def export(
    device: Annotated[str, typer.Argument(help="application_id.device_id")],
    start: Annotated[str, typer.Option(help="RFC 3339 or relative (-30d)")] = "-30d",
    end: Annotated[str, typer.Option(help="RFC 3339 or relative")] = "now",
    fmt: Annotated[
        str, typer.Option("--format", help="csv (time + one column per key) or ndjson (one point a line)")
    ] = "csv",
    output: Annotated[Path | None, typer.Option(help="file to write; standard output when absent")] = None,
    page_size: Annotated[int, typer.Option(hidden=True, min=1)] = EXPORT_PAGE,
) -> None:
    """Export a device's readings from the configured store as CSV or NDJSON."""
    from lorakeet.storage.factory import open_store
    from lorakeet.storage.records import DeviceKey
    from lorakeet.timefmt import format_rfc3339_ns
    from lorakeet.timeparse import parse_range

    if fmt not in ("csv", "ndjson"):
        raise typer.BadParameter("--format must be csv or ndjson")
    try:
        key = DeviceKey.from_uid(device)
        start_ns, end_ns = parse_range(start, end, time.time_ns(), ("--start", "--end"))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    store = open_store(Settings().store)
    written = 0
    try:
        columns = sorted(store.keys(key))
        with (
            _open_output(output) as out,
            Progress(
                TextColumn(f"exporting {key.uid}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[points]} points"),
                TimeElapsedColumn(),
                console=console.real,
            ) as bar,
        ):
            task = bar.add_task("export", total=end_ns - start_ns, points=0)
            writer = SafeWriter(out) if fmt == "csv" else None  # formula-like text escaped
            if writer is not None:
                writer.writerow(["time", *columns])
            cursor = start_ns
            while cursor < end_ns:
                page = store.points(key, None, cursor, end_ns, page_size)
                for p in page:
                    ts = format_rfc3339_ns(p.time_ns)
                    if writer is not None:
                        writer.writerow([ts, *(p.values.get(c) for c in columns)])
                    else:
                        doc = {"device": key.uid, "time": ts, "time_ns": p.time_ns, "values": p.values}
                        out.write(orjson.dumps(doc).decode() + "\n")
                written += len(page)
                if len(page) < page_size:
                    break
                cursor = page[-1].time_ns + 1
                bar.update(task, completed=cursor - start_ns, points=written)
            bar.update(task, completed=end_ns - start_ns, points=written)
    finally:
        store.close()
    where = f" to {output}" if output is not None and str(output) != "-" else ""
    console.print(f"exported {written} points of {key.uid}{where}")
