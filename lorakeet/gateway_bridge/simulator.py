"""Simulated fleets of bins, boats and street lights publishing TTN-format uplinks.

Uplinks follow The Things Stack v3 JSON as it really arrives: zero values omitted,
``frequency`` as a string, ``coding_rate`` under ``data_rate.lora``. Payloads use the
reference-device formats of :mod:`lorakeet.firmware_payloads`; the devices' behaviour is in :mod:`.sim_town`.
"""

from __future__ import annotations

import base64
import heapq
import math
import random
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
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

from .sim_town import DAY_S, BinModel, BoatModel, LightModel, new_model

Kind = Literal["bin", "boat", "streetlight"]

HARBOUR = (51.9036, 4.4840)  # a harbour basin; boats sail from it onto the river
TOWN = (51.9200, 4.4800)


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


HISTORY_INTERVAL_S: dict[str, float] = {"bin": 3600.0, "boat": 600.0, "streetlight": 3600.0}
BIN_DEPTH_M, BIN_OFFSET_M = 1.2, 0.05


@dataclass
class SimDevice:
    """One simulated device: its model in :mod:`.sim_town` and its radio state."""

    device_id: str
    kind: Kind
    interval_s: float
    rng: random.Random
    f_cnt: int = 0
    next_at: float = 0.0
    model: BinModel | LightModel | BoatModel | None = None

    def __post_init__(self) -> None:
        if self.model is None:
            self.model = new_model(self.kind, self.rng, TOWN)

    @property
    def decoder(self) -> str:
        """The registry decoder for the device's payload format."""
        return DECODERS[self.kind]

    @property
    def metadata(self) -> dict[str, object]:
        """Registry metadata for the device."""
        if isinstance(self.model, BinModel):
            return {
                "bin_depth_m": BIN_DEPTH_M,
                "mount_offset_m": BIN_OFFSET_M,
                "volume_l": self.model.volume_l,
            }
        return {}

    @property
    def location(self) -> tuple[float, float] | None:
        """Where a bin or a light stands (boats move)."""
        if isinstance(self.model, BinModel | LightModel):
            return self.model.location
        return None

    def payload(self, now: float) -> tuple[int, bytes]:
        """The (f_port, payload) at ``now`` (Unix seconds) in the reference-device formats."""
        m, r = self.model, self.rng
        if isinstance(m, BinModel):
            m.advance(now)
            battery_mv = max(2800, 3600 - self.f_cnt // 200)
            temperature = round((8 + 6 * math.sin((now / DAY_S - 0.3) * 2 * math.pi) + r.gauss(0, 0.5)) * 10)
            status = BinStatus(
                m.distance_mm(BIN_DEPTH_M, BIN_OFFSET_M),
                battery_mv,
                temperature,
                low_battery=battery_mv < 3000,
            )
            return 10, encode_bin(status)
        if isinstance(m, BoatModel):
            (lat, lon), speed_kmh, heading = m.at(now)
            tracker = TrackerStatus(
                round(lat * 1e7),
                round(lon * 1e7),
                round(speed_kmh * 10),
                round(heading) % 360,
                3900,
                gps_fix=True,
                in_motion=speed_kmh > 0.5,
            )
            return 20, encode_tracker(tracker)
        assert isinstance(m, LightModel)
        on, dim, power_w, fault = m.state(now)
        light = LightStatus(
            on,
            dim,
            round(power_w * 10),
            round(m.energy_wh),
            round(r.uniform(225, 235) * 10),
            lamp_fault=fault,
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


def uplink(d: SimDevice, application_id: str, t_ns: int) -> bytes:
    """The device's next TTN uplink body at ``t_ns``."""
    d.f_cnt += 1
    f_port, payload = d.payload(t_ns / 1e9)
    return ttn_uplink_body(
        application_id,
        d.device_id,
        payload,
        f_port=f_port,
        f_cnt=d.f_cnt,
        received_at_ns=t_ns,
        rssi=round(-70 - d.rng.uniform(0, 50)),
        snr=round(d.rng.uniform(-10, 10), 1),
        spreading_factor=d.rng.choice([7, 7, 8, 9, 10, 12]),
    )


def fleet_uplinks(
    fleet: list[SimDevice], application_id: str, now_ns: int | None = None
) -> Iterator[tuple[str, bytes]]:
    """One round: (device_id, TTN JSON body) for every device."""
    t = now_ns or time.time_ns()
    for d in fleet:
        yield d.device_id, uplink(d, application_id, t)


def history(
    fleet: list[SimDevice], application_id: str, end_ns: int, days: float = 14.0
) -> Iterator[tuple[int, str, bytes]]:
    """(time ns, device_id, TTN body) of every uplink in the ``days`` before ``end_ns``, oldest first.

    Devices report at their kind's usual interval (bins and lights hourly, boats every ten
    minutes under way, hourly moored), each with its own offset, on the same real time as live.
    """
    start_ns = end_ns - round(days * DAY_S * 1e9)
    clocks = [
        (start_ns + round(d.rng.uniform(0, HISTORY_INTERVAL_S[d.kind]) * 1e9), i) for i, d in enumerate(fleet)
    ]
    heapq.heapify(clocks)
    while clocks:
        t, i = heapq.heappop(clocks)
        if t >= end_ns:
            continue
        d = fleet[i]
        yield t, d.device_id, uplink(d, application_id, t)
        m = d.model
        step = HISTORY_INTERVAL_S[d.kind]
        if isinstance(m, BoatModel):  # hourly when moored, finer tracks in the last six hours
            step = 3600.0 if m.at(t / 1e9)[1] == 0 else step / (5 if end_ns - t < 6 * 3600e9 else 1)
        step *= d.rng.uniform(0.95, 1.05)
        heapq.heappush(clocks, (t + round(step * 1e9), i))


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
                body = uplink(d, self.application_id, time.time_ns())
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
