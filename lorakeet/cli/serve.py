"""lorakeet version, bridge and api: the long-running services."""

from __future__ import annotations

from typing import Annotated

import typer

from lorakeet import __version__
from lorakeet.settings import Settings

from .common import setup_logging, wait_for_signal


def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def bridge(
    metrics_port: Annotated[
        int | None, typer.Option(help="serve Prometheus /metrics, /readyz and /healthz on this port")
    ] = None,
) -> None:
    """Subscribe to uplinks (TTN or ChirpStack MQTT) and store them. Configured by LORAKEET_* env."""
    from lorakeet.gateway_bridge.bridge import Bridge

    settings = Settings()
    setup_logging(settings)
    b = Bridge(settings)
    if metrics_port:
        from prometheus_client import REGISTRY

        from lorakeet.observability import DeadLetterCollector, PipelineCollector, serve_probes
        from lorakeet.storage.dead_letters import DeadLetters

        REGISTRY.register(
            PipelineCollector(lambda: b.pipeline.stats, settings.mqtt.network, b.pipeline.health)
        )
        REGISTRY.register(DeadLetterCollector(DeadLetters(b.registry).count))
        serve_probes(metrics_port, REGISTRY, b.pipeline.health)
    b.start()
    # plain text: rich is not loaded for one line (and would read "[::1]" in a URL as markup)
    typer.echo(f"bridge running: {settings.mqtt.url} -> {settings.store.kind}; Ctrl-C to stop", err=True)
    wait_for_signal()
    b.stop()


def api(
    host: Annotated[str | None, typer.Option(help="listen address")] = None,
    port: Annotated[int | None, typer.Option(help="listen port")] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="server processes (each with its own pipeline)")
    ] = 1,
) -> None:
    """Serve the HTTP API and the web page; TTN webhooks are ingested through the same pipeline as MQTT."""
    import uvicorn

    settings = Settings()
    setup_logging(settings)
    uvicorn.run(
        "lorakeet.api.serve:app_from_env",
        factory=True,
        host=host or settings.api.host,
        port=port or settings.api.port,
        workers=workers,
        log_level=settings.log_level.lower(),
    )
