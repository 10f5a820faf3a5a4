"""``lorakeet export``, ``lorakeet devices import`` and ``lorakeet simulate`` against real stores,
a real registry, a real Mosquitto and a real HTTP server."""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import orjson
import pytest
from typer.testing import CliRunner

from lorakeet.cli import app
from lorakeet.decoders import Reading
from lorakeet.gateway_bridge.broker import LocalBroker
from lorakeet.gateway_bridge.envelopes import parse_chirpstack, parse_tts
from lorakeet.gateway_bridge.simulator import chirpstack_uplink_body, sim_dev_eui
from lorakeet.storage.influx_store import InfluxStore
from lorakeet.storage.records import DeviceKey, StoredUplink, Uplink
from lorakeet.storage.registry import DeviceChanges, Registry
from lorakeet.storage.sqlite_store import SqliteStore

FIXTURES = Path(__file__).parent / "fixtures"
T0 = 1_700_000_000_000_000_000
SECOND = 1_000_000_000


def _fill(store: SqliteStore | InfluxStore, n: int) -> None:
    """``n`` uplinks of bins-town.bin-001 a minute apart, each with fill_pct, and a text key on the first."""
    batch = []
    for i in range(n):
        readings = [Reading("fill_pct", float(i), "%")]
        if i == 0:
            readings.append(Reading("status", "ok", ""))
        up = Uplink("ttn", "bins-town", "bin-001", T0 + i * 60 * SECOND, 1, i + 1, bytes([i]))
        batch.append(StoredUplink(up, "bin", "test", tuple(readings)))
    store.write(batch)


@pytest.fixture
def sqlite_env(monkeypatch: pytest.MonkeyPatch, sqlite_store: SqliteStore, tmp_path: Path) -> SqliteStore:
    monkeypatch.setenv("LORAKEET_STORE__KIND", "sqlite")
    monkeypatch.setenv("LORAKEET_STORE__SQLITE_PATH", sqlite_store.path)
    monkeypatch.setenv("LORAKEET_REGISTRY_URL", f"sqlite:///{tmp_path / 'registry.db'}")
    return sqlite_store


def test_export_csv_pages_through_time(sqlite_env: SqliteStore) -> None:
    _fill(sqlite_env, 7)
    result = CliRunner().invoke(
        app,
        [
            "export",
            "bins-town.bin-001",
            "--start",
            "2023-11-01T00:00:00Z",
            "--end",
            "2023-12-01T00:00:00Z",
            "--page-size",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["time", "fill_pct", "status"]
    assert [r[1] for r in rows[1:]] == [str(float(i)) for i in range(7)]
    assert rows[1][0] == "2023-11-14T22:13:20.000000000Z"
    assert rows[1][2] == "ok" and rows[2][2] == ""
    assert "exported 7 points" in result.stderr


def test_export_csv_escapes_text_a_spreadsheet_would_run(sqlite_env: SqliteStore) -> None:
    up = Uplink("ttn", "bins-town", "bin-001", T0, 1, 1, b"\x00")
    formula = '=HYPERLINK("https://evil.example","open")'
    sqlite_env.write(
        [StoredUplink(up, "bin", "test", (Reading("fill_pct", -4.5, "%"), Reading("status", formula, "")))]
    )
    result = CliRunner().invoke(
        app,
        ["export", "bins-town.bin-001", "--start", "2023-11-01T00:00:00Z", "--end", "2023-12-01T00:00:00Z"],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[1][1:] == ["-4.5", "'" + formula]  # numbers stay numbers, the formula is shown, not run


def test_export_ndjson_to_file_and_time_window(sqlite_env: SqliteStore, tmp_path: Path) -> None:
    _fill(sqlite_env, 5)
    out = tmp_path / "out.ndjson"
    start = "2023-11-14T22:14:20Z"  # the second point, inclusive
    end = "2023-11-14T22:17:20Z"  # the fifth, exclusive
    result = CliRunner().invoke(
        app,
        [
            "export",
            "bins-town.bin-001",
            "--format",
            "ndjson",
            "--output",
            str(out),
            "--start",
            start,
            "--end",
            end,
        ],
    )
    assert result.exit_code == 0, result.output
    docs = [orjson.loads(line) for line in out.read_text().splitlines()]
    assert [d["values"]["fill_pct"] for d in docs] == [1.0, 2.0, 3.0]
    assert docs[0] == {
        "device": "bins-town.bin-001",
        "time": "2023-11-14T22:14:20.000000000Z",
        "time_ns": T0 + 60 * SECOND,
        "values": {"fill_pct": 1.0},
    }


@pytest.mark.services
def test_export_from_influxdb(monkeypatch: pytest.MonkeyPatch, influx_store: InfluxStore) -> None:
    _fill(influx_store, 4)
    monkeypatch.setenv("LORAKEET_STORE__KIND", "influxdb")
    monkeypatch.setenv("LORAKEET_STORE__INFLUX_URL", influx_store.url)
    monkeypatch.setenv("LORAKEET_STORE__INFLUX_DATABASE", influx_store.database)
    result = CliRunner().invoke(
        app,
        [
            "export",
            "bins-town.bin-001",
            "--format",
            "csv",
            "--start",
            "2023-11-01T00:00:00Z",
            "--end",
            "2023-12-01T00:00:00Z",
            "--page-size",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [float(r["fill_pct"]) for r in rows] == [0.0, 1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bins-town"], "application_id.device_id"),
        (["bins-town.bin-001", "--format", "xml"], "csv or ndjson"),
        (["bins-town.bin-001", "--start", "-1d", "--end", "-2d"], "after --start"),
    ],
)
def test_export_rejects_bad_arguments(sqlite_env: SqliteStore, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["export", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_import_csv_creates_updates_and_skips(sqlite_env: SqliteStore, tmp_path: Path) -> None:
    reg = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    owner = reg.create_account("Town crew", "crew@example.org")
    other = reg.create_account("Other", "other@example.org")
    reg.ensure_device(DeviceKey("bins-town", "bin-002"))  # auto-registered by the bridge: updated
    reg.create_device(DeviceKey("bins-town", "bin-003"), DeviceChanges(owner_id=other.id, kind="bin"))
    f = tmp_path / "devices.csv"
    f.write_text(
        "application_id,device_id,dev_eui,name,kind,decoder,latitude,longitude,bin_depth_m\n"
        "bins-town,bin-001,70B3D57ED0050101,Market square,bin,lorakeet_bin,51.92,4.48,1.2\n"
        "bins-town,bin-002,,,,,,,\n"
        "bins-town,bin-003,,,,,,,\n"
        "bins-town,bin-004,XYZ,,,,,,\n"
        "bins-town,bin-005,,,lamp,,,,\n"
        "bins-town,bin-006,,,,,91,4,\n"
        "bins-town,bin-001,,,,,,,\n"
        "Bins Town,bin-007,,,,,,,\n"
    )
    result = CliRunner().invoke(
        app, ["devices", "import", str(f), "--kind", "bin", "--owner-email", "Crew@example.org"]
    )
    assert result.exit_code == 0, result.output
    assert "created 1, updated 1, skipped 6" in result.stderr
    for reason in (
        "owned by another account",
        "16 hex digits",
        "'lamp' is not one of",
        "latitude 91.0 is out of range",
        "appears earlier",
        "not a valid id",
    ):
        assert reason in result.stderr
    row = reg.get_row(DeviceKey("bins-town", "bin-001"))
    assert row is not None
    assert (row.name, row.kind, row.decoder, row.dev_eui, row.owner_id) == (
        "Market square",
        "bin",
        "lorakeet_bin",
        "70b3d57ed0050101",
        owner.id,
    )
    assert (row.latitude, row.longitude, row.metadata) == (51.92, 4.48, {"bin_depth_m": 1.2})
    claimed = reg.get_row(DeviceKey("bins-town", "bin-002"))
    assert claimed is not None
    assert (claimed.kind, claimed.owner_id, claimed.source) == ("bin", owner.id, "registered")
    untouched = reg.get_row(DeviceKey("bins-town", "bin-003"))
    assert untouched is not None and untouched.owner_id == other.id
    reg.close()


def test_import_ttn_lw_cli_json(sqlite_env: SqliteStore, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["devices", "import", str(FIXTURES / "ttnlwcli_end_devices_list.json"), "--decoder", "lorakeet_bin"],
    )
    assert result.exit_code == 0, result.output
    assert "created 2, updated 0, skipped 1" in result.stderr
    reg = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    try:
        bin_ = reg.get_row(DeviceKey("bins-town", "bin-101"))
        light = reg.get_row(DeviceKey("bins-town", "light-7"))
        assert bin_ is not None and light is not None
        assert (bin_.name, bin_.kind, bin_.latitude, bin_.longitude) == (
            "Bin at the market square",
            "bin",
            51.9225,
            4.4792,
        )
        assert (
            bin_.metadata == {"bin_depth_m": 1.1} and bin_.decoder == "lorakeet_bin" and bin_.owner_id is None
        )
        assert (light.kind, light.dev_eui, light.latitude) == ("other", "70b3d57ed0050107", None)
    finally:
        reg.close()
    again = CliRunner().invoke(app, ["devices", "import", str(FIXTURES / "ttnlwcli_end_devices_list.json")])
    assert "created 0, updated 2, skipped 1" in again.stderr


def test_import_unknown_owner_and_bad_file(sqlite_env: SqliteStore, tmp_path: Path) -> None:
    f = tmp_path / "d.csv"
    f.write_text("application_id,device_id\nbins-town,bin-001\n")
    result = CliRunner().invoke(app, ["devices", "import", str(f), "--owner-email", "nobody@example.org"])
    assert result.exit_code == 2 and "no account" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name\n1,x\n")
    result = CliRunner().invoke(app, ["devices", "import", str(bad)])
    assert result.exit_code == 1 and "lacks application_id, device_id" in result.stderr


def test_chirpstack_body_parses_as_chirpstack_v4() -> None:
    eui = sim_dev_eui("bin-001")
    body = chirpstack_uplink_body(
        "lorakeet-demo",
        eui,
        b"\x01\x02",
        f_port=10,
        f_cnt=3,
        received_at_ns=T0,
        rssi=-80,
        snr=5.5,
        spreading_factor=9,
    )
    up = parse_chirpstack(body)
    assert isinstance(up, Uplink)
    assert (up.application_id, up.device_id, up.dev_eui) == ("lorakeet-demo", eui.lower(), eui.lower())
    assert (up.f_port, up.f_cnt, up.payload, up.received_at_ns) == (10, 3, b"\x01\x02", T0)
    assert (up.rssi, up.snr, up.spreading_factor, up.frequency) == (-80, 5.5, 9, 868_100_000)
    zero = parse_chirpstack(chirpstack_uplink_body("app", eui, b""))
    assert isinstance(zero, Uplink) and (zero.f_cnt, zero.payload) == (0, b"")


class _Recorder(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str | None, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers.get("X-Lorakeet-Secret"), body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def webhook_server() -> Iterator[tuple[str, list[tuple[str, str | None, bytes]]]]:
    received: list[tuple[str, str | None, bytes]] = []
    handler = type("Handler", (_Recorder,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/ingest/ttn", received
    server.shutdown()
    server.server_close()


def test_simulate_posts_ttn_bodies_to_a_webhook(
    webhook_server: tuple[str, list[tuple[str, str | None, bytes]]],
) -> None:
    url, received = webhook_server
    args = [
        "simulate",
        "--webhook",
        url,
        "--secret",
        "s3cret",
        "--bins",
        "2",
        "--boats",
        "1",
        "--lights",
        "1",
        "--seconds",
        "0.6",
        "--application",
        "town",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "published 4 uplinks" in result.stderr
    assert {path for path, _, _ in received} == {"/v1/ingest/ttn"}
    assert {secret for _, secret, _ in received} == {"s3cret"}
    ups = [parse_tts(body) for _, _, body in received]
    assert sorted(u.device_id for u in ups if isinstance(u, Uplink)) == [
        "bin-001",
        "bin-002",
        "boat-01",
        "light-001",
    ]


def test_simulate_webhook_failures_exit_non_zero() -> None:
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--webhook",
            "http://127.0.0.1:9/x",
            "--bins",
            "1",
            "--boats",
            "0",
            "--lights",
            "0",
            "--seconds",
            "0.3",
        ],
    )
    assert result.exit_code == 1
    assert "1 uplinks failed: ConnectError" in result.stderr


def test_simulate_rejects_chirpstack_webhook() -> None:
    result = CliRunner().invoke(
        app, ["simulate", "--webhook", "http://127.0.0.1:9/x", "--format", "chirpstack"]
    )
    assert result.exit_code == 2 and "TTN bodies only" in result.output


@pytest.mark.services
def test_simulate_publishes_chirpstack_events(broker: LocalBroker) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    got: list[tuple[str, bytes]] = []
    subscribed = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-sub")
    sub.on_message = lambda _c, _u, m: got.append((m.topic, bytes(m.payload)))
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.on_connect = lambda c, *_: c.subscribe("application/+/device/+/event/up", qos=1)
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    try:
        assert subscribed.wait(5)
        result = CliRunner().invoke(
            app,
            [
                "simulate",
                "--broker",
                broker.url,
                "--format",
                "chirpstack",
                "--application",
                "cs-app",
                "--bins",
                "1",
                "--boats",
                "1",
                "--lights",
                "0",
                "--seconds",
                "0.5",
            ],
        )
        assert result.exit_code == 0, result.output
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sub.disconnect()
        sub.loop_stop()
    assert len(got) == 2
    for topic, body in got:
        up = parse_chirpstack(body)
        assert isinstance(up, Uplink)
        assert topic == f"application/cs-app/device/{up.device_id}/event/up"
    assert {t for t, _ in got} == {
        f"application/cs-app/device/{sim_dev_eui(d).lower()}/event/up" for d in ("bin-001", "boat-01")
    }
