"""``lorakeet redecode``: re-decode a device's stored uplinks from the command line."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from lorakeet.settings import Settings

from .common import LazyConsole

console = LazyConsole(stderr=True)


def redecode(
    device: Annotated[str, typer.Argument(help="application_id.device_id")],
    start: Annotated[str, typer.Option(help="RFC 3339 or relative (-7d)")] = "-7d",
    end: Annotated[str, typer.Option(help="RFC 3339 or relative")] = "now",
) -> None:
    """Decode a device's stored uplinks again with its current decoder and store the result."""
    from lorakeet.api.jobs import Job, redecoder
    from lorakeet.api.jobs import redecode as run
    from lorakeet.storage.factory import open_store
    from lorakeet.storage.records import DeviceKey
    from lorakeet.storage.registry import Registry
    from lorakeet.timeparse import parse_range

    try:
        key = DeviceKey.from_uid(device)
        start_ns, end_ns = parse_range(start, end, time.time_ns(), ("--start", "--end"))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    settings = Settings()
    registry = Registry(settings.registry_url)
    store = open_store(settings.store)
    try:
        info = registry.get_device(key)
        if info is None:
            console.print(f"[red]no device {key.uid!r} in the registry[/]")
            raise typer.Exit(1)
        job = Job("cli", "redecode", key, None)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn(f"re-decoding {key.uid} with {info.decoder or 'no decoder'}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console.real,
        ) as bar:
            task = bar.add_task("redecode", total=None)
            run(
                store,
                redecoder(registry),
                key,
                start_ns,
                end_ns,
                job,
                lambda done, total: bar.update(task, completed=done, total=total),
            )
    finally:
        store.close()
        registry.close()
    for e in job.errors:
        console.print(f"[yellow]{e}[/]")
    console.print(
        f"{job.state}: {job.done}/{job.total} uplinks re-decoded, {job.decode_errors} with decode errors"
    )
    if job.state != "done":
        raise typer.Exit(1)
