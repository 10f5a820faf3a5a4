"""Raw uplinks and re-decoding over HTTP, and the ``lorakeet redecode`` command.

Uplinks are stored raw with "no decoder configured" (as the bridge does for a device it
does not know yet); after the owner sets a decoder, ``POST /redecode`` starts a job that
reads them back, decodes them with the current decoder (Cayenne LPP, or the network's own
decoded payload) and rewrites them: readings appear, the decode error goes away.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lorakeet.api.deps import Services
from lorakeet.cli import app as cli_app
from lorakeet.storage.records import DeviceKey, StoredUplink, Uplink
from lorakeet.storage.registry import Registry
from lorakeet.storage.sqlite_store import SqliteStore

from .conftest import make_admin, register_device, signup

H = 3600 * 1_000_000_000
T = time.time_ns() - 10 * H
LPP = bytes.fromhex("016700E1")  # channel 1 temperature 22.5 °C


def store_raw(
    store: SqliteStore | object, uid: str, n: int, network: dict[str, object] | None = None
) -> None:
    """``n`` hourly uplinks stored undecoded."""
    key = DeviceKey.from_uid(uid)
    batch = [
        StoredUplink(
            Uplink(
                "ttn",
                key.application_id,
                key.device_id,
                T + i * H,
                2,
                i + 1,
                LPP,
                rssi=-101.0,
                snr=-3.5,
                spreading_factor=10,
                frequency=867_100_000,
                gateways=("gw-1",),
                network_decoded=network,
            ),
            "bin",
            "none",
            decode_error="no decoder configured for this device; set one and re-decode",
        )
        for i in range(n)
    ]
    store.write(batch)  # type: ignore[attr-defined]


def wait_job(client: TestClient, job_id: str, headers: dict[str, str]) -> dict[str, object]:
    deadline = time.monotonic() + 20
    while True:
        job: dict[str, object] = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if job["state"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_uplinks_show_radio_metadata_and_payload(api_client: TestClient, api_services: Services) -> None:
    owner, stranger = signup(api_client, "Owner"), signup(api_client, "Stranger")
    register_device(api_client, owner, "town.bin-1", visibility="private")
    store_raw(api_services.store, "town.bin-1", 3)
    assert api_client.get("/v1/devices/town.bin-1/uplinks", headers=stranger.headers).status_code == 404
    r = api_client.get("/v1/devices/town.bin-1/uplinks", params={"limit": 2}, headers=owner.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 2 and [u["f_cnt"] for u in body["uplinks"]] == [3, 2]
    u = body["uplinks"][0]
    assert u["payload_hex"] == "016700e1" and u["payload_base64"] == "AWcA4Q=="
    assert (u["rssi"], u["snr"], u["sf"], u["frequency"], u["gateways"]) == (
        -101.0,
        -3.5,
        10,
        867_100_000,
        ["gw-1"],
    )
    assert u["decoder"] == "none" and "no decoder" in u["decode_error"]
    assert (
        api_client.get(
            "/v1/devices/town.bin-1/uplinks", params={"start": "-60d"}, headers=owner.headers
        ).status_code
        == 422
    )


def test_redecode_applies_the_current_decoder(api_client: TestClient, api_services: Services) -> None:
    owner = signup(api_client, "Owner")
    register_device(api_client, owner, "town.bin-1", decoder="cayenne_lpp", visibility="public")
    store_raw(api_services.store, "town.bin-1", 5)
    assert api_client.get("/v1/devices/town.bin-1/latest").json()["values"] == []
    r = api_client.post("/v1/devices/town.bin-1/redecode", json={"start": "-1d"}, headers=owner.headers)
    assert r.status_code == 202, r.text
    job = wait_job(api_client, r.json()["id"], owner.headers)
    assert (job["state"], job["done"], job["total"], job["decode_errors"]) == ("done", 5, 5, 0)
    latest = api_client.get("/v1/devices/town.bin-1/latest").json()["values"]
    assert [(v["key"], v["value"]) for v in latest] == [("temperature_1", 22.5)]
    ups = api_client.get("/v1/devices/town.bin-1/uplinks").json()["uplinks"]
    assert {(u["decoder"], u["decode_error"]) for u in ups} == {("cayenne_lpp", None)}
    assert len(ups) == 5  # rewritten in place, not duplicated


def test_redecode_with_the_network_decoder_uses_the_stored_network_payload(
    api_client: TestClient, api_services: Services
) -> None:
    owner = signup(api_client, "Owner")
    register_device(api_client, owner, "town.bin-1", decoder="network", visibility="public")
    store_raw(api_services.store, "town.bin-1", 2, network={"temperature": "19.5 °C", "battery_pct": 81})
    r = api_client.post("/v1/devices/town.bin-1/redecode", json={"start": "-1d"}, headers=owner.headers)
    job = wait_job(api_client, r.json()["id"], owner.headers)
    assert job["state"] == "done" and job["decode_errors"] == 0
    latest = api_client.get("/v1/devices/town.bin-1/latest").json()["values"]
    assert {v["key"]: v["value"] for v in latest} == {"battery": 81.0, "temperature": 19.5}


def test_redecode_errors_are_counted(api_client: TestClient, api_services: Services) -> None:
    owner = signup(api_client, "Owner")
    register_device(
        api_client, owner, "town.bin-1", decoder="network", visibility="public"
    )  # no network payload
    store_raw(api_services.store, "town.bin-1", 2)
    r = api_client.post("/v1/devices/town.bin-1/redecode", json={"start": "-1d"}, headers=owner.headers)
    job = wait_job(api_client, r.json()["id"], owner.headers)
    assert job["state"] == "done" and job["decode_errors"] == 2 and len(job["errors"]) == 2  # type: ignore[arg-type]


def test_redecode_and_jobs_are_for_owner_and_admin(api_client: TestClient, api_services: Services) -> None:
    owner, stranger = signup(api_client, "Owner"), signup(api_client, "Stranger")
    admin = make_admin(api_services)
    register_device(api_client, owner, "town.bin-1", decoder="cayenne_lpp", visibility="public")
    register_device(api_client, owner, "town.bin-2", decoder="cayenne_lpp", visibility="private")
    url = "/v1/devices/town.bin-1/redecode"
    assert api_client.post(url, json={"start": "-1d"}).status_code == 401
    assert api_client.post(url, json={"start": "-1d"}, headers=stranger.headers).status_code == 403
    assert (
        api_client.post(
            "/v1/devices/town.bin-2/redecode", json={"start": "-1d"}, headers=stranger.headers
        ).status_code
        == 404
    )
    assert api_client.post(url, json={"start": "-900d"}, headers=owner.headers).status_code == 422
    assert api_client.post(url, json={"start": "soon"}, headers=owner.headers).status_code == 422
    r = api_client.post(url, json={"start": "-1d"}, headers=admin.headers)
    assert r.status_code == 202
    job_id = r.json()["id"]
    assert api_client.get(f"/v1/jobs/{job_id}", headers=stranger.headers).status_code == 404
    assert api_client.get(f"/v1/jobs/{job_id}", headers=owner.headers).status_code == 404  # admin's job
    assert api_client.get(f"/v1/jobs/{job_id}", headers=admin.headers).status_code == 200
    assert api_client.get(f"/v1/jobs/{job_id}").status_code == 401
    assert api_client.get("/v1/jobs/nope", headers=admin.headers).status_code == 404


def test_cli_redecode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    store = SqliteStore(tmp_path / "readings.db")
    registry.upsert_device(DeviceKey("town", "bin-1"), kind="bin", decoder="cayenne_lpp")
    store_raw(store, "town.bin-1", 4)
    monkeypatch.setenv("LORAKEET_REGISTRY_URL", f"sqlite:///{tmp_path / 'registry.db'}")
    monkeypatch.setenv("LORAKEET_STORE__SQLITE_PATH", str(tmp_path / "readings.db"))
    result = CliRunner().invoke(cli_app, ["redecode", "town.bin-1", "--start", "-1d"])
    assert result.exit_code == 0, result.output
    assert "done: 4/4" in result.output
    assert [v.value for v in store.latest(DeviceKey("town", "bin-1"))] == [22.5]
    bad = CliRunner().invoke(cli_app, ["redecode", "town.nope", "--start", "-1d"])
    assert bad.exit_code == 1
    store.close()
    registry.close()
