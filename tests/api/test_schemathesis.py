"""Property-based fuzzing of the whole OpenAPI schema with schemathesis: whatever a schema-valid
(or schema-invalid) request holds, the API never answers with a server error. Runs as an admin
against a small world, with a bounded number of examples per operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from lorakeet.api.app import create_app
from lorakeet.api.deps import Services
from lorakeet.storage.registry import Registry
from lorakeet.storage.sqlite_store import SqliteStore

from .conftest import make_admin, register_device, signup, store_reading

_state: dict[str, object] = {}


def _app() -> FastAPI:
    """One app for the whole module, over temp files made on first use."""
    if "app" not in _state:
        import tempfile

        from .conftest import api_settings

        d = Path(tempfile.mkdtemp(prefix="lorakeet-fuzz-"))
        reg = Registry(f"sqlite:///{d / 'registry.db'}")
        store = SqliteStore(d / "readings.db")
        services = Services(api_settings(), reg, store)
        app = create_app(services)
        with TestClient(app) as client:
            owner = signup(client, "Owner")
            register_device(client, owner, "app.dev", visibility="public")
        store_reading(services, "app.dev", 42.0)
        _state.update(app=app, admin=make_admin(services), dir=d, registry=reg, store=store)
    app = _state["app"]
    assert isinstance(app, FastAPI)
    return app


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    import shutil

    _state["registry"].close()  # type: ignore[attr-defined]
    _state["store"].close()  # type: ignore[attr-defined]
    shutil.rmtree(_state["dir"], ignore_errors=True)  # type: ignore[arg-type]


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors(case: schemathesis.Case) -> None:
    admin = _state["admin"]
    headers = {"Authorization": f"Bearer {admin.key}"}  # type: ignore[attr-defined]
    if case.path == "/v1/me" and case.method == "DELETE":
        return  # erasing the fuzzing admin would turn the rest into 401s
    case.call_and_validate(headers=headers, checks=[not_a_server_error])
