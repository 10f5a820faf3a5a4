"""The FastAPI application."""

from __future__ import annotations

import html

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from lorakeet import __version__
from lorakeet.storage.records import DeviceKey

from .deps import Services, ServicesDep
from .routes import devices, readings


def create_app(services: Services) -> FastAPI:
    """Build the API around already-constructed services."""
    app = FastAPI(
        title="Lorakeet",
        version=__version__,
        description="Community LoRaWAN sensor data: devices, readings, open data.",
    )
    app.state.services = services
    app.include_router(devices.router)
    app.include_router(readings.router)

    @app.get("/healthz", tags=["health"], summary="Liveness")
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(services: ServicesDep) -> str:
        """A plain overview of devices and their latest values."""
        rows = []
        for d in services.registry.list_devices(limit=1000):
            key = DeviceKey(d.application_id, d.device_id)
            latest = services.store.latest(key)
            values = ", ".join(
                f"{v.key}={v.value:.4g}" if isinstance(v.value, float) else f"{v.key}={v.value}"
                for v in latest
            )
            rows.append(
                f"<tr><td><a href='/v1/devices/{html.escape(key.uid)}/latest'>{html.escape(key.uid)}</a></td>"
                f"<td>{html.escape(d.kind)}</td><td>{html.escape(values)}</td></tr>"
            )
        return (
            "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
            "<title>Lorakeet</title><h1>Lorakeet</h1><p><a href='/docs'>API documentation</a></p>"
            f"<table><tr><th>device</th><th>kind</th><th>latest</th></tr>{''.join(rows)}</table>"
        )

    return app
