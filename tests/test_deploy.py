"""The deployment files: compose, Mosquitto, InfluxDB set-up, Grafana provisioning and dashboards.

There is no Docker engine in CI, so nothing here builds or starts a container. Instead:
docker-compose (Debian's 1.29) validates docker-compose.yml with and without .env.example;
the YAML is checked for what the services need (one image, healthchecks, v2 InfluxDB, every
LORAKEET_* variable a real setting); deploy/mosquitto/mosquitto.conf starts a real
Mosquitto that refuses anonymous clients and admits the password-file user; every Grafana
dashboard parses, and every InfluxQL query in it names only the ``reading``/``uplink``
measurements and fields Lorakeet writes, and runs without error on a real InfluxDB filled
by the real store; the configuration reference in docs/deployment.md is the output of
scripts/gen_config_docs.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lorakeet.config_check import check_mqtt
from lorakeet.config_docs import describe_fields
from lorakeet.decoders import QUANTITIES, Reading, is_valid_key
from lorakeet.gateway_bridge.broker import free_port, wait_for_port
from lorakeet.settings import MqttSettings
from lorakeet.storage.influx_store import InfluxStore
from lorakeet.storage.line_protocol import uplink_lines
from lorakeet.storage.records import StoredUplink, Uplink

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DEPLOY = ROOT / "deploy"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
DATASOURCE_UID = "lorakeet-influxdb"
TAGS = frozenset({"application_id", "device_id", "kind"})
SETTINGS_ENV = frozenset(f.env for f in describe_fields())


def _uplink(**kw: Any) -> Uplink:
    base: dict[str, Any] = {
        "source": "ttn",
        "application_id": "app",
        "device_id": "dev",
        "received_at_ns": 1,
        "f_port": 1,
        "f_cnt": 1,
        "payload": b"\x01",
    }
    return Uplink(**{**base, **kw})


def _uplink_fields() -> frozenset[str]:
    """Every field the writer can put in the ``uplink`` measurement (all optional parts set)."""
    full = StoredUplink(
        _uplink(
            rssi=-80.0,
            snr=7.5,
            spreading_factor=9,
            frequency=868100000,
            gateways=("gw",),
            network_decoded={"a": 1},
        ),
        kind="bin",
        decoder="d",
        warnings=("w",),
        decode_error="e",
    )
    line = next(x for x in uplink_lines(full) if x.startswith("uplink,"))
    fields = line.split(" ")[1]
    return frozenset(kv.split("=", 1)[0] for kv in fields.split(","))


UPLINK_FIELDS = _uplink_fields()


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return doc


# -- docker-compose.yml ------------------------------------------------------------------------


def _docker_compose() -> str:
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose is not installed: apt-get install docker-compose (scripts/test does this)"
    return exe


@pytest.mark.parametrize("env_file", [None, ".env.example"])
def test_compose_file_validates(env_file: str | None) -> None:
    cmd = [_docker_compose(), "-f", "docker-compose.yml"]
    if env_file:
        cmd += ["--env-file", env_file]
    proc = subprocess.run([*cmd, "config", "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_compose_services() -> None:
    doc = compose()
    assert "version" not in doc, "compose-spec file: no version key"
    services = doc["services"]
    assert {"lorakeet-bridge", "lorakeet-api", "influxdb", "grafana", "mosquitto"} <= set(services)
    bridge, api = services["lorakeet-bridge"], services["lorakeet-api"]
    assert bridge["build"] == api["build"] == "." and bridge["image"] == api["image"]
    assert bridge["command"] == ["lorakeet", "bridge"]
    assert api["command"][:4] == ["lorakeet", "api", "--host", "0.0.0.0"]
    for name, svc in services.items():
        assert "healthcheck" in svc, f"{name} has no healthcheck"
    for name in ("lorakeet-bridge", "lorakeet-api"):
        env = services[name]["environment"]
        assert env["LORAKEET_STORE__KIND"] == "influxdb"
        assert env["LORAKEET_STORE__INFLUX_API"] == "v2"
        assert "LORAKEET_STORE__INFLUX_TOKEN" in env
        unknown = {k for k in env if k.startswith("LORAKEET_")} - SETTINGS_ENV
        assert not unknown, f"{name}: not Lorakeet settings (typo?): {sorted(unknown)}"
    influx_env = services["influxdb"]["environment"]
    assert influx_env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    for key in ("ORG", "BUCKET", "ADMIN_TOKEN", "USERNAME", "PASSWORD"):
        assert f"DOCKER_INFLUXDB_INIT_{key}" in influx_env
    assert "./deploy/influxdb/init:/docker-entrypoint-initdb.d:ro" in services["influxdb"]["volumes"]
    grafana_vols = services["grafana"]["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana_vols
    assert "./deploy/grafana/dashboards:/etc/grafana/dashboards:ro" in grafana_vols


def test_env_example_covers_compose() -> None:
    text = "\n".join(ln for ln in COMPOSE.read_text().splitlines() if not ln.lstrip().startswith("#"))
    used = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", text))
    example = (ROOT / ".env.example").read_text()
    defined = set(re.findall(r"(?m)^#?([A-Z][A-Z0-9_]*)=", example))
    assert used - defined == set(), "variables docker-compose.yml uses but .env.example does not show"
    unknown = {v for v in defined if v.startswith("LORAKEET_")} - SETTINGS_ENV
    assert not unknown, f".env.example: not Lorakeet settings: {sorted(unknown)}"


def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"(?m)^FROM python:3\.11-slim\s*$", text)
    assert "pip install ." in text
    users = re.findall(r"(?m)^USER\s+(\S+)", text)
    assert users and users[-1] not in ("root", "0")
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".env"} <= set(ignore)


def test_influx_init_script() -> None:
    scripts = sorted((DEPLOY / "influxdb" / "init").glob("*.sh"))
    assert scripts
    text = "".join(s.read_text() for s in scripts)
    assert "influx v1 dbrp create" in text and "DOCKER_INFLUXDB_INIT_BUCKET_ID" in text
    for s in scripts:
        assert os.access(s, os.X_OK), f"{s} must be executable (the image skips it otherwise)"
        subprocess.run(["bash", "-n", str(s)], check=True)


# -- Mosquitto ---------------------------------------------------------------------------------


@pytest.fixture
def deploy_broker() -> Iterator[int]:
    """deploy/mosquitto/mosquitto.conf on a real Mosquitto (listener and paths made local)."""
    exe, passwd_exe = shutil.which("mosquitto"), shutil.which("mosquitto_passwd")
    assert exe and passwd_exe, "apt-get install mosquitto"
    conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
    for directive in (
        "allow_anonymous false",
        "password_file",
        "persistence true",
        "max_queued_messages",
        "max_inflight_messages",
    ):
        assert re.search(rf"(?m)^{directive}", conf), directive
    queued = int(re.search(r"(?m)^max_queued_messages (\d+)", conf).group(1))  # type: ignore[union-attr]
    assert queued > 1000, "the default 1000 silently drops messages"
    d = Path(tempfile.mkdtemp(prefix="lorakeet-deploy-broker-"))
    os.chmod(d, 0o777)  # Mosquitto started as root runs as user "mosquitto"
    subprocess.run([passwd_exe, "-c", "-b", str(d / "passwd"), "lorakeet", "s3cret"], check=True)
    os.chmod(d / "passwd", 0o644)
    port = free_port()
    assert re.search(r"(?m)^listener 1883$", conf)
    conf = re.sub(r"(?m)^listener 1883$", f"listener {port} 127.0.0.1", conf)
    conf = conf.replace("/mosquitto/config/passwd", str(d / "passwd")).replace("/mosquitto/data/", f"{d}/")
    conf = conf.replace("log_dest stdout", f"log_dest file {d}/mosquitto.log")
    (d / "mosquitto.conf").write_text(conf)
    os.chmod(d / "mosquitto.conf", 0o644)
    proc = subprocess.Popen(
        [exe, "-c", str(d / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        try:
            wait_for_port(port)
        except TimeoutError:
            proc.kill()
            raise AssertionError(f"mosquitto did not start: {proc.communicate()[1]!r}") from None
        yield port
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(d, ignore_errors=True)


def test_mosquitto_conf_runs_with_password_auth(deploy_broker: int) -> None:
    url = f"mqtt://127.0.0.1:{deploy_broker}"
    anonymous = check_mqtt(MqttSettings(url=url), timeout=3)
    assert not anonymous.ok and "authentication failure" in anonymous.detail
    user = check_mqtt(MqttSettings(url=url, username="lorakeet", password="s3cret"), timeout=3)  # type: ignore[arg-type]
    assert user.ok, user.detail


# -- Grafana -----------------------------------------------------------------------------------


def test_datasource_provisioning() -> None:
    files = sorted((DEPLOY / "grafana" / "provisioning" / "datasources").glob("*.yml"))
    assert files
    sources = [ds for f in files for ds in yaml.safe_load(f.read_text())["datasources"]]
    (ds,) = [s for s in sources if s["uid"] == DATASOURCE_UID]
    assert ds["type"] == "influxdb"
    assert ds["jsonData"]["version"] == "InfluxQL"
    assert ds["jsonData"]["dbName"]
    assert ds["jsonData"]["httpHeaderName1"] == "Authorization"
    assert ds["secureJsonData"]["httpHeaderValue1"].startswith("Token ")
    # every ${VAR} the file uses is given to the grafana container
    grafana_env = compose()["services"]["grafana"]["environment"]
    for f in files:
        for var in re.findall(r"\$\{([A-Z0-9_]+)\}", f.read_text()):
            assert var in grafana_env, f"{f.name} uses ${{{var}}}, not set for grafana"


def test_dashboard_provider_points_at_the_mount() -> None:
    files = sorted((DEPLOY / "grafana" / "provisioning" / "dashboards").glob("*.yml"))
    assert files
    providers = [p for f in files for p in yaml.safe_load(f.read_text())["providers"]]
    assert [p["options"]["path"] for p in providers] == ["/etc/grafana/dashboards"]


def _targets(dash: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, InfluxQL) for every panel target and every query variable."""
    for panel in dash["panels"]:
        for t in panel.get("targets", []):
            yield f"{dash['uid']}/{panel['title']}/{t['refId']}", t["query"]
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v["query"] if isinstance(v["query"], str) else v["query"]["query"]
            yield f"{dash['uid']}/${v['name']}", q


def _dashboards() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in DASHBOARDS]


def test_dashboards_parse_and_are_complete() -> None:
    assert {p.stem for p in DASHBOARDS} >= {"bins", "streetlights", "boats", "network"}
    uids = set()
    for path, dash in zip(DASHBOARDS, _dashboards(), strict=True):
        assert dash.get("title") and dash.get("uid") and dash.get("panels"), path.name
        assert len(dash["uid"]) <= 40
        uids.add(dash["uid"])
        ids = [p["id"] for p in dash["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for panel in dash["panels"]:
            assert panel.get("title") and panel.get("gridPos"), f"{path.name}: {panel}"
            assert panel["datasource"]["uid"] == DATASOURCE_UID
            assert panel["targets"], f"{path.name}/{panel['title']} has no query"
            for t in panel["targets"]:
                assert t.get("rawQuery") is True and t.get("query")
    assert len(uids) == len(DASHBOARDS)
    panels = {p.stem: json.loads(p.read_text())["panels"] for p in DASHBOARDS}
    assert any(p["type"] == "geomap" for p in panels["boats"])
    queries = {p.stem: " ".join(q for _, q in _targets(json.loads(p.read_text()))) for p in DASHBOARDS}
    for stem, needed in {
        "bins": ("fill_pct",),
        "streetlights": ("lamp_on", "power", "energy", "lamp_fault"),
        "boats": ("latitude", "longitude", "speed"),
        "network": ("rssi", "snr", "gateway_count", "decode_error"),
    }.items():
        for field in needed:
            assert f'"{field}"' in queries[stem], f"{stem} dashboard does not show {field}"


_FUNC_ARG = re.compile(r"\b(\w+)\(\s*([A-Za-z_]\w*)\s*\)")


def test_dashboard_queries_use_only_our_measurements_and_fields() -> None:
    problems: list[str] = []
    for dash in _dashboards():
        for where, q in _targets(dash):
            measurements = set(re.findall(r'\bFROM\s+"?([A-Za-z_]\w*)"?', q, re.I))
            if not measurements or not measurements <= {"reading", "uplink"}:
                problems.append(f"{where}: measurements {sorted(measurements)}")
                continue
            if len(measurements) > 1:
                problems.append(f"{where}: mixes reading and uplink")
                continue
            (m,) = measurements
            for func, arg in _FUNC_ARG.findall(q):
                if func.lower() not in ("fill", "time"):
                    problems.append(f"{where}: unquoted identifier {arg!r}: quote every field")
            for alias, ident in re.findall(r'(\bAS\s+)?"([^"]+)"', q, re.I):
                if ident in TAGS or ident == m:
                    continue
                valid = is_valid_key(ident) if m == "reading" else ident in UPLINK_FIELDS
                if not valid:
                    kind = "alias" if alias else "field"
                    problems.append(f"{where}: {kind} {ident!r} is not a {m} field")
    assert not problems, "\n".join(problems)


def _fill(store: InfluxStore) -> None:
    """A few uplinks of each kind, over the last two hours, through the real writer."""
    now = time.time_ns()
    hour = 3_600_000_000_000

    def r(key: str, value: float | bool) -> Reading:
        return Reading(key, value, QUANTITIES[key].unit)

    batch: list[StoredUplink] = []
    for i, t in enumerate((now - 2 * hour, now - hour, now - 60_000_000_000)):
        common = {"received_at_ns": t, "f_cnt": i, "rssi": -90.0 - i, "snr": 5.0, "spreading_factor": 9}
        batch += [
            StoredUplink(
                _uplink(device_id="bin-1", gateways=("gw1", "gw2"), **common),
                kind="bin",
                decoder="dragino_ldds75",
                readings=(
                    r("fill_pct", 85.0),
                    r("distance", 0.2),
                    r("battery_voltage", 3.6),
                    r("temperature", 12.0),
                    r("full_alarm", True),
                    r("fire_alarm", True),
                    r("tilt_alarm", True),
                ),
            ),
            StoredUplink(
                _uplink(device_id="lamp-1", gateways=("gw1",), **common),
                kind="streetlight",
                decoder="cayenne_lpp",
                readings=(
                    r("lamp_on", True),
                    r("lamp_fault", True),
                    r("power_fault", False),
                    r("fault", False),
                    r("dim_level", 70.0),
                    r("power", 42.0),
                    r("energy", 100.0 + i),
                ),
            ),
            StoredUplink(
                _uplink(device_id="boat-1", gateways=("gw2",), **common),
                kind="boat",
                decoder="dragino_lgt92",
                readings=(
                    r("latitude", 52.37),
                    r("longitude", 4.9),
                    r("speed", 7.0),
                    r("heading", 90.0),
                    r("battery_voltage", 3.9),
                ),
            ),
            StoredUplink(
                _uplink(device_id="bin-2", **common),
                kind="bin",
                decoder="dragino_ldds75",
                decode_error="payload too short",
            ),
        ]
    store.write(batch)


def _concrete(q: str) -> str:
    q = q.replace("$timeFilter", "time > now() - 6h").replace("$__interval", "10m")
    return re.sub(r"\$(application|device|kind)\b", ".*", q)


def test_dashboard_queries_run_on_real_influxdb(influx_store: InfluxStore) -> None:
    _fill(influx_store)
    empty: list[str] = []
    for dash in _dashboards():
        for where, q in _targets(dash):
            results = influx_store.query(_concrete(q))  # raises StoreError on any InfluxQL error
            if not any(res.get("series") for res in results):
                empty.append(where)
    assert not empty, f"queries that found nothing in data that should match: {empty}"


# -- docs --------------------------------------------------------------------------------------


def test_config_reference_in_docs_is_current() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_config_docs.py")],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    docs = (ROOT / "docs" / "deployment.md").read_text()
    assert out.strip() in docs, (
        "docs/deployment.md is out of date with lorakeet/settings.py: "
        "paste the output of `.venv/bin/python scripts/gen_config_docs.py` into it"
    )
    for env in SETTINGS_ENV:
        assert env in out
