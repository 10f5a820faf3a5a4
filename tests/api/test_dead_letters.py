"""Dead letters through the admin API and the CLI: list, replay (stored once), drop."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lorakeet.api.deps import Services
from lorakeet.cli import app as cli_app
from lorakeet.decoders import Reading
from lorakeet.storage.dead_letters import DeadLetters, Refused
from lorakeet.storage.records import DeviceKey, StoredUplink, Uplink
from lorakeet.storage.registry import Registry
from lorakeet.storage.sqlite_store import SqliteStore

from .conftest import make_admin, signup

NOW = time.time_ns()
URL = "/v1/admin/dead-letters"


def refused(i: int) -> Refused:
    u = Uplink("ttn", "town", f"bin-{i}", NOW + i, 1, i, b"\x01")
    return Refused(
        StoredUplink(u, "bin", "cayenne_lpp", (Reading("fill_pct", 40.0 + i, "%"),)), "beyond retention"
    )


def test_admin_lists_replays_and_drops(api_client: TestClient, api_services: Services) -> None:
    dead = DeadLetters(api_services.registry)
    dead.add([refused(i) for i in range(3)])
    admin, user = make_admin(api_services), signup(api_client)
    assert api_client.get(URL, headers=user.headers).status_code == 403
    page = api_client.get(URL, headers=admin.headers).json()
    assert page["depth"] == 3 and [d["device_id"] for d in page["data"]] == ["bin-0", "bin-1", "bin-2"]
    assert page["data"][0]["reason"] == "beyond retention" and page["data"][0]["f_cnt"] == 0
    first = page["data"][0]["id"]
    r = api_client.post(f"{URL}/replay", json={"ids": [first]}, headers=admin.headers)
    assert r.json() == {"stored": 1, "refused": 0, "depth": 2}
    store = api_services.store
    assert [v.value for v in store.latest(DeviceKey("town", "bin-0"))] == [40.0]
    assert api_client.post(f"{URL}/drop", json={}, headers=admin.headers).status_code == 422
    r = api_client.post(f"{URL}/drop", json={"all": True}, headers=admin.headers)
    assert r.json() == {"dropped": 2, "depth": 0}
    assert "lorakeet_dead_letters 0.0" in api_client.get("/metrics").text


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Registry, Path]:
    monkeypatch.setenv("LORAKEET_REGISTRY_URL", f"sqlite:///{tmp_path / 'registry.db'}")
    monkeypatch.setenv("LORAKEET_STORE__KIND", "sqlite")
    monkeypatch.setenv("LORAKEET_STORE__SQLITE_PATH", str(tmp_path / "readings.db"))
    return Registry(f"sqlite:///{tmp_path / 'registry.db'}"), tmp_path / "readings.db"


def test_cli_lists_replays_and_drops(cli_env: tuple[Registry, Path]) -> None:
    registry, readings = cli_env
    dead = DeadLetters(registry)
    dead.add([refused(i) for i in range(3)])
    runner = CliRunner()
    out = runner.invoke(cli_app, ["dead-letters", "list"])
    assert out.exit_code == 0, out.output
    assert "bin-2" in out.stdout and "beyond retention" in out.stdout
    ids = [d.id for d in dead.page()]
    out = runner.invoke(cli_app, ["dead-letters", "replay", str(ids[0]), str(ids[1])])
    assert out.exit_code == 0, out.output
    assert dead.count() == 1
    store = SqliteStore(readings)
    assert store.count_uplinks() == 2
    out = runner.invoke(cli_app, ["dead-letters", "replay"])  # all: the one left
    assert out.exit_code == 0 and dead.count() == 0 and store.count_uplinks() == 3
    out = runner.invoke(cli_app, ["dead-letters", "replay"])
    assert out.exit_code == 0 and store.count_uplinks() == 3  # each stored once
    dead.add([refused(9)])
    assert runner.invoke(cli_app, ["dead-letters", "drop"]).exit_code != 0  # ids or --all
    assert runner.invoke(cli_app, ["dead-letters", "drop", "--all"]).exit_code == 0
    assert dead.count() == 0
