"""The ``lorakeet`` command line."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from lorakeet import __version__
from lorakeet.cli_dead_letters import dead_letters_app
from lorakeet.cli_jobs import redecode as _redecode
from lorakeet.cli_keys import keys_app
from lorakeet.config_check import config_app
from lorakeet.settings import Settings

if TYPE_CHECKING:
    from lorakeet.gateway_bridge.simulator import SimDevice
    from lorakeet.storage.registry import Registry

app = typer.Typer(
    help="Lorakeet: community LoRaWAN sensor backend.", no_args_is_help=True, add_completion=False
)
app.add_typer(config_app, name="config")
app.add_typer(keys_app, name="keys")
app.add_typer(dead_letters_app, name="dead-letters")
app.command(name="redecode")(_redecode)
from lorakeet.cli_backfill import backfill as _backfill  # noqa: E402
from lorakeet.cli_codecs import codecs_app as _codecs_app  # noqa: E402
from lorakeet.cli_models import models_app as _models_app  # noqa: E402

app.add_typer(_codecs_app, name="codecs")
app.add_typer(_models_app, name="models")

app.command(name="backfill")(_backfill)
console = Console(stderr=True)


def _logging(settings: Settings) -> None:
    from lorakeet.observability import configure_logging

    configure_logging(settings.log_level, settings.log_json)


def _wait_for_signal() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command()
def bridge(
    metrics_port: Annotated[int | None, typer.Option(help="serve Prometheus /metrics on this port")] = None,
) -> None:
    """Subscribe to uplinks (TTN or ChirpStack MQTT) and store them. Configured by LORAKEET_* env."""
    from lorakeet.gateway_bridge.bridge import Bridge

    settings = Settings()
    _logging(settings)
    b = Bridge(settings)
    if metrics_port:
        from prometheus_client import REGISTRY, start_http_server

        from lorakeet.observability import PipelineCollector

        REGISTRY.register(
            PipelineCollector(lambda: b.pipeline.stats, settings.mqtt.network, b.pipeline.health)
        )
        start_http_server(metrics_port, addr="127.0.0.1")
    b.start()
    console.print(f"bridge running: {settings.mqtt.url} -> {settings.store.kind}; Ctrl-C to stop")
    _wait_for_signal()
    b.stop()


@app.command()
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
    _logging(settings)
    uvicorn.run(
        "lorakeet.api.serve:app_from_env",
        factory=True,
        host=host or settings.api.host,
        port=port or settings.api.port,
        workers=workers,
        log_level=settings.log_level.lower(),
    )


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option(help="where the SQLite files go")] = Path("data/demo"),
    port: Annotated[int, typer.Option(help="API port")] = 8080,
    interval: Annotated[float, typer.Option(help="seconds between a device's uplinks")] = 10.0,
    bins: Annotated[int, typer.Option()] = 50,
    boats: Annotated[int, typer.Option()] = 10,
    lights: Annotated[int, typer.Option()] = 30,
    seconds: Annotated[float, typer.Option(help="stop after this long (0: run until Ctrl-C)")] = 0,
    broker: Annotated[str, typer.Option(help="auto, mosquitto or amqtt")] = "auto",
    history_days: Annotated[float, typer.Option(help="days of past uplinks to fill in first")] = 14.0,
) -> None:
    """Everything on one machine: local broker, bridge, API, SQLite store and a simulated fleet."""
    import uvicorn

    from lorakeet.api.app import create_app
    from lorakeet.api.deps import Services
    from lorakeet.gateway_bridge.bridge import Bridge
    from lorakeet.gateway_bridge.broker import LocalBroker
    from lorakeet.gateway_bridge.demo_fleet import register_fleet
    from lorakeet.gateway_bridge.simulator import Simulator, fill_history, make_fleet
    from lorakeet.settings import MqttSettings, StoreSettings

    if broker not in ("auto", "mosquitto", "amqtt"):
        raise typer.BadParameter("broker must be auto, mosquitto or amqtt")
    data_dir.mkdir(parents=True, exist_ok=True)
    local = LocalBroker(kind=broker, data_dir=data_dir / "broker", persistence=False)  # type: ignore[arg-type]
    local.start()
    settings = Settings(
        mqtt=MqttSettings(url=local.url, application="+", qos=1, client_id="lorakeet-demo-bridge"),
        store=StoreSettings(kind="sqlite", sqlite_path=data_dir / "readings.db", sqlite_synchronous="NORMAL"),
        registry_url=f"sqlite:///{data_dir / 'registry.db'}",
    )
    _logging(settings)
    b = Bridge(settings)
    app_id = "lorakeet-demo"
    fleet = make_fleet(bins, boats, lights, interval_s=interval)
    register_fleet(b.registry, app_id, fleet)
    demo_key = _demo_extras(b.registry, app_id, fleet)
    b.start()
    b.mqtt.wait_connected(10)
    with console.status(f"filling in {history_days:g} days of history"):
        n = fill_history(b.pipeline.submit, fleet, app_id, time.time_ns(), history_days)
        b.pipeline.wait_idle(300)
    console.print(f"{n} past uplinks stored; now live (real time, no compression)")
    sim = Simulator("127.0.0.1", local.port, app_id, fleet)
    sim.start()
    services = Services(settings, b.registry, b.store)
    server = uvicorn.Server(
        uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.05)
    console.print(
        f"[bold green]Lorakeet demo running[/]: {len(fleet)} simulated devices "
        f"via {local.kind} on {local.url}\n"
        f"A private street light is visible with the demo crew's key: {demo_key}\n"
        f"Open [bold]http://127.0.0.1:{port}/[/]  (API docs: http://127.0.0.1:{port}/docs). Ctrl-C to stop."
    )
    if seconds > 0:
        time.sleep(seconds)
    else:
        _wait_for_signal()
    sim.stop()
    server.should_exit = True
    thread.join(10)
    b.stop()
    local.close()


def _demo_extras(registry: Registry, app_id: str, fleet: list[SimDevice]) -> str:
    """What makes the demo show every feature: a crew account owning a private light, a bin
    with its own collection threshold, a boat with a geofence it sometimes leaves. Returns
    a fresh API key of the crew account."""
    from lorakeet.api.auth import hash_key, new_key
    from lorakeet.gateway_bridge.simulator import HARBOUR
    from lorakeet.storage.records import DeviceKey
    from lorakeet.storage.registry import ConflictError, DeviceChanges

    try:
        account = registry.create_account("Demo crew", "crew@lorakeet.invalid", ttn_application_ids=[app_id])
    except ConflictError:
        account = next(a for a in registry.list_accounts(limit=10_000) if a.email == "crew@lorakeet.invalid")
    key = new_key()
    registry.create_key(account.id, name="demo", key_hash=hash_key(key), prefix=key, scopes=["read", "write"])
    lat, lon = HARBOUR
    half = 0.004
    for d in fleet:
        k = DeviceKey(app_id, d.device_id)
        if d.device_id == fleet[-1].device_id:
            registry.update_device(k, DeviceChanges(visibility="private", owner_id=account.id))
        elif d.device_id == "bin-001":
            registry.update_device(k, DeviceChanges(metadata={**d.metadata, "thresholds": {"fill_pct": 70}}))
        elif d.device_id == "boat-01":
            ring = [
                [lon - half, lat - half],
                [lon + half, lat - half],
                [lon + half, lat + half],
                [lon - half, lat + half],
            ]
            geofence = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
            registry.update_device(k, DeviceChanges(metadata={"geofence": geofence}))
    return key


from lorakeet.cli_data import devices_app as _devices_app  # noqa: E402
from lorakeet.cli_data import export as _export  # noqa: E402
from lorakeet.cli_data import simulate as _simulate  # noqa: E402

app.command(name="simulate")(_simulate)
app.command(name="export")(_export)
app.add_typer(_devices_app, name="devices")


def main() -> None:
    """Console-script entry point."""
    app()
