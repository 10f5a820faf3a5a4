"""lorakeet simulate: publish simulated uplinks to an MQTT broker."""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from .common import console

if TYPE_CHECKING:
    from lorakeet.gateway_bridge.simulator import SimDevice


"""Points read per store request while exporting."""


Format = Literal["ttn", "chirpstack"]


def sim_message(d: SimDevice, application: str, fmt: Format, now_ns: int | None = None) -> tuple[str, bytes]:
    """The next (MQTT topic, body) of a simulated device in TTN or ChirpStack v4 format."""
    from lorakeet.gateway_bridge.simulator import chirpstack_uplink_body, fleet_uplinks, sim_dev_eui

    if fmt == "ttn":
        _, body = next(fleet_uplinks([d], application, now_ns))
        return f"v3/{application}@ttn/devices/{d.device_id}/up", body
    t = now_ns or time.time_ns()
    d.f_cnt += 1
    rssi = -70 - d.rng.uniform(0, 50)
    f_port, payload = d.payload(t / 1e9)
    eui = sim_dev_eui(d.device_id).lower()
    body = chirpstack_uplink_body(
        application,
        eui,
        payload,
        f_port=f_port,
        f_cnt=d.f_cnt,
        received_at_ns=t,
        device_name=d.device_id,
        rssi=round(rssi),
        snr=round(d.rng.uniform(-10, 10), 1),
        spreading_factor=d.rng.choice([7, 7, 8, 9, 10, 12]),
    )
    return f"application/{application}/device/{eui}/event/up", body


def simulate(
    broker_url: Annotated[str, typer.Option("--broker", help="mqtt://host:port")] = "mqtt://127.0.0.1:1883",
    application: Annotated[
        str, typer.Option(help="TTS application id (ChirpStack: application id/UUID)")
    ] = "lorakeet-demo",
    interval: Annotated[float, typer.Option(help="seconds between a device's uplinks")] = 10.0,
    bins: Annotated[int, typer.Option()] = 50,
    boats: Annotated[int, typer.Option()] = 10,
    lights: Annotated[int, typer.Option()] = 30,
    seconds: Annotated[float, typer.Option(help="stop after this long (0: until Ctrl-C)")] = 0,
    fmt: Annotated[
        str, typer.Option("--format", help="ttn (v3/.../up) or chirpstack (application/.../event/up)")
    ] = "ttn",
    webhook: Annotated[
        str | None,
        typer.Option(help="POST TTN bodies here (e.g. http://127.0.0.1:8080/v1/ingest/ttn) instead of MQTT"),
    ] = None,
    secret: Annotated[str | None, typer.Option(help="X-Lorakeet-Secret for --webhook")] = None,
) -> None:
    """Publish a simulated fleet's uplinks to a broker (TTN or ChirpStack format) or a webhook."""
    from lorakeet.gateway_bridge.simulator import make_fleet
    from lorakeet.settings import MqttSettings

    if fmt not in ("ttn", "chirpstack"):
        raise typer.BadParameter("must be ttn or chirpstack", param_hint="--format")
    if webhook is not None and fmt != "ttn":
        raise typer.BadParameter("webhooks take TTN bodies only", param_hint="--format")
    if webhook is not None and not webhook.startswith(("http://", "https://")):
        raise typer.BadParameter("must be an http:// or https:// URL", param_hint="--webhook")
    form: Format = "ttn" if fmt == "ttn" else "chirpstack"
    fleet = make_fleet(bins, boats, lights, interval_s=interval)
    failures: dict[str, int] = {}
    sent = 0
    if webhook is not None:
        import httpx

        headers = {"Content-Type": "application/json"}
        if secret:
            headers["X-Lorakeet-Secret"] = secret
        client = httpx.Client(timeout=10.0)

        def send(topic: str, body: bytes) -> bool:
            try:
                r = client.post(webhook, content=body, headers=headers)
            except httpx.HTTPError as exc:
                reason = type(exc).__name__
            else:
                if r.is_success:
                    return True
                reason = f"HTTP {r.status_code}"
            failures[reason] = failures.get(reason, 0) + 1
            return False

        close: Callable[[], None] = client.close
        target = webhook
    else:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        m = MqttSettings(url=broker_url)
        mq = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"lorakeet-sim-{time.time_ns() % (1 << 30)}")
        try:
            mq.connect(m.host, m.port)
        except OSError as exc:
            console.print(f"[red]cannot connect to {broker_url}: {exc}[/]")
            raise typer.Exit(1) from None
        mq.loop_start()
        last: list[mqtt.MQTTMessageInfo] = []

        def send(topic: str, body: bytes) -> bool:
            info = mq.publish(topic, body, qos=1)
            last[:] = [info]
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                reason = mqtt.error_string(info.rc)
                failures[reason] = failures.get(reason, 0) + 1
                return False
            return True

        def close() -> None:
            for info in last:
                try:
                    info.wait_for_publish(5)
                except (RuntimeError, ValueError):
                    pass
            mq.disconnect()
            mq.loop_stop()

        target = broker_url
    console.print(f"simulating {len(fleet)} devices, {fmt} format, to {target}")
    stop = threading.Event()
    if seconds <= 0:
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    deadline = time.monotonic() + seconds if seconds > 0 else math.inf
    try:
        start = time.monotonic()
        for i, d in enumerate(fleet):
            d.next_at = start + (i % 10) * 0.1
        while not stop.is_set() and (now := time.monotonic()) < deadline:
            for d in fleet:
                if d.next_at <= now:
                    topic, body = sim_message(d, application, form)
                    sent += send(topic, body)
                    d.next_at = now + d.interval_s * d.rng.uniform(0.8, 1.2)
            stop.wait(max(0.0, min(0.05, deadline - time.monotonic())))
    finally:
        close()
    for reason, n in sorted(failures.items()):
        console.print(f"[yellow]{n} uplinks failed: {reason}[/]")
    console.print(f"published {sent} uplinks")
    if failures and not sent:
        raise typer.Exit(1)
