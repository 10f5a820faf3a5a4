"""lorakeet demo: everything on one machine with a simulated fleet."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lorakeet.settings import Settings

from .common import console, setup_logging, wait_for_signal

if TYPE_CHECKING:
    from lorakeet.gateway_bridge.simulator import SimDevice
    from lorakeet.storage.registry import Registry


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
    from lorakeet.gateway_bridge.demo_fleet import fill_history, register_fleet
    from lorakeet.gateway_bridge.simulator import Simulator, make_fleet
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
    setup_logging(settings)
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
        wait_for_signal()
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
