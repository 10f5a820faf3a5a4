"""Simulated fleets of bins, boats and street lights publishing TTN-format uplinks.

Uplinks follow The Things Stack v3 JSON as it really arrives: zero values omitted,
``frequency`` as a string, ``coding_rate`` under ``data_rate.lora``. Payloads use the
reference-device formats of :mod:`lorakeet.firmware_payloads` (decoders ``lorakeet_bin``,
``lorakeet_tracker``, ``lorakeet_light``).
"""

from __future__ import annotations

import base64
import math
import random
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from lorakeet.firmware_payloads.formats import (
    BinStatus,
    LightStatus,
    TrackerStatus,
    encode_bin,
    encode_light_status,
    encode_tracker,
)
from lorakeet.timefmt import format_rfc3339_ns

Kind = Literal["bin", "boat", "streetlight"]

HARBOUR = (51.9036, 4.4840)  # a harbour basin; boats circle around it
TOWN = (51.9225, 4.4792)


def ttn_uplink_body(
    application_id: str,
    device_id: str,
    payload: bytes,
    *,
    f_port: int = 1,
    f_cnt: int = 0,
    received_at_ns: int | None = None,
    dev_eui: str | None = None,
    rssi: float = -90.0,
    snr: float = 7.0,
    spreading_factor: int = 7,
    frequency: int = 868_100_000,
    gateway_id: str = "lorakeet-sim-gw",
    decoded_payload: dict[str, Any] | None = None,
    tenant: str = "ttn",
) -> bytes:
    """A TTS v3 ``ApplicationUp`` uplink JSON body, quirks included."""
    t = received_at_ns if received_at_ns is not None else time.time_ns()
    ts = format_rfc3339_ns(t)
    msg: dict[str, Any] = {
        "session_key_id": "AXA50...==",
        "frm_payload": base64.b64encode(payload).decode(),
        "rx_metadata": [
            {
                "gateway_ids": {"gateway_id": gateway_id, "eui": "B827EBFFFE000001"},
                "time": ts,
                "timestamp": 2_463_457_000,
                "rssi": rssi,
                "channel_rssi": rssi,
                "snr": snr,
                "uplink_token": "ChIKEAoOZ2F0ZXdheS0wMDAwMRoMCK",
                "received_at": ts,
            }
        ],
        "settings": {
            "data_rate": {
                "lora": {"bandwidth": 125000, "spreading_factor": spreading_factor, "coding_rate": "4/5"}
            },
            "frequency": str(frequency),
            "timestamp": 2_463_457_000,
            "time": ts,
        },
        "received_at": ts,
        "consumed_airtime": "0.056576s",
        "network_ids": {"net_id": "000013", "tenant_id": tenant, "cluster_id": "eu1"},
    }
    if f_port:
        msg["f_port"] = f_port
    if f_cnt:
        msg["f_cnt"] = f_cnt
    if decoded_payload is not None:
        msg["decoded_payload"] = decoded_payload
    body = {
        "end_device_ids": {
            "device_id": device_id,
            "application_ids": {"application_id": application_id},
            "dev_eui": dev_eui or sim_dev_eui(device_id),
            "dev_addr": "260B1234",
        },
        "correlation_ids": ["as:up:01H0000000000000000000000", "rpc:/ttn.lorawan.v3.GsNs/HandleUplink:01H0"],
        "received_at": ts,
        "uplink_message": msg,
    }
    return orjson.dumps(body)


def sim_dev_eui(device_id: str) -> str:
    """The DevEUI :func:`ttn_uplink_body` gives a simulated device (16 upper-case hex digits)."""
    return f"70B3D57ED{zlib.crc32(device_id.encode()) % 16**7:07X}"


def chirpstack_uplink_body(
    application_id: str,
    dev_eui: str,
    payload: bytes,
    *,
    f_port: int = 1,
    f_cnt: int = 0,
    received_at_ns: int | None = None,
    device_name: str | None = None,
    rssi: float = -90.0,
    snr: float = 7.0,
    spreading_factor: int = 7,
    frequency: int = 868_100_000,
    gateway_id: str = "b827ebfffe000001",
    decoded_object: dict[str, Any] | None = None,
) -> bytes:
    """A ChirpStack v4 ``event/up`` JSON body (protobuf JSON: camelCase, zero values omitted).

    Published on ``application/{application_id}/device/{dev_eui}/event/up``; ChirpStack names
    the device by its DevEUI (lower case in topics), the application by its id.
    """
    t = received_at_ns if received_at_ns is not None else time.time_ns()
    ts = format_rfc3339_ns(t)
    eui = dev_eui.lower()
    body: dict[str, Any] = {
        "deduplicationId": f"{zlib.crc32(f'{eui}:{f_cnt}:{t}'.encode()):08x}-0000-4000-8000-000000000000",
        "time": ts,
        "deviceInfo": {
            "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
            "tenantName": "ChirpStack",
            "applicationId": application_id,
            "applicationName": application_id,
            "deviceProfileId": "14855bf7-d10d-4aee-b618-ebfcb64dc7ad",
            "deviceProfileName": "lorakeet-sim",
            "deviceName": device_name or eui,
            "devEui": eui,
            "tags": {},
        },
        "devAddr": "260b1234",
        "adr": True,
        "dr": max(0, 12 - spreading_factor),
        "data": base64.b64encode(payload).decode(),
        "rxInfo": [
            {
                "gatewayId": gateway_id,
                "uplinkId": zlib.crc32(ts.encode()),
                "nsTime": ts,
                "rssi": int(rssi),
                "snr": snr,
                "context": "E3OWOQ==",
                "metadata": {"region_config_id": "eu868", "region_common_name": "EU868"},
            }
        ],
        "txInfo": {
            "frequency": frequency,
            "modulation": {
                "lora": {"bandwidth": 125000, "spreadingFactor": spreading_factor, "codeRate": "CR_4_5"}
            },
        },
    }
    if f_cnt:
        body["fCnt"] = f_cnt
    if f_port:
        body["fPort"] = f_port
    if decoded_object is not None:
        body["object"] = decoded_object
    return orjson.dumps(body)


DECODERS: dict[str, str] = {
    "bin": "lorakeet_bin",
    "boat": "lorakeet_tracker",
    "streetlight": "lorakeet_light",
}


@dataclass
class SimDevice:
    """One simulated device and its state."""

    device_id: str
    kind: Kind
    interval_s: float
    rng: random.Random
    f_cnt: int = 0
    state: dict[str, float] = field(default_factory=dict)
    next_at: float = 0.0

    @property
    def decoder(self) -> str:
        """The registry decoder for the device's payload format."""
        return DECODERS[self.kind]

    @property
    def metadata(self) -> dict[str, object]:
        """Registry metadata for the device."""
        if self.kind == "bin":
            return {"bin_depth_m": 1.2, "mount_offset_m": 0.05}
        return {}

    @property
    def location(self) -> tuple[float, float] | None:
        """A static location for bins and lights, scattered around the town centre."""
        if self.kind == "boat":
            return None
        lat = self.state.setdefault("lat", TOWN[0] + self.rng.uniform(-0.01, 0.01))
        lon = self.state.setdefault("lon", TOWN[1] + self.rng.uniform(-0.016, 0.016))
        return lat, lon

    def payload(self, now: float) -> tuple[int, bytes]:
        """The next (f_port, payload) in the reference-device formats, advancing the state."""
        s, r = self.state, self.rng
        if self.kind == "bin":
            # fills at a steady per-bin rate; emptied when full or, sometimes, on a round
            fill = s.setdefault("fill", r.uniform(0, 0.9))
            rate = s.setdefault("rate", r.uniform(0.002, 0.02))
            fill += rate * r.uniform(0.95, 1.05)
            if fill >= 1.0 or (fill > 0.85 and r.random() < 0.05):
                fill = r.uniform(0.0, 0.05)
            s["fill"] = fill
            distance_mm = round((0.05 + 1.15 * (1 - fill)) * 1000)
            battery_mv = max(2800, 3600 - self.f_cnt // 10)
            status = BinStatus(
                distance_mm, battery_mv, round(r.uniform(8, 16) * 10), low_battery=battery_mv < 3000
            )
            return 10, encode_bin(status)
        if self.kind == "boat":
            step = r.uniform(0.01, 0.05)
            angle = s.setdefault("angle", r.uniform(0, 2 * math.pi)) + step
            s["angle"] = angle
            radius = s.setdefault("radius", r.uniform(0.002, 0.01))
            lat = HARBOUR[0] + radius * math.sin(angle)
            lon = HARBOUR[1] + 1.6 * radius * math.cos(angle)
            speed_kmh = radius * step * 111.0 * 3600 / max(self.interval_s, 1.0)
            tracker = TrackerStatus(
                round(lat * 1e7),
                round(lon * 1e7),
                min(round(speed_kmh * 10), 65535),
                round(math.degrees(angle) + 90) % 360,
                3900,
                gps_fix=True,
                in_motion=speed_kmh > 0.5,
            )
            return 20, encode_tracker(tracker)
        # street light: on at night (a slow simulated clock), a few with a failed lamp
        on = math.sin(now / 600.0 + s.setdefault("phase", r.uniform(0, 6))) > 0
        faulty = s.setdefault("faulty", 1.0 if r.random() < 0.07 else 0.0) > 0
        dim = int(s.setdefault("dim", float(r.choice([50, 70, 100]))))
        power_w = 0.0 if (not on or faulty) else 60.0 * dim / 100.0
        energy_wh = s.get("energy", r.uniform(10_000, 500_000)) + power_w * self.interval_s / 3600
        s["energy"] = energy_wh
        light = LightStatus(
            on,
            dim,
            round(power_w * 10),
            round(energy_wh),
            round(r.uniform(225, 235) * 10),
            lamp_fault=faulty and on,
        )
        return 30, encode_light_status(light)


def make_fleet(
    bins: int = 50, boats: int = 10, lights: int = 30, seed: int = 7, interval_s: float = 10.0
) -> list[SimDevice]:
    """The demo fleet: device ids like ``bin-001``, ``boat-01``, ``light-001``."""
    rng = random.Random(seed)
    fleet = [
        SimDevice(f"bin-{i:03d}", "bin", interval_s, random.Random(rng.random())) for i in range(1, bins + 1)
    ]
    fleet += [
        SimDevice(f"boat-{i:02d}", "boat", interval_s, random.Random(rng.random()))
        for i in range(1, boats + 1)
    ]
    fleet += [
        SimDevice(f"light-{i:03d}", "streetlight", interval_s, random.Random(rng.random()))
        for i in range(1, lights + 1)
    ]
    return fleet


def fleet_uplinks(
    fleet: list[SimDevice], application_id: str, now_ns: int | None = None
) -> Iterator[tuple[str, bytes]]:
    """One round: (device_id, TTN JSON body) for every device."""
    t = now_ns or time.time_ns()
    for d in fleet:
        d.f_cnt += 1
        rssi = -70 - d.rng.uniform(0, 50)
        f_port, payload = d.payload(t / 1e9)
        yield (
            d.device_id,
            ttn_uplink_body(
                application_id,
                d.device_id,
                payload,
                f_port=f_port,
                f_cnt=d.f_cnt,
                received_at_ns=t,
                rssi=round(rssi),
                snr=round(d.rng.uniform(-10, 10), 1),
                spreading_factor=d.rng.choice([7, 7, 8, 9, 10, 12]),
            ),
        )


class Simulator:
    """Publishes a fleet's uplinks to an MQTT broker on TTS topics until stopped."""

    def __init__(
        self, broker_host: str, broker_port: int, application_id: str, fleet: list[SimDevice]
    ) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.application_id = application_id
        self.fleet = fleet
        self.published = 0
        self._stop = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"lorakeet-sim-{random.randrange(1 << 30)}"
        )
        self._client.connect(broker_host, broker_port)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._run, name="lorakeet-simulator", daemon=True)

    def start(self) -> None:
        """Publish in the background: first round at once, then every device on its interval."""
        for i, d in enumerate(self.fleet):
            d.next_at = time.monotonic() + (i % 10) * 0.1
        self._thread.start()

    def _run(self) -> None:
        topic = "v3/{app}@ttn/devices/{dev}/up"
        while not self._stop.is_set():
            now = time.monotonic()
            due = [d for d in self.fleet if d.next_at <= now]
            for d in due:
                _, body = next(fleet_uplinks([d], self.application_id))
                self._client.publish(topic.format(app=self.application_id, dev=d.device_id), body, qos=1)
                self.published += 1
                d.next_at = now + d.interval_s * d.rng.uniform(0.8, 1.2)
            self._stop.wait(0.05)

    def stop(self) -> None:
        """Stop publishing and disconnect."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self._client.disconnect()
        self._client.loop_stop()
