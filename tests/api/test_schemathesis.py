"""Property-based fuzzing of the whole OpenAPI schema with schemathesis: whatever a schema-valid
(or schema-invalid) request holds, the API never answers with a server error. Runs as an admin
against a small world, with a bounded number of examples per operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings
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
        admin = make_admin(services)
        _state["admin_key_id"] = reg.list_keys(admin.id)[0].id
        import shutil

        template = d / "template"  # the world before any fuzzing: each stateful run starts from it
        template.mkdir()
        for f in d.iterdir():
            if f.is_file():
                shutil.copy(f, template / f.name)
        _state.update(app=app, admin=admin, dir=d, template=template, registry=reg, store=store)
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


class _Workflow(schema.as_state_machine()):  # type: ignore[misc]
    """Chains of calls along the links schemathesis finds between operations (an id a POST
    answers feeds the GET, PATCH and DELETE that take it), as an admin."""

    def setup(self) -> None:
        """Every run starts from a fresh copy of the prepared world (a run's calls change it)."""
        import shutil
        import tempfile

        services: Services = _state["app"].state.services  # type: ignore[attr-defined]
        template: Path = _state["template"]  # type: ignore[assignment]
        d = Path(tempfile.mkdtemp(prefix="lorakeet-run-", dir=_state["dir"]))  # type: ignore[arg-type]
        for f in template.iterdir():  # the databases with their -wal/-shm files
            if f.is_file():
                shutil.copy(f, d / f.name)
        self._previous = (services.registry, services.store)
        services.registry = Registry(f"sqlite:///{d / 'registry.db'}")
        services.store = SqliteStore(d / "readings.db")

    def teardown(self) -> None:
        services: Services = _state["app"].state.services  # type: ignore[attr-defined]
        services.registry.close()
        services.store.close()
        services.registry, services.store = self._previous

    def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, object]:
        admin = _state["admin"]
        return {"headers": {"Authorization": f"Bearer {admin.key}"}}  # type: ignore[attr-defined]

    def before_call(self, case: schemathesis.Case, **kwargs: object) -> None:
        admin = _state["admin"]
        params = case.path_parameters or {}
        own = (
            case.path == "/v1/me"
            or (case.path == "/v1/accounts/{account_id}" and str(params.get("account_id")) == str(admin.id))  # type: ignore[attr-defined]
            or (case.path == "/v1/keys/{key_id}" and str(params.get("key_id")) == str(_state["admin_key_id"]))
        )
        if own and case.method in ("DELETE", "PATCH"):
            case.method = "GET"  # keep the fuzzing admin (and its key) alive

    def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: object) -> None:
        assert response.status_code != 401, "the fuzzing admin's key must work in every run"
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
        )


TestStateful = _Workflow.TestCase
TestStateful.settings = settings(
    max_examples=30,
    stateful_step_count=5,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    phases=[Phase.generate],  # the app's state carries over between examples: no replay or shrinking
)
