"""Readings over HTTP: latest per device and per fleet, time series as JSON and CSV.

Data is written straight through the store's writer (as the bridge does); the API is a
TestClient over a temp SQLite registry and store. Private devices answer 404 to anyone but
their owner and admins; ranges are bounded (a long raw range asks for ``every``).
"""

from __future__ import annotations

import csv
import io
import time

import pytest
from fastapi.testclient import TestClient

from lorakeet.api.app import create_app
from lorakeet.api.deps import Services
from lorakeet.api.presentation import dt
from lorakeet.api.schemas import FleetLatestPublic, ReadingsPublic
from lorakeet.decoders import Reading, Value
from lorakeet.storage.records import DeviceKey, StoredUplink, Uplink
from lorakeet.timefmt import format_rfc3339_ns

from .conftest import Account, api_settings, make_admin, register_device, signup

H = 3600 * 1_000_000_000
NOW = time.time_ns()
BASE = NOW - NOW % (24 * H) - 48 * H  # midnight two days ago (UTC)
UNITS = {"fill_pct": "%", "battery": "%", "full_alarm": "", "temperature": "°C"}


def write(services: Services, uid: str, t: int, f_cnt: int, values: dict[str, Value]) -> None:
    """Store one decoded uplink of ``uid`` at ``t``."""
    key = DeviceKey.from_uid(uid)
    u = Uplink("ttn", key.application_id, key.device_id, t, 1, f_cnt, b"\x01", rssi=-80.0, snr=5.0)
    services.store.write(
        [StoredUplink(u, "bin", "cayenne_lpp", tuple(Reading(k, v, UNITS[k]) for k, v in values.items()))]
    )


def setup_fleet(client: TestClient, services: Services) -> tuple[Account, Account]:
    """Owner with a public and a private bin and a public light; a stranger."""
    owner, stranger = signup(client, "Owner"), signup(client, "Stranger")
    register_device(client, owner, "town.bin-1", visibility="public", kind="bin")
    register_device(client, owner, "town.bin-2", visibility="private", kind="bin")
    register_device(client, owner, "town.light-1", visibility="public", kind="streetlight")
    for i in range(24):
        write(services, "town.bin-1", BASE + i * H, i + 1, {"fill_pct": float(i), "battery": 90.0})
    write(services, "town.bin-2", BASE, 1, {"fill_pct": 77.0})
    return owner, stranger


def test_latest_respects_visibility(api_client: TestClient, api_services: Services) -> None:
    owner, stranger = setup_fleet(api_client, api_services)
    r = api_client.get("/v1/devices/town.bin-1/latest")
    assert r.status_code == 200
    values = {v["key"]: v for v in r.json()["values"]}
    assert values["fill_pct"]["value"] == 23.0 and values["fill_pct"]["unit"] == "%"
    assert api_client.get("/v1/devices/town.bin-2/latest").status_code == 404
    assert api_client.get("/v1/devices/town.bin-2/latest", headers=stranger.headers).status_code == 404
    assert api_client.get("/v1/devices/town.bin-2/latest", headers=owner.headers).status_code == 200
    admin = make_admin(api_services)
    assert api_client.get("/v1/devices/town.bin-2/latest", headers=admin.headers).status_code == 200
    assert api_client.get("/v1/devices/town.nope/latest").status_code == 404


def test_latest_answers_as_every_route_does(api_services: Services) -> None:
    """The latest route skips the router's dependency solving: it must still apply the rate
    limit, reject bad keys, render problems and answer GET alone."""
    services = Services(
        api_settings(rate_limit_per_minute=60, rate_limit_burst=5), api_services.registry, api_services.store
    )
    with TestClient(create_app(services)) as client:
        admin = make_admin(services)
        register_device(client, admin, "town.bin-9", visibility="public", kind="bin")
        write(services, "town.bin-9", BASE, 1, {"fill_pct": 12.0})
        codes = [client.get("/v1/devices/town.bin-9/latest").status_code for _ in range(6)]
        assert codes == [200] * 5 + [429]
        r = client.get("/v1/devices/town.bin-9/latest")
        assert r.headers["retry-after"] == "1" and r.headers["content-type"] == "application/problem+json"
        assert client.get("/healthz").status_code == 429  # one bucket for the caller, whatever the route
        r = client.get("/v1/devices/town.bin-9/latest", headers={"Authorization": "Bearer lk_nope"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert r.headers["content-type"] == "application/problem+json"
        r = client.get("/v1/devices/town.nope/latest", headers=admin.headers)
        assert r.status_code == 404 and r.json()["instance"] == "/v1/devices/town.nope/latest"
        assert client.get("/v1/devices/nodot/latest", headers=admin.headers).status_code == 422
        assert client.head("/v1/devices/town.bin-9/latest", headers=admin.headers).status_code == 405
        assert client.post("/v1/devices/town.bin-9/latest", headers=admin.headers).status_code == 405
        r = client.get("/v1/devices/town.bin-9/latest", headers=admin.headers)
        assert r.status_code == 200 and r.json()["values"][0]["value"] == 12.0


def test_fleet_latest_lists_visible_devices_of_a_kind(api_client: TestClient, api_services: Services) -> None:
    owner, stranger = setup_fleet(api_client, api_services)
    anon = api_client.get("/v1/readings/latest", params={"kind": "bin"}).json()
    assert [d["device"] for d in anon["devices"]] == ["town.bin-1"]
    assert anon["devices"][0]["values"][1]["key"] == "fill_pct"
    mine = api_client.get("/v1/readings/latest", params={"kind": "bin"}, headers=owner.headers).json()
    assert {d["device"]: [v["value"] for v in d["values"]] for d in mine["devices"]} == {
        "town.bin-1": [90.0, 23.0],
        "town.bin-2": [77.0],
    }
    assert mine["total"] == 2
    FleetLatestPublic.model_validate(mine)  # the hand-built JSON keeps the documented shape
    lights = api_client.get("/v1/readings/latest", params={"kind": "streetlight"}, headers=stranger.headers)
    assert lights.json()["devices"] == [
        {
            "device": "town.light-1",
            "name": None,
            "kind": "streetlight",
            "latitude": None,
            "longitude": None,
            "values": [],
        }
    ]
    assert api_client.get("/v1/readings/latest", params={"kind": "spaceship"}).status_code == 422


def test_raw_readings_with_key_filter_range_and_limit(api_client: TestClient, api_services: Services) -> None:
    setup_fleet(api_client, api_services)
    start, end = format_rfc3339_ns(BASE + 2 * H), format_rfc3339_ns(BASE + 5 * H)
    r = api_client.get(
        "/v1/devices/town.bin-1/readings", params={"quantities": "fill_pct", "start": start, "end": end}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["values"] for p in body["points"]] == [{"fill_pct": 2.0}, {"fill_pct": 3.0}, {"fill_pct": 4.0}]
    assert body["units"] == {"fill_pct": "%"}
    r = api_client.get("/v1/devices/town.bin-1/readings", params={"start": "-3d", "limit": 5})
    assert len(r.json()["points"]) == 5
    assert r.json()["points"][0]["values"] == {"fill_pct": 0.0, "battery": 90.0}


def test_aggregates_are_epoch_aligned(api_client: TestClient, api_services: Services) -> None:
    setup_fleet(api_client, api_services)
    params = {"quantities": "fill_pct", "start": "-3d", "every": "6h", "agg": "max"}
    body = api_client.get("/v1/devices/town.bin-1/readings", params=params).json()
    assert [p["values"]["fill_pct"] for p in body["points"]] == [5.0, 11.0, 17.0, 23.0]
    assert body["every"] == "6h" and body["agg"] == "max"
    params["agg"] = "count"
    body = api_client.get("/v1/devices/town.bin-1/readings", params=params).json()
    assert [p["values"]["fill_pct"] for p in body["points"]] == [6.0, 6.0, 6.0, 6.0]


def test_csv_has_units_in_the_header(api_client: TestClient, api_services: Services) -> None:
    setup_fleet(api_client, api_services)
    r = api_client.get(
        "/v1/devices/town.bin-1/readings",
        params={"quantities": "fill_pct,battery", "start": "-3d", "limit": 3, "format": "csv"},
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["time", "fill_pct [%]", "battery [%]"]
    assert rows[1] == [format_rfc3339_ns(BASE), "0.0", "90.0"]
    assert len(rows) == 4


def test_bounds_and_bad_input_are_422(api_client: TestClient, api_services: Services) -> None:
    setup_fleet(api_client, api_services)
    url = "/v1/devices/town.bin-1/readings"
    r = api_client.get(url, params={"start": "-90d"})
    assert r.status_code == 422 and "every" in r.json()["detail"]
    assert api_client.get(url, params={"start": "-90d", "every": "1d"}).status_code == 200
    assert api_client.get(url, params={"start": "-900d", "every": "1d"}).status_code == 422
    assert api_client.get(url, params={"start": "-30d", "every": "1s"}).status_code == 422
    assert api_client.get(url, params={"start": "yesterday"}).status_code == 422
    assert api_client.get(url, params={"start": "now", "end": "-1d"}).status_code == 422
    assert api_client.get(url, params={"quantities": "warp_factor"}).status_code == 422
    assert api_client.get(url, params={"limit": 10_001}).status_code == 422
    # the private device does not leak its existence through validation order either
    assert api_client.get("/v1/devices/town.bin-2/readings").status_code == 404


def test_a_failing_store_or_registry_is_503_not_500(
    api_client: TestClient, api_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service is at fault, not the request: 503 with Retry-After, as problem+json."""
    from sqlalchemy.exc import OperationalError

    from lorakeet.storage.protocols import StoreError

    setup_fleet(api_client, api_services)

    def store_down(*a: object, **k: object) -> object:
        raise StoreError("InfluxDB query failed: [Errno 111] Connection refused")

    monkeypatch.setattr(api_services.store, "latest", store_down)
    r = api_client.get("/v1/devices/town.bin-1/latest")
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "the readings store is not answering; retry later"  # no internals

    def registry_down(*a: object, **k: object) -> object:
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    api_services.registry.cache.clear()
    monkeypatch.setattr(api_services.registry, "lookup_device", registry_down)
    r = api_client.get("/v1/devices/town.bin-1/latest")
    assert r.status_code == 503 and "registry" in r.json()["detail"]


@pytest.mark.parametrize(
    "value",
    [20.0, 0.1, -3.25, 1e21, 123456.789, 1e-7, float("nan"), float("inf"), True, False, "ok", "ünï ✓"],
)
@pytest.mark.parametrize("time_ns", [1_767_225_600_000_000_000, 1_767_225_600_123_456_789, 1_000])
def test_the_hand_built_readings_json_is_the_models_json(value: Value, time_ns: int) -> None:
    from lorakeet.api.presentation import json_bytes

    body = {
        "device": "town.d",
        "start": dt(time_ns - H),
        "end": dt(time_ns + H),
        "every": "1h",
        "agg": "mean",
        "units": {"fill_pct": "%"},
        "points": [{"time": dt(time_ns), "values": {"fill_pct": value, "v.x": value}}],
    }
    assert json_bytes(body) == ReadingsPublic.model_validate(body).model_dump_json().encode()


def test_an_aggregate_answer_has_every_window(api_client: TestClient, api_services: Services) -> None:
    setup_fleet(api_client, api_services)
    start, end = format_rfc3339_ns(BASE), format_rfc3339_ns(BASE + 24 * H)
    r = api_client.get(
        "/v1/devices/town.bin-1/readings",
        params={"quantities": "fill_pct,battery", "start": start, "end": end, "every": "1h", "agg": "mean"},
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = ReadingsPublic.model_validate(r.json())
    assert [p.values["fill_pct"] for p in body.points] == [float(i) for i in range(24)]
    assert body.units == {"fill_pct": "%", "battery": "%"} and body.every == "1h" and body.agg == "mean"
    assert body.start == dt(BASE) and body.points[1].time == dt(BASE + H)


def test_kept_fleet_pages_are_bounded_in_number_and_bytes() -> None:
    from lorakeet.api.services import Answers

    kept = Answers(maxsize=3, max_bytes=100)
    for i in range(4):
        kept.put(i, f"page {i}", 10)
    assert kept.get(0) is None and kept.get(3) == "page 3"  # the oldest went first
    kept.put("big", "b", 90)  # room made by the least recently used
    assert kept.get("big") == "b" and kept.get(3) == "page 3" and kept.get(1) is None
    kept.put("huge", "h", 101)  # never kept
    assert kept.get("huge") is None and kept.get("big") == "b"
