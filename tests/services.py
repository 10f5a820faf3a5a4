"""Private service instances for tests and benchmarks: InfluxDB 1.x and PostgreSQL.

Each runs on free loopback ports with its data in a temp dir. A missing service is an
error, never a skip: the test command installs what these need.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from lorakeet.gateway_bridge.broker import free_port


class ServiceMissing(RuntimeError):
    """A real service the tests need is not installed or not running."""


class InfluxServer:
    """A private ``influxd`` (Debian package ``influxdb``, 1.x) on free loopback ports."""

    def __init__(self) -> None:
        exe = shutil.which("influxd")
        if exe is None:
            raise ServiceMissing("influxd not found: apt-get install influxdb (the test command does this)")
        self.exe = exe
        self.dir = Path(tempfile.mkdtemp(prefix="lorakeet-influx-"))
        self.http_port = free_port()
        self.rpc_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.http_port}"

    def _config(self) -> str:
        conf = subprocess.run([self.exe, "config"], capture_output=True, text=True, check=True).stdout
        d = self.dir
        conf = re.sub(
            r'(?m)^bind-address = ".*"', f'bind-address = "127.0.0.1:{self.rpc_port}"', conf, count=1
        )
        conf = re.sub(r'(?m)^(\s*)dir = "(.*)/meta"', rf'\1dir = "{d}/meta"', conf)
        conf = re.sub(r'(?m)^(\s*)dir = "(.*)/data"', rf'\1dir = "{d}/data"', conf)
        conf = re.sub(r'(?m)^(\s*)wal-dir = ".*"', rf'\1wal-dir = "{d}/wal"', conf)
        conf = re.sub(
            r'(?ms)(^\[http\].*?)bind-address = ":8086"',
            rf'\1bind-address = "127.0.0.1:{self.http_port}"',
            conf,
        )
        conf = re.sub(r"(?m)^(\s*)log-enabled = true", r"\1log-enabled = false", conf)
        conf = re.sub(r"(?m)^(\s*)query-log-enabled = true", r"\1query-log-enabled = false", conf)
        conf = re.sub(r"(?ms)(^\[monitor\].*?)store-enabled = true", r"\1store-enabled = false", conf)
        conf = re.sub(r"(?m)^(\s*)reporting-disabled = false", r"\1reporting-disabled = true", conf)
        return conf

    def start(self, timeout: float = 20.0) -> InfluxServer:
        """Start and wait for ``/ping``."""
        conf = self.dir / "influxd.conf"
        if not conf.exists():
            conf.write_text(self._config())
        log = (self.dir / "influxd.log").open("ab")
        self.proc = subprocess.Popen(
            [self.exe, "-config", str(conf)], stdout=log, stderr=log, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/ping", timeout=1).status_code == 204:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise ServiceMissing(
                    f"influxd exited with {self.proc.returncode}; see {self.dir}/influxd.log"
                )
            if time.monotonic() > deadline:
                raise TimeoutError("influxd did not answer /ping")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL (fault drills)."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        """Terminate gracefully."""
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def close(self) -> None:
        """Stop and delete the data."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def new_database(self) -> str:
        """A fresh database name (created by the store on open)."""
        return "t_" + uuid.uuid4().hex[:12]


POSTGRES_URL = os.environ.get("LORAKEET_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_schema_url() -> tuple[str, str]:
    """A fresh schema in the test database: (url whose search_path is that schema, schema)."""
    from sqlalchemy import create_engine, text

    schema = "t_" + uuid.uuid4().hex[:12]
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        raise ServiceMissing(f"PostgreSQL at {POSTGRES_URL} is not reachable: {exc}") from exc
    finally:
        engine.dispose()
    sep = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}", schema


def drop_postgres_schema(schema: str) -> None:
    """Remove a schema made by postgres_schema_url()."""
    from sqlalchemy import create_engine, text

    engine = create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()
