"""``lorakeet api`` builds its services from the environment, webhook pipeline included."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lorakeet.api.serve import app_from_env


def test_app_from_env_has_a_running_ingest_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LORAKEET_STORE__SQLITE_PATH", str(tmp_path / "readings.db"))
    monkeypatch.setenv("LORAKEET_REGISTRY_URL", f"sqlite:///{tmp_path / 'registry.db'}")
    monkeypatch.setenv("LORAKEET_PIPELINE__SPOOL_PATH", str(tmp_path / "spool.db"))
    app = app_from_env()
    services = app.state.services
    assert services.pipeline is not None
    try:
        with TestClient(app) as client:
            assert client.get("/readyz").status_code == 200
            # a webhook without the application's secret is refused, not a 500 or "ingest disabled"
            r = client.post("/v1/ingest/ttn", content=b"{}")
            assert r.status_code == 401
    finally:
        services.pipeline.stop()
