"""Connection checks behind ``lorakeet config check``: the MQTT broker, the readings store and the
registry database, each OK or FAIL with a line saying what to fix. They change nothing: no data
is written, no database created, and MQTT uses its own client id, so they run next to a live
bridge.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from lorakeet.config_docs import mask_url
from lorakeet.settings import MqttSettings, Settings, StoreSettings

# -- the settings as rows ------------------------------------------------------------------


# -- connection checks ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of trying one connection."""

    name: str
    target: str
    ok: bool
    detail: str
    fix: str = ""


def check_mqtt(cfg: MqttSettings, timeout: float = 5.0) -> CheckResult:
    """Connect to the broker with the bridge's credentials and a throw-away client id."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    name, target = "MQTT broker", cfg.url
    url_fix = f"start the broker or set LORAKEET_MQTT__URL (now {cfg.url})"
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"lorakeet-config-check-{secrets.token_hex(4)}",
        protocol=mqtt.MQTTv311,
        clean_session=True,
    )
    client.connect_timeout = timeout
    if cfg.username:
        client.username_pw_set(cfg.username, cfg.password.get_secret_value() if cfg.password else None)
    if cfg.tls:
        client.tls_set(ca_certs=str(cfg.ca_file) if cfg.ca_file else None)
        if cfg.tls_insecure:
            client.tls_insecure_set(True)
    answers: list[Any] = []
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.append(reason)
    tls_fix = (
        "check the CA (LORAKEET_MQTT__CA_FILE) and that the port speaks TLS (mqtts://host:8883); "
        "for a plain broker use mqtt://host:1883"
    )
    try:
        client.connect(cfg.host, cfg.port, keepalive=max(5, int(timeout) * 2))
    except ssl.SSLCertVerificationError as exc:
        return CheckResult(
            name, target, False, f"TLS failure: certificate not trusted ({exc.verify_message})", tls_fix
        )
    except (ssl.SSLError, ConnectionResetError) as exc:
        if cfg.tls:
            return CheckResult(name, target, False, f"TLS failure: {exc}", tls_fix)
        return CheckResult(name, target, False, f"connection reset: {exc}", url_fix)
    except ConnectionRefusedError:
        return CheckResult(name, target, False, f"connection refused at {cfg.host}:{cfg.port}", url_fix)
    except socket.gaierror as exc:
        return CheckResult(name, target, False, f"unknown host {cfg.host!r}: {exc}", url_fix)
    except TimeoutError:
        return CheckResult(
            name,
            target,
            False,
            f"no answer from {cfg.host}:{cfg.port} in {timeout:g}s",
            url_fix + "; firewall?",
        )
    except OSError as exc:
        return CheckResult(name, target, False, f"cannot connect: {exc}", url_fix)
    deadline = time.monotonic() + timeout
    try:
        while not answers and time.monotonic() < deadline:
            if client.loop(0.1) != mqtt.MQTT_ERR_SUCCESS:
                break
    finally:
        if answers and not answers[0].is_failure:
            client.disconnect()
            client.loop_write()
        sock = client.socket()
        if sock is not None:
            sock.close()
    if not answers:
        hint = (
            "the broker closed the connection before answering; if it expects TLS use mqtts://host:8883"
            if not cfg.tls
            else "the broker did not answer the MQTT CONNECT"
        )
        return CheckResult(name, target, False, "no CONNACK", hint)
    reason = answers[0]
    if not reason.is_failure:
        user = f" as {cfg.username}" if cfg.username else " anonymously"
        return CheckResult(name, target, True, f"connected{user}")
    if reason.value in (134, 135):  # bad user name or password / not authorised
        return CheckResult(
            name,
            target,
            False,
            f"authentication failure: the broker answered {reason!s}",
            "check LORAKEET_MQTT__USERNAME and LORAKEET_MQTT__PASSWORD "
            "(TTN: username app-id@ttn, password an API key with 'Read application traffic')",
        )
    return CheckResult(name, target, False, f"the broker refused the connection: {reason!s}", url_fix)


def _writable_location(path: Path) -> tuple[bool, str]:
    """Whether a file that does not exist yet could be created at ``path``."""
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if os.access(parent, os.W_OK | os.X_OK):
        return True, f"{path} does not exist yet; it will be created (in {parent})"
    return False, f"{path} does not exist and {parent} is not writable"


def check_sqlite_store(path: Path) -> CheckResult:
    """The readings file opens read-write and its write lock can be taken."""
    name, target = "store (SQLite)", str(path)
    fix = f"make {path.parent} writable for this user or set LORAKEET_STORE__SQLITE_PATH"
    if not path.exists():
        ok, detail = _writable_location(path)
        return CheckResult(name, target, ok, detail, "" if ok else fix)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=2)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return CheckResult(name, target, False, f"cannot open for writing: {exc}", fix)
    return CheckResult(name, target, True, "opens read-write")


# Time-bounded, so it is cheap on a big database; 1.x and 2.x both say "database not found".
_PROBE_QUERY = 'SELECT last("f_cnt") FROM "uplink" WHERE time > now() - 1m'


def check_influx_store(cfg: StoreSettings, timeout: float = 5.0) -> CheckResult:
    """``/ping``, then an InfluxQL query on the configured database with the configured credentials."""
    url = cfg.influx_url.rstrip("/")
    name, target = f"store (InfluxDB, {cfg.influx_api} API)", mask_url(url)
    url_fix = f"start InfluxDB at {target} or set LORAKEET_STORE__INFLUX_URL"
    headers: dict[str, str] = {}
    auth: httpx.BasicAuth | None = None
    if cfg.influx_token:
        headers["Authorization"] = f"Token {cfg.influx_token.get_secret_value()}"
    elif cfg.influx_username:
        password = cfg.influx_password.get_secret_value() if cfg.influx_password else ""
        auth = httpx.BasicAuth(cfg.influx_username, password)
    try:
        with httpx.Client(base_url=url, headers=headers, auth=auth, timeout=timeout) as http:
            ping = http.get("/ping")
            if ping.status_code != 204:
                return CheckResult(
                    name, target, False, f"/ping answered {ping.status_code}; is this InfluxDB?", url_fix
                )
            version = ping.headers.get("X-Influxdb-Version", "unknown")
            params = {"db": cfg.influx_database, "q": _PROBE_QUERY}
            if cfg.influx_retention_policy:
                params["rp"] = cfg.influx_retention_policy
            r = http.get("/query", params=params)
    except httpx.ConnectError as exc:
        reason = "connection refused" if "refused" in str(exc).lower() else f"cannot connect ({exc})"
        return CheckResult(name, target, False, f"{reason} at {target}", url_fix)
    except httpx.TimeoutException:
        return CheckResult(name, target, False, f"no answer from {target} in {timeout:g}s", url_fix)
    except httpx.HTTPError as exc:
        return CheckResult(name, target, False, f"HTTP error talking to {target}: {exc}", url_fix)
    if r.status_code in (401, 403):
        return CheckResult(
            name,
            target,
            False,
            f"InfluxDB {version} refused the credentials ({r.status_code})",
            "check LORAKEET_STORE__INFLUX_TOKEN (InfluxDB 2/3) or "
            "LORAKEET_STORE__INFLUX_USERNAME / LORAKEET_STORE__INFLUX_PASSWORD (1.x)",
        )
    body = r.text
    missing = "database not found" in body or "dbrp" in body.lower()
    if missing:
        db = cfg.influx_database
        if cfg.influx_api == "v1":
            return CheckResult(
                name,
                target,
                True,
                f"InfluxDB {version}; database {db!r} does not exist yet (the bridge creates it)",
            )
        return CheckResult(
            name,
            target,
            False,
            f"InfluxDB {version} has no database (DBRP mapping) {db!r} for InfluxQL reads",
            f"run `influx v1 dbrp create --db {db} --rp autogen --default --bucket-id <id of bucket "
            f"{cfg.influx_bucket or db}>` or set LORAKEET_STORE__INFLUX_DATABASE",
        )
    if r.status_code != 200:
        return CheckResult(name, target, False, f"query failed ({r.status_code}): {body[:200]}", url_fix)
    try:
        results = r.json().get("results", [])
    except ValueError:
        return CheckResult(name, target, False, f"query answered non-JSON: {body[:200]}", url_fix)
    errors = [res["error"] for res in results if "error" in res]
    if errors:
        return CheckResult(
            name, target, False, f"query error: {errors[0]}", "check the database and credentials"
        )
    return CheckResult(
        name, target, True, f"InfluxDB {version}; database {cfg.influx_database!r} answers InfluxQL"
    )


def check_store(cfg: StoreSettings, timeout: float = 5.0) -> CheckResult:
    """The configured readings store."""
    if cfg.kind == "sqlite":
        return check_sqlite_store(cfg.sqlite_path)
    return check_influx_store(cfg, timeout)


def check_registry(url: str, timeout: float = 5.0) -> CheckResult:
    """Connect to the registry database with SQLAlchemy and run ``SELECT 1``."""
    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    name, target = "registry database", mask_url(url)
    fix = "set LORAKEET_REGISTRY_URL (sqlite:///path/registry.db or postgresql://user:pass@host/db)"
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        return CheckResult(name, target, False, f"not a database URL: {exc}", fix)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database or ""
        if db and db != ":memory:" and not Path(db).exists():
            ok, detail = _writable_location(Path(db))
            return CheckResult(name, target, ok, detail, "" if ok else fix)
        connect_args["timeout"] = timeout
    elif parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        connect_args["connect_timeout"] = max(1, int(timeout))
    try:
        engine = create_engine(parsed, connect_args=connect_args)
    except (ArgumentError, ImportError, SQLAlchemyError) as exc:
        return CheckResult(name, target, False, f"unsupported database URL: {exc}", fix)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            has_schema = inspect(conn).has_table("devices")
    except SQLAlchemyError as exc:
        first = str(exc.__cause__ or exc).strip().splitlines()[0]
        return CheckResult(name, target, False, f"cannot connect: {first}", fix)
    finally:
        engine.dispose()
    schema = "devices table present" if has_schema else "empty; the schema is created at start"
    return CheckResult(name, target, True, f"connected ({schema})")


CHECKS = ("mqtt", "store", "registry")


def run_checks(
    settings: Settings, skip: frozenset[str] = frozenset(), timeout: float = 5.0
) -> list[CheckResult]:
    """Try every configured connection not in ``skip``."""
    results: list[CheckResult] = []
    if "mqtt" not in skip:
        results.append(check_mqtt(settings.mqtt, timeout))
    if "store" not in skip:
        results.append(check_store(settings.store, timeout))
    if "registry" not in skip:
        results.append(check_registry(settings.registry_url, timeout))
    return results


# -- commands ------------------------------------------------------------------------------
