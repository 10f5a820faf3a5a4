"""``lorakeet config check`` against real services.

Runs the real command (through the top-level CLI, so its registration is tested too) with
LORAKEET_* variables pointing at a private Mosquitto, a private InfluxDB 1.x and a SQLite
registry: all OK gives exit 0. Then each kind of fault the command promises to name: an
InfluxDB URL on a closed port, an InfluxDB that refuses the credentials, an MQTT port with
nothing listening, a broker that refuses the password, TLS spoken to a plain port, a
missing DBRP mapping, an unreachable registry. Each gives exit 1, OK/FAIL per connection,
and a "what to fix" line naming the variable to change. Secrets never appear in the output.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lorakeet.cli import app
from lorakeet.gateway_bridge.broker import LocalBroker, free_port, wait_for_port
from lorakeet.storage.influx_store import InfluxStore

from .services import InfluxServer

pytestmark = pytest.mark.services

runner = CliRunner()


def run_check(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["config", "check", "--timeout", "3", *args], env=env)
    return result.exit_code, result.output


@pytest.fixture(autouse=True)
def _no_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read ``.env`` from the working directory: run where there is none."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("LORAKEET_"):
            monkeypatch.delenv(name)


@pytest.fixture
def influx_db(influx_server: InfluxServer) -> str:
    store = InfluxStore(influx_server.url, influx_server.new_database())
    store.create_database()
    store.close()
    return store.database


@pytest.fixture
def good_env(
    tmp_path: Path, broker: LocalBroker, influx_server: InfluxServer, influx_db: str
) -> dict[str, str]:
    return {
        "LORAKEET_MQTT__URL": broker.url,
        "LORAKEET_MQTT__USERNAME": "bridge",
        "LORAKEET_MQTT__PASSWORD": "mqtt-secret-123",
        "LORAKEET_STORE__KIND": "influxdb",
        "LORAKEET_STORE__INFLUX_URL": influx_server.url,
        "LORAKEET_STORE__INFLUX_DATABASE": influx_db,
        "LORAKEET_STORE__INFLUX_USERNAME": "writer",
        "LORAKEET_STORE__INFLUX_PASSWORD": "influx-secret-456",
        "LORAKEET_REGISTRY_URL": f"sqlite:///{tmp_path / 'registry.db'}",
    }


def status_lines(output: str) -> dict[str, str]:
    """``{"MQTT broker": "OK", "store (...)": "FAIL", ...}`` from the result lines."""
    found = re.findall(r"^(OK|FAIL)\s+(MQTT broker|store \([^)]*\)|registry database)", output, re.M)
    return {name: mark for mark, name in found}


def test_all_ok_exit_0_and_secrets_masked(good_env: dict[str, str], influx_db: str) -> None:
    code, out = run_check(good_env)
    assert code == 0, out
    assert status_lines(out) == {
        "MQTT broker": "OK",
        "store (InfluxDB, v1 API)": "OK",
        "registry database": "OK",
    }
    assert "all checks passed" in out
    assert "LORAKEET_STORE__INFLUX_DATABASE" in out and influx_db in out  # the settings table
    assert "mqtt-secret-123" not in out and "influx-secret-456" not in out
    assert "******" in out


def test_sqlite_store_and_registry_ok(tmp_path: Path, broker: LocalBroker) -> None:
    env = {
        "LORAKEET_MQTT__URL": broker.url,
        "LORAKEET_STORE__SQLITE_PATH": str(tmp_path / "new" / "readings.db"),
        "LORAKEET_REGISTRY_URL": f"sqlite:///{tmp_path / 'registry.db'}",
    }
    code, out = run_check(env, "--quiet")
    assert code == 0, out
    assert status_lines(out) == {"MQTT broker": "OK", "store (SQLite)": "OK", "registry database": "OK"}
    assert "variable" not in out  # --quiet: no table
    assert not (tmp_path / "new").exists(), "the check must not create the store"


def test_wrong_influx_url_names_it(good_env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out = run_check({**good_env, "LORAKEET_STORE__INFLUX_URL": url})
    assert code == 1, out
    assert status_lines(out)["store (InfluxDB, v1 API)"] == "FAIL"
    assert status_lines(out)["MQTT broker"] == "OK"
    line = next(x for x in out.splitlines() if x.startswith("FAIL"))
    assert url in line and "connection refused" in line
    fix = next(x for x in out.splitlines() if "what to fix" in x)
    assert url in fix and "LORAKEET_STORE__INFLUX_URL" in fix


def test_missing_dbrp_mapping_on_v2(good_env: dict[str, str]) -> None:
    # InfluxDB 1.x answers "database not found" just as 2.x does without a DBRP mapping.
    env = {**good_env, "LORAKEET_STORE__INFLUX_API": "v2", "LORAKEET_STORE__INFLUX_DATABASE": "nope"}
    code, out = run_check(env, "--quiet")
    assert code == 1, out
    assert "influx v1 dbrp create" in out


def test_missing_database_on_v1_is_ok(good_env: dict[str, str]) -> None:
    code, out = run_check({**good_env, "LORAKEET_STORE__INFLUX_DATABASE": "not_yet"}, "--quiet")
    assert code == 0, out
    assert "does not exist yet" in out


class AuthInfluxServer(InfluxServer):
    """InfluxDB 1.x with authentication switched on (and no users)."""

    def _config(self) -> str:
        conf = super()._config()
        return re.sub(r"(?ms)(^\[http\].*?)auth-enabled = false", r"\1auth-enabled = true", conf, count=1)


@pytest.fixture
def auth_influx() -> Iterator[InfluxServer]:
    server = AuthInfluxServer().start()
    yield server
    server.close()


def test_influx_credentials_refused(good_env: dict[str, str], auth_influx: InfluxServer) -> None:
    code, out = run_check({**good_env, "LORAKEET_STORE__INFLUX_URL": auth_influx.url}, "--quiet")
    assert code == 1, out
    assert "refused the credentials" in out
    assert "LORAKEET_STORE__INFLUX_TOKEN" in out and "LORAKEET_STORE__INFLUX_USERNAME" in out


def test_mqtt_connection_refused(good_env: dict[str, str]) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"
    code, out = run_check({**good_env, "LORAKEET_MQTT__URL": url}, "--quiet")
    assert code == 1, out
    assert status_lines(out)["MQTT broker"] == "FAIL"
    assert "connection refused" in out
    assert f"LORAKEET_MQTT__URL (now {url})" in out


def test_mqtt_tls_to_plain_port(good_env: dict[str, str], broker: LocalBroker) -> None:
    env = {**good_env, "LORAKEET_MQTT__URL": f"mqtts://127.0.0.1:{broker.port}"}
    code, out = run_check(env, "--quiet", "--skip", "store", "--skip", "registry")
    assert code == 1, out
    assert status_lines(out) == {"MQTT broker": "FAIL"}
    assert "TLS failure" in out


@pytest.fixture
def password_broker() -> Iterator[int]:
    """Mosquitto with a password file (user ``bridge``, password ``right``) and no anonymous access."""
    exe, passwd_exe = shutil.which("mosquitto"), shutil.which("mosquitto_passwd")
    assert exe and passwd_exe, "apt-get install mosquitto"
    # Mosquitto started as root reads the password file as user "mosquitto", which cannot
    # enter pytest's 0700 tmp_path: use a world-readable temp dir of our own.
    d = Path(tempfile.mkdtemp(prefix="lorakeet-authbroker-"))
    os.chmod(d, 0o755)
    passwd = d / "passwd"
    subprocess.run([passwd_exe, "-c", "-b", str(passwd), "bridge", "right"], check=True, capture_output=True)
    os.chmod(passwd, 0o644)
    port = free_port()
    conf = d / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwd}\n")
    os.chmod(conf, 0o644)
    proc = subprocess.Popen(
        [exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_for_port(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(d, ignore_errors=True)


def test_mqtt_auth_failure_and_success(good_env: dict[str, str], password_broker: int) -> None:
    base = {**good_env, "LORAKEET_MQTT__URL": f"mqtt://127.0.0.1:{password_broker}"}
    only_mqtt = ("--quiet", "--skip", "store", "--skip", "registry")
    code, out = run_check({**base, "LORAKEET_MQTT__PASSWORD": "wrong"}, *only_mqtt)
    assert code == 1, out
    assert "authentication failure" in out
    assert "LORAKEET_MQTT__USERNAME" in out and "LORAKEET_MQTT__PASSWORD" in out
    code, out = run_check({**base, "LORAKEET_MQTT__PASSWORD": "right"}, *only_mqtt)
    assert code == 0, out
    assert "connected as bridge" in out


def test_registry_unreachable(good_env: dict[str, str]) -> None:
    url = f"postgresql://lorakeet:pg-secret-789@127.0.0.1:{free_port()}/lorakeet"
    code, out = run_check({**good_env, "LORAKEET_REGISTRY_URL": url})
    assert code == 1, out
    assert status_lines(out)["registry database"] == "FAIL"
    assert "LORAKEET_REGISTRY_URL" in out
    assert "pg-secret-789" not in out


def test_invalid_setting_names_the_variable() -> None:
    code, out = run_check({"LORAKEET_MQTT__URL": "http://nope"})
    assert code == 1, out
    assert "LORAKEET_MQTT__URL" in out


def test_show_masks_secrets() -> None:
    result = runner.invoke(app, ["config", "show"], env={"LORAKEET_STORE__INFLUX_TOKEN": "tok-secret"})
    assert result.exit_code == 0, result.output
    assert "tok-secret" not in result.output
    assert "LORAKEET_STORE__INFLUX_TOKEN" in result.output
