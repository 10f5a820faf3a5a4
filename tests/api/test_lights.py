"""Street-light routes: every light with its state; the faults list (device flags, no power, offline)."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from lorakeet.api.deps import Services
from lorakeet.storage.records import DeviceKey
from tests.views.conftest import stored

MIN = 60 * 1_000_000_000


def test_lights_and_faults(api_client: TestClient, api_services: Services) -> None:
    now = time.time_ns()
    batch = []
    for i in range(6):
        batch.append(
            stored(
                "town.l-ok",
                "streetlight",
                now - (2 + 15 * (5 - i)) * MIN,
                i + 1,
                lamp_on=True,
                dim_level=50.0,
                power=30.0,
                energy=1.5,
            )
        )
        batch.append(
            stored(
                "town.l-off",
                "streetlight",
                now - (300 + 15 * (5 - i)) * MIN,
                i + 1,
                lamp_on=False,
                dim_level=0.0,
                power=0.0,
                energy=2.0,
            )
        )
    batch.append(
        stored("town.l-fault", "streetlight", now - MIN, 1, lamp_on=True, power=55.0, power_fault=True)
    )
    api_services.store.write(batch)
    for d in ("l-ok", "l-off", "l-fault"):
        api_services.registry.upsert_device(DeviceKey("town", d), kind="streetlight", visibility="public")

    body = api_client.get("/v1/lights").json()
    assert body["count"] == 3
    lights = {x["device"]: x for x in body["lights"]}
    ok = lights["town.l-ok"]
    assert (ok["lamp_on"], ok["dim_level"], ok["power"], ok["energy"], ok["faults"]) == (
        True,
        50.0,
        30.0,
        1.5,
        [],
    )
    assert ok["usual_interval_s"] == 900 and ok["offline"] is False
    assert lights["town.l-off"]["offline"] is True

    faults = api_client.get("/v1/lights/faults").json()
    got = {x["device"]: x["faults"] for x in faults["lights"]}
    assert got == {"town.l-off": ["silent"], "town.l-fault": ["power_fault"]}
    # a generous factor brings the quiet one back
    faults = api_client.get("/v1/lights/faults", params={"silence_factor": 30}).json()
    assert [x["device"] for x in faults["lights"]] == ["town.l-fault"]
