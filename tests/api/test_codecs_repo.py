"""Importing Device Repository codecs: ``POST /v1/codecs/import-repo`` and ``lorakeet codecs import-repo``,
and the upload limits The Things Stack documents (40 KB source, examples whose data nests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lorakeet.api.app import create_app
from lorakeet.api.deps import Services
from lorakeet.cli import app as cli_app
from lorakeet.decoders import DeviceContext
from lorakeet.gateway_bridge.codecs import make_resolver
from lorakeet.gateway_bridge.repo_import import same_output
from lorakeet.gateway_bridge.sandbox import SandboxedCodec
from lorakeet.storage.registry import Registry

from .conftest import api_settings, make_admin, signup

NESTED_JS = """
function decodeUplink(input) {
  if (input.fPort !== 3) { return { errors: ["unknown FPort"] }; }
  var b = input.bytes, spare;
  return { data: {
    air: { temperature: ((b[0] << 8) | b[1]) / 10, humidity: b[2] },
    flags: [b[3] & 1, (b[3] >> 1) & 1],
    mode: b[3] & 4 ? "on" : "off",
    spare: spare
  } };
}
"""

CODEC_YAML = """
uplinkDecoder:
  fileName: station.js
  examples:
    - description: Air reading
      input: {fPort: 3, bytes: [0x00, 0xE1, 0x2D, 0x05]}
      output:
        data:
          air: {temperature: 22.5, humidity: 45}
          flags: [1, 0]
          mode: on
          spare: null
    - description: Unknown port
      input: {fPort: 9, bytes: [1]}
      output:
        errors: [unknown FPort]
"""

MODEL_YAML = """
name: Station
firmwareVersions:
  - version: '1.0'
    numeric: 1
    profiles:
      EU863-870: {id: station-eu868, codec: station-fmt}
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "lorawan-devices"
    vendor = root / "vendor" / "acme"
    vendor.mkdir(parents=True)
    (vendor / "index.yaml").write_text("endDevices: [station]\n")
    (vendor / "station.yaml").write_text(MODEL_YAML)
    (vendor / "station-fmt.yaml").write_text(CODEC_YAML)  # a codec id without the -codec suffix
    (vendor / "station.js").write_text(NESTED_JS)
    return root


@pytest.fixture
def repo_client(checkout: Path, sqlite_registry: Registry, api_services: Services) -> Iterator[TestClient]:
    settings = api_settings()
    settings.device_repo_path = checkout
    services = Services(settings, sqlite_registry, api_services.store)
    with TestClient(create_app(services)) as client:
        yield client


def test_import_over_http_and_decode_with_it(repo_client: TestClient, sqlite_registry: Registry) -> None:
    maker = signup(repo_client, "Maker")
    body = {"brand": "acme", "model": "station", "firmware_version": "1.0", "band": "EU_863_870"}
    r = repo_client.post("/v1/codecs/import-repo", json=body, headers=maker.headers)
    assert r.status_code == 201, r.text
    codec = r.json()
    assert codec["name"] == "acme/station (station-fmt)" and codec["owner_id"] == maker.id
    assert codec["examples"][0] == {
        "fPort": 3,
        "bytes": "00e12d05",
        "expected": {
            "air": {"temperature": 22.5, "humidity": 45},
            "flags": [1, 0],
            "mode": "on",
            "spare": None,
        },
    }
    assert codec["examples"][1] == {"fPort": 9, "bytes": "01", "errors": ["unknown FPort"]}
    again = repo_client.post("/v1/codecs/import-repo", json=body, headers=maker.headers)
    assert again.status_code == 200 and again.json()["id"] == codec["id"]
    # a device with decoder js:<id> decodes through the sandboxed resolver the bridge uses
    decode = make_resolver(sqlite_registry)(codec["decoder"])
    assert isinstance(decode, SandboxedCodec)
    raw = decode.run(bytes.fromhex("00e12d05"), 3, "2024-01-01T00:00:00.000Z")
    assert raw["data"]["air"] == {"temperature": 22.5, "humidity": 45} and raw["data"]["spare"] is None
    decode(bytes.fromhex("00e12d05"), 3, DeviceContext())  # the data goes on to the decoded-object reader


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"brand": "acme", "model": "nothing"}, 422, "cannot read device model"),
        ({"brand": "acme", "model": "station", "band": "US902-928"}, 422, "no profile for band 'US902-928'"),
        ({"brand": "acme", "model": "station", "firmware_version": "9"}, 422, "no firmware version '9'"),
        ({"brand": "../x", "model": "station"}, 422, "brand"),
    ],
)
def test_import_problems(repo_client: TestClient, body: dict[str, str], status: int, detail: str) -> None:
    maker = signup(repo_client)
    r = repo_client.post("/v1/codecs/import-repo", json=body, headers=maker.headers)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert detail in r.json()["detail"]
    assert "lorawan-devices" not in r.json()["detail"]  # the server's path is not shown


def test_failing_example_is_not_imported(repo_client: TestClient, checkout: Path) -> None:
    path = checkout / "vendor" / "acme" / "station-fmt.yaml"
    path.write_text(CODEC_YAML.replace("humidity: 45", "humidity: 46"))
    maker = signup(repo_client)
    r = repo_client.post(
        "/v1/codecs/import-repo", json={"brand": "acme", "model": "station"}, headers=maker.headers
    )
    assert r.status_code == 422
    assert "example 0 (Air reading" in r.json()["detail"] and "'humidity': 46" in r.json()["detail"]
    assert repo_client.get("/v1/codecs", headers=maker.headers).json()["count"] == 0


def test_shared_import_is_for_admins(repo_client: TestClient, api_services: Services) -> None:
    body = {"brand": "acme", "model": "station", "shared": True}
    maker = signup(repo_client)
    r = repo_client.post("/v1/codecs/import-repo", json=body, headers=maker.headers)
    assert r.status_code == 403 and "only admins" in r.json()["detail"]
    admin = make_admin(api_services)
    r = repo_client.post("/v1/codecs/import-repo", json=body, headers=admin.headers)
    assert r.status_code == 201 and r.json()["owner_id"] is None
    listed = repo_client.get("/v1/codecs", headers=maker.headers).json()
    assert [c["id"] for c in listed["data"]] == [r.json()["id"]]  # every account sees a shared codec


def test_no_checkout_is_404(api_client: TestClient) -> None:
    maker = signup(api_client)
    r = api_client.post("/v1/codecs/import-repo", json={"brand": "acme", "model": "x"}, headers=maker.headers)
    assert r.status_code == 404 and "LORAKEET_DEVICE_REPO_PATH" in r.json()["detail"]


def test_upload_limit_is_40_kb_of_utf8_and_nested_examples_pass(api_client: TestClient) -> None:
    maker = signup(api_client)
    examples = [
        {
            "fPort": 3,
            "bytes": "00E12D05",
            "expected": {
                "air": {"temperature": 22.5, "humidity": 45},
                "flags": [1, 0],
                "mode": "on",
                "spare": None,
            },
        }
    ]
    body = {"name": "nested", "source": NESTED_JS, "examples": examples}
    r = api_client.post("/v1/codecs", json=body, headers=maker.headers)
    assert r.status_code == 201, r.text
    padding = 40 * 1024 - len(NESTED_JS.encode()) - 4
    at_limit = NESTED_JS + "//" + "x" * padding + "\n"
    assert len(at_limit.encode()) == 40_959
    r = api_client.post("/v1/codecs", json={**body, "source": at_limit}, headers=maker.headers)
    assert r.status_code == 201, r.text
    # 40,958 characters, but 40,962 bytes of UTF-8: over The Things Stack's 40 KB
    over = NESTED_JS + "//" + "é" * ((padding + 6) // 2) + "\n"
    assert len(over) < 40_960 < len(over.encode())
    r = api_client.post("/v1/codecs", json={**body, "source": over}, headers=maker.headers)
    assert r.status_code == 422 and "limit 40960" in r.text


def test_cli_import_repo(checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "registry.db"
    monkeypatch.setenv("LORAKEET_REGISTRY_URL", f"sqlite:///{db}")
    runner = CliRunner()
    args = [
        "codecs",
        "import-repo",
        str(checkout),
        "--brand",
        "acme",
        "--model",
        "station",
        "--band",
        "eu868",
    ]
    result = runner.invoke(cli_app, args)
    assert result.exit_code == 1 and "no profile for band 'eu868'" in result.output
    result = runner.invoke(cli_app, args[:-2])
    assert result.exit_code == 0, result.output
    decoder = result.stdout.strip().splitlines()[-1]
    assert decoder.startswith("js:")
    reg = Registry(f"sqlite:///{db}")
    try:
        row = reg.get_codec(int(decoder[3:]))
        assert row is not None and row.owner_id is None and row.source == NESTED_JS
    finally:
        reg.close()
    again = runner.invoke(cli_app, args[:-2])
    assert again.exit_code == 0 and again.stdout.strip().splitlines()[-1] == decoder
    assert "already stored" in again.output
    missing = runner.invoke(cli_app, ["codecs", "import-repo", str(tmp_path), "--brand", "a", "--model", "b"])
    assert missing.exit_code != 0 and "vendor/" in missing.output


@pytest.mark.parametrize(
    ("expected", "got", "same"),
    [
        ({"unit": None, "value": 1}, {"value": 1}, True),  # YAML "unit:" where the codec set none
        ({"value": 1}, {"value": 1, "unit": None}, True),  # undefined kept as null
        ({"value": 1}, {"value": 1, "unit": "mm"}, False),
        ({"a": {"b": [1, 2.0]}}, {"a": {"b": [1.0, 2]}}, True),
        ({"a": 0.1 + 0.2}, {"a": 0.3}, True),
        ({"a": 1}, {"a": True}, False),
        ({"a": "1"}, {"a": 1}, False),
        ({"a": [1]}, {"a": [1, None]}, False),
    ],
)
def test_example_comparison(expected: object, got: object, same: bool) -> None:
    assert same_output(expected, got) is same
