"""Makers' queries across devices, on the SQLite and the InfluxDB store."""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from lorakeet.api.app import create_app
from lorakeet.api.deps import Services
from lorakeet.api.routes.across import percentile
from lorakeet.storage.registry import Registry
from tests.views.conftest import stored

from .conftest import Account, api_settings, register_device, signup

HOUR = 3600 * 10**9
T0 = 1_790_000_000 // 3600 * 3600 * 10**9  # an hour boundary in 2026
RANGE = {"start": "2026-09-21T00:00:00Z", "end": "2026-09-23T00:00:00Z"}

# (device, visibility, latitude, longitude, tag, temperatures in hour 0, 1, 2)
FLEET = [
    ("park.t-1", "public", 52.01, 4.35, "park", (10.0, 11.0, 12.0)),
    ("park.t-2", "public", 52.02, 4.36, "park", (14.0, 15.0, 16.0)),
    ("park.t-3", "public", 52.03, 4.37, None, (18.0, 19.0, 20.0)),
    ("quay.t-4", "public", 51.90, 4.48, "park", (30.0, 31.0, 32.0)),  # outside the park's box
    ("park.t-5", "private", 52.04, 4.38, "park", (99.0, 99.0, 99.0)),
]
PARK_BOX = "4.30,52.00,4.40,52.10"


@pytest.fixture(params=["sqlite", "influxdb"])
def world(request: pytest.FixtureRequest, sqlite_registry: Registry) -> Iterator[tuple[TestClient, Account]]:
    store = request.getfixturevalue("sqlite_store" if request.param == "sqlite" else "influx_store")
    services = Services(api_settings(), sqlite_registry, store)
    with TestClient(create_app(services)) as client:
        owner = signup(client, "Owner")
        for uid, visibility, lat, lon, tag, temps in FLEET:
            register_device(
                client,
                owner,
                uid,
                kind="other",
                visibility=visibility,
                location={"latitude": lat, "longitude": lon},
                tags=[tag] if tag else [],
            )
            batch = [
                stored(uid, "other", T0 + h * HOUR + 60 * 10**9 * m, 1 + h * 10 + m, temperature=t + m)
                for h, t in enumerate(temps)
                for m in (0, 1)  # two readings per hour: t and t + 1
            ]
            store.write(batch)
        yield client, owner


def test_one_quantity_for_the_devices_in_a_box(world: tuple[TestClient, Account]) -> None:
    client, _ = world
    r = client.get(
        "/v1/readings", params={"quantity": "temperature", "bbox": PARK_BOX, "every": "1h", **RANGE}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unit"] == "°C"
    got = {d["device"]: [p["value"] for p in d["points"]] for d in body["devices"]}
    # anonymous: the private device stays hidden; the quay device is outside the box
    assert got == {
        "park.t-1": [10.5, 11.5, 12.5],
        "park.t-2": [14.5, 15.5, 16.5],
        "park.t-3": [18.5, 19.5, 20.5],
    }
    assert body["devices"][0]["points"][0]["time"].startswith("2026-09-21T")


def test_filters_by_tag_visibility_and_list(world: tuple[TestClient, Account]) -> None:
    client, owner = world
    q = {"quantity": "temperature", "every": "1h", "agg": "max", **RANGE}
    tagged = client.get("/v1/readings", params={**q, "tag": "park"}, headers=owner.headers).json()
    assert sorted(d["device"] for d in tagged["devices"]) == ["park.t-1", "park.t-2", "park.t-5", "quay.t-4"]
    private = client.get("/v1/readings", params={**q, "visibility": "private"}, headers=owner.headers).json()
    assert [(d["device"], d["points"][0]["value"]) for d in private["devices"]] == [("park.t-5", 100.0)]
    listed = client.get("/v1/readings", params={**q, "devices": "quay.t-4,park.t-1"}).json()
    assert [d["device"] for d in listed["devices"]] == ["quay.t-4", "park.t-1"]
    hidden = client.get("/v1/readings", params={**q, "devices": "park.t-5"})
    assert hidden.status_code == 404 and "park.t-5" in hidden.json()["detail"]


def test_csv_streams_time_device_value(world: tuple[TestClient, Account]) -> None:
    client, _ = world
    r = client.get(
        "/v1/readings", params={"quantity": "temperature", "every": "1h", "format": "csv", **RANGE}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["time", "device", "temperature [°C]"]
    assert len(rows) == 1 + 4 * 3  # four public devices, three windows each
    assert ["quay.t-4", "31.5"] in [row[1:] for row in rows]


def test_stats_across_devices_per_window(world: tuple[TestClient, Account]) -> None:
    client, _ = world
    r = client.get(
        "/v1/readings/stats",
        params={"quantity": "temperature", "every": "1h", "percentiles": "25,50,90", **RANGE},
    )
    assert r.status_code == 200, r.text
    windows = r.json()["windows"]
    assert len(windows) == 3
    first = windows[0]
    means = [10.5, 14.5, 18.5, 30.5]
    assert first["devices"] == 4
    assert first["mean"] == pytest.approx(statistics.fmean(means))
    assert (first["min"], first["max"]) == (10.5, 30.5)
    assert first["percentiles"]["p50"] == pytest.approx(statistics.median(means))
    quartiles = statistics.quantiles(means, n=4, method="inclusive")
    assert first["percentiles"]["p25"] == pytest.approx(quartiles[0])


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"quantity": "nonsense"}, "unknown quantity"),
        ({"quantity": "temperature", "bbox": "1,2,3"}, "bbox"),
        ({"quantity": "temperature", "bbox": "10,50,5,60"}, "west"),
        ({"quantity": "temperature", "bbox": "0,0,nan,1"}, "finite"),
        ({"quantity": "temperature", "every": "1s", "start": "-30d"}, "windows"),
        ({"quantity": "temperature", "start": "-1000d", "every": "1d"}, "400 days"),
        ({"quantity": "temperature", "devices": "not a device"}, "application_id.device_id"),
        ({"quantity": "temperature", "percentiles": "50,101"}, "percentiles"),
    ],
)
def test_bad_requests_are_problems_that_say_what_to_fix(
    sqlite_registry: Registry, sqlite_store: object, params: dict[str, str], needle: str
) -> None:
    services = Services(api_settings(), sqlite_registry, sqlite_store)  # type: ignore[arg-type]
    with TestClient(create_app(services)) as client:
        r = client.get("/v1/readings/stats" if "percentiles" in params else "/v1/readings", params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert needle in r.json()["detail"]


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([1.0], 90) == 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0
    assert percentile([0.0, 10.0], 25) == 2.5
