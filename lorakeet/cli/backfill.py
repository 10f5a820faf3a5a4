"""``lorakeet backfill``: fetch a gap from the TTS Storage Integration by hand."""

from __future__ import annotations

import logging
import re
import time
from typing import Annotated

import typer

from lorakeet.settings import Settings

from .common import LazyConsole

console = LazyConsole(stderr=True)

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])\Z")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_since(text: str, now_ns: int) -> int:
    """``2h`` / ``30m`` / ``1d`` ago, or an RFC 3339 time; ns since the epoch. Raises ValueError."""
    from lorakeet.timefmt import parse_rfc3339_ns

    m = _DURATION.match(text.strip().lstrip("-"))
    if m:
        return now_ns - int(float(m.group(1)) * _UNIT_S[m.group(2)] * 1e9)
    return parse_rfc3339_ns(text)


def backfill(
    since: Annotated[
        str | None,
        typer.Option(help="how far back: 2h, 30m, 1d or RFC 3339; default: newest stored uplink - overlap"),
    ] = None,
    application: Annotated[str | None, typer.Option(help="TTS application id")] = None,
) -> None:
    """Fetch uplinks from the TTS Storage Integration and store them (deduplicated).

    Configured by LORAKEET_BACKFILL__BASE_URL, __APPLICATION and __API_KEY, and the store
    settings the bridge uses.
    """
    from lorakeet.gateway_bridge.backfill import (
        Backfill,
        BackfillError,
        StorageIntegration,
        application_id,
    )
    from lorakeet.gateway_bridge.compose import build_pipeline
    from lorakeet.storage.history import newest_uplink_ns

    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    cfg = settings.backfill
    app = application or cfg.application or application_id(settings.mqtt.application)
    if app is None:
        raise typer.BadParameter("no application: pass --application or set LORAKEET_BACKFILL__APPLICATION")
    if cfg.api_key is None:
        raise typer.BadParameter("set LORAKEET_BACKFILL__API_KEY (an API key with traffic read rights)")
    pipeline, close = build_pipeline(settings)
    now = time.time_ns()
    try:
        if since is not None:
            try:
                since_ns = parse_since(since, now)
            except ValueError as exc:
                raise typer.BadParameter(str(exc)) from None
        else:
            newest = newest_uplink_ns(pipeline.writer, app, now)
            since_ns = (
                newest - int(cfg.overlap_s * 1e9)
                if newest is not None
                else now - int(cfg.default_window_s * 1e9)
            )
        client = StorageIntegration(
            cfg.base_url, app, cfg.api_key.get_secret_value(), page_size=cfg.page_size, timeout=cfg.timeout_s
        )
        pipeline.start()
        try:
            result = Backfill(client, pipeline.submit, retention_s=cfg.retention_s).run(since_ns, None)
        except BackfillError as exc:
            console.print(f"[bold red]backfill failed[/]: {exc}")
            raise typer.Exit(1) from None
        finally:
            client.close()
            pipeline.wait_idle(300)
            pipeline.stop()
    finally:
        close()
    s = pipeline.stats
    console.print(
        f"backfill {app}: {result.lines} lines, {result.submitted} submitted, {result.malformed} malformed, "
        f"{s.stored} stored, {s.dedup_hits} already seen, {s.spooled} spooled"
    )
