"""Authorization matrix: every route of the app, called by the owner of the objects in its path,
by another account, by an admin and anonymously, answers the expected status (2xx counts as a class).

Each call runs against a fresh copy of one prepared world, so a DELETE by one caller cannot change
what the next one sees. The routes are enumerated from the app: a route without an entry in
MATRIX fails ``test_every_route_has_a_matrix_entry``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from lorakeet.api.app import create_app
from lorakeet.api.deps import Services
from lorakeet.storage.registry import Registry
from lorakeet.storage.sqlite_store import SqliteStore

from .conftest import Account, api_settings, make_admin, register_device, signup, store_reading

VIEWERS = ("owner", "other", "admin", "anon")
OK = 200  # any 2xx
CODEC_SOURCE = "function decodeUplink(input) { return { data: { fill_pct: input.bytes[0] } }; }"


@dataclass(frozen=True)
class Case:
    """Expected status per viewer, and what to send."""

    owner: int
    other: int
    admin: int
    anon: int
    body: dict[str, object] | None = None
    params: dict[str, str] = field(default_factory=dict)
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def expected(self, viewer: str) -> int:
        """The status expected for one viewer."""
        code: int = getattr(self, viewer)
        return code


ALL_OK = Case(OK, OK, OK, OK)
KEYED = Case(OK, OK, OK, 401)
ADMIN_ONLY = Case(403, 403, OK, 401)
PRIVATE_READ = Case(OK, 404, OK, 404)
PRIVATE_WRITE = Case(OK, 404, OK, 401)
PUBLIC_DEVICE = {"device": "app.pub"}
LDDS75 = {"brand": "dragino", "model": "ldds75"}
LDDS75_MAP: dict[str, object] = {"fields": {"Distance": {"quantity": "distance", "unit": "mm"}}}
NEW_DEVICE = {"application_id": "newapp", "device_id": "new-1", "kind": "bin"}

MATRIX: dict[tuple[str, str], Case] = {
    ("GET", "/openapi.json"): ALL_OK,
    ("GET", "/docs"): ALL_OK,
    ("GET", "/docs/oauth2-redirect"): ALL_OK,
    ("GET", "/redoc"): ALL_OK,
    ("GET", "/healthz"): ALL_OK,
    ("GET", "/readyz"): ALL_OK,
    ("GET", "/metrics"): ALL_OK,
    ("GET", "/v1/admin/dead-letters"): ADMIN_ONLY,
    ("POST", "/v1/admin/dead-letters/replay"): Case(403, 403, OK, 401, body={"all": True}),
    ("POST", "/v1/admin/dead-letters/drop"): Case(403, 403, OK, 401, body={"ids": [1]}),
    ("GET", "/"): ALL_OK,
    # accounts and keys
    ("POST", "/v1/accounts"): Case(OK, OK, OK, OK, body={"name": "New", "email": "new@example.org"}),
    ("GET", "/v1/accounts"): ADMIN_ONLY,
    ("GET", "/v1/accounts/{account_id}"): PRIVATE_WRITE,
    ("PATCH", "/v1/accounts/{account_id}"): Case(403, 403, OK, 401, body={"name": "Renamed"}),
    ("DELETE", "/v1/accounts/{account_id}"): ADMIN_ONLY,
    ("GET", "/v1/keys"): KEYED,
    ("POST", "/v1/keys"): Case(OK, OK, OK, 401, body={"name": "grafana", "scopes": ["read"]}),
    ("DELETE", "/v1/keys/{key_id}"): PRIVATE_WRITE,
    ("GET", "/v1/me"): KEYED,
    ("GET", "/v1/me/export"): KEYED,
    ("DELETE", "/v1/me"): KEYED,
    ("GET", "/v1/audit"): KEYED,
    # devices
    ("GET", "/v1/devices"): ALL_OK,
    ("POST", "/v1/devices"): Case(OK, OK, OK, 401, body=NEW_DEVICE),
    ("GET", "/v1/devices/{device}"): PRIVATE_READ,
    ("PATCH", "/v1/devices/{device}"): Case(OK, 404, OK, 401, body={"name": "Renamed"}),
    ("DELETE", "/v1/devices/{device}"): PRIVATE_WRITE,
    ("POST", "/v1/devices/{device}/claim"): Case(OK, 404, 409, 401),
    ("GET", "/v1/devices/{device}/latest"): PRIVATE_READ,
    ("GET", "/v1/devices/{device}/readings"): PRIVATE_READ,
    ("GET", "/v1/devices/{device}/uplinks"): PRIVATE_READ,
    ("POST", "/v1/devices/{device}/redecode"): Case(OK, 404, OK, 401, body={"start": "-1d"}),
    ("GET", "/v1/readings/latest"): ALL_OK,
    ("GET", "/v1/readings"): Case(OK, OK, OK, OK, query="quantity=fill_pct&start=-30d&every=1d"),
    ("GET", "/v1/readings/stats"): Case(OK, OK, OK, OK, query="quantity=fill_pct&start=-30d&every=1d"),
    ("GET", "/v1/jobs/{job_id}"): Case(404, 404, 404, 401),
    # open data
    ("GET", "/v1/public/devices"): ALL_OK,
    ("GET", "/v1/public/devices.csv"): ALL_OK,
    ("GET", "/v1/public/devices.geojson"): ALL_OK,
    ("GET", "/v1/public/devices/{device}"): Case(OK, OK, OK, OK, params=PUBLIC_DEVICE),
    ("GET", "/v1/public/devices/{device}/readings"): Case(OK, OK, OK, OK, params=PUBLIC_DEVICE),
    ("GET", "/v1/public/devices/{device}/readings.csv"): Case(OK, OK, OK, OK, params=PUBLIC_DEVICE),
    # ingest and codecs
    ("POST", "/v1/ingest/ttn"): Case(401, 401, 401, 401, body={}),
    ("POST", "/v1/ingest/ttn/secrets"): Case(OK, 403, OK, 401, body={"application_id": "app"}),
    (
        "POST",
        "/v1/codecs",
    ): Case(
        OK,
        OK,
        OK,
        401,
        body={
            "name": "bin",
            "source": CODEC_SOURCE,
            "examples": [{"fPort": 1, "bytes": "2a", "expected": {"fill_pct": 42}}],
        },
    ),
    ("POST", "/v1/codecs/import-repo"): Case(404, 404, 404, 401, body={"brand": "acme", "model": "toy"}),
    ("GET", "/v1/codecs"): KEYED,
    ("GET", "/v1/codecs/{codec_id}"): PRIVATE_WRITE,
    ("POST", "/v1/codecs/{codec_id}/test"): Case(OK, 404, OK, 401, body={"fPort": 1, "bytes_hex": "2a"}),
    # device models: the catalog is open; a map of one's own needs a key, the shared one an admin
    ("GET", "/v1/models"): ALL_OK,
    ("GET", "/v1/models/{brand}/{model}"): Case(OK, OK, OK, OK, params=LDDS75),
    ("PUT", "/v1/models/{brand}/{model}"): Case(OK, OK, OK, 401, body=LDDS75_MAP, params=LDDS75),
    ("DELETE", "/v1/models/{brand}/{model}"): Case(404, 404, 404, 401, params=LDDS75),
    # applications: "app" is the owner's (proved); "guest" (account 4) holds a grant on it
    ("GET", "/v1/applications"): KEYED,
    ("GET", "/v1/applications/{application_id}"): PRIVATE_WRITE,
    ("POST", "/v1/applications/{application_id}/claim"): Case(OK, 409, 409, 401, body={}),
    ("PUT", "/v1/applications/{application_id}/owner"): Case(403, 403, OK, 401, body={"account_id": 2}),
    ("POST", "/v1/applications/{application_id}/grants"): Case(OK, 404, OK, 401, body={"account_id": 2}),
    ("DELETE", "/v1/applications/{application_id}/grants/{account_id}"): Case(
        OK, 404, OK, 401, params={"account_id": "4"}
    ),
    # crews' views (fleet lists show what the caller may see), downlinks, alerts, web page
    ("GET", "/v1/bins"): ALL_OK,
    ("GET", "/v1/bins/needs-collection"): ALL_OK,
    ("GET", "/v1/bins/collection-list"): ALL_OK,
    ("GET", "/v1/bins/routes"): ALL_OK,
    ("GET", "/v1/lights"): ALL_OK,
    ("GET", "/v1/lights/faults"): ALL_OK,
    ("GET", "/v1/boats"): ALL_OK,
    ("GET", "/v1/boats/{device}/track"): PRIVATE_READ,
    ("GET", "/v1/boats/{device}/geofence-events"): Case(409, 404, 409, 404),  # app.priv has no geofence
    ("POST", "/v1/devices/{device}/downlinks"): Case(409, 404, 409, 401, body={"light": {"dim_level": 10}}),
    ("GET", "/v1/devices/{device}/downlinks"): PRIVATE_WRITE,
    ("POST", "/v1/alerts/rules"): Case(
        OK, 404, OK, 401, body={"name": "r", "rule_type": "low_battery", "device": "app.priv"}
    ),
    ("GET", "/v1/alerts/rules"): KEYED,
    ("GET", "/v1/alerts/events"): KEYED,
    ("GET", "/v1/alerts/rules/{rule_id}"): Case(404, 404, 404, 401, params={"rule_id": "999"}),
    ("PATCH", "/v1/alerts/rules/{rule_id}"): Case(404, 404, 404, 401, body={}, params={"rule_id": "999"}),
    ("DELETE", "/v1/alerts/rules/{rule_id}"): Case(404, 404, 404, 401, params={"rule_id": "999"}),
    ("GET", "/web/devices/{device}"): PRIVATE_READ,
    ("GET", "/web/devices/{device}/readings.csv"): PRIVATE_READ,
    ("GET", "/web/bins/collection.{ext}"): Case(OK, OK, OK, OK, params={"ext": "csv"}),
    ("GET", "/web/bins"): ALL_OK,
    ("GET", "/web/lights"): ALL_OK,
    ("GET", "/web/boats"): ALL_OK,
    ("GET", "/web/bins/routes"): ALL_OK,
    ("POST", "/web/key"): ALL_OK,
    ("POST", "/web/logout"): ALL_OK,
    # hobbyists' pages: forms need the browser's form token (none here: 403 for everyone)
    ("GET", "/web/signup"): ALL_OK,
    ("POST", "/web/signup"): Case(403, 403, 403, 403),
    ("GET", "/web/devices/new"): ALL_OK,  # anonymous visitors are sent to sign up
    ("POST", "/web/devices/new"): Case(403, 403, 403, 403),
    ("GET", "/web/devices/{device}/connect"): PRIVATE_READ,
    ("POST", "/web/devices/{device}/secret"): Case(403, 403, 403, 403),
    ("GET", "/web/devices/{device}/uplinks.json"): PRIVATE_READ,
}


@dataclass
class World:
    """The prepared registry and store files, and who is who."""

    registry: Path
    store: Path
    accounts: dict[str, Account]
    params: dict[str, str]


def routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route, HEAD left out."""
    out = []
    for rc in iter_route_contexts(app.routes):
        methods = getattr(rc, "methods", None) or getattr(rc.original_route, "methods", None) or set()
        out.extend((m, str(rc.path)) for m in sorted(methods) if m != "HEAD")
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Owner with a private device ``app.priv`` (with a reading), a public ``app.pub`` and a codec;
    another account; an admin."""
    d = tmp_path_factory.mktemp("world")
    reg = Registry(f"sqlite:///{d / 'registry.db'}")
    store = SqliteStore(d / "readings.db")
    services = Services(api_settings(), reg, store)
    with TestClient(create_app(services)) as client:
        owner, other = signup(client, "Owner"), signup(client, "Other")
        admin = make_admin(services)
        register_device(client, owner, "app.priv", location={"latitude": 52.1, "longitude": 5.1})
        register_device(client, owner, "app.pub", visibility="public")
    store_reading(services, "app.priv", 42.0)
    store_reading(services, "app.pub", 43.0)
    guest = reg.create_account("Guest", "guest@example.org")
    assert (owner.id, other.id, admin.id, guest.id) == (1, 2, 3, 4)  # ids the cases name
    reg.grant("app", guest.id, by=owner.id)
    codec = reg.create_codec(owner.id, "mine", CODEC_SOURCE)
    key_id = reg.list_keys(owner.id)[0].id
    reg.close()
    store.close()
    yield World(
        d / "registry.db",
        d / "readings.db",
        {"owner": owner, "other": other, "admin": admin},
        {
            "device": "app.priv",
            "account_id": str(owner.id),
            "key_id": str(key_id),
            "codec_id": str(codec.id),
            "job_id": "no-such-job",
            "application_id": "app",
        },
    )


def test_every_route_has_a_matrix_entry() -> None:
    app = create_app(Services(api_settings(), Registry("sqlite://", create=False), None))  # type: ignore[arg-type]
    missing = sorted(set(routes(app)) - set(MATRIX))
    stale = sorted(set(MATRIX) - set(routes(app)))
    assert not missing, f"routes without an authorization matrix entry: {missing}"
    assert not stale, f"matrix entries for routes that no longer exist: {stale}"


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize(("method", "path"), sorted(MATRIX))
def test_authorization(world: World, tmp_path: Path, method: str, path: str, viewer: str) -> None:
    case = MATRIX[(method, path)]
    shutil.copy(world.registry, tmp_path / "registry.db")
    shutil.copy(world.store, tmp_path / "readings.db")
    reg = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    store = SqliteStore(tmp_path / "readings.db")
    try:
        with TestClient(create_app(Services(api_settings(), reg, store))) as client:
            url = path.format(**{**world.params, **case.params}) + (f"?{case.query}" if case.query else "")
            headers = dict(case.headers)
            if viewer != "anon":
                headers.update(world.accounts[viewer].headers)
            r = client.request(method, url, json=case.body, headers=headers)
    finally:
        reg.close()
        store.close()
    expected = case.expected(viewer)
    got = r.status_code
    if expected == OK:
        assert 200 <= got < 300, f"{viewer} {method} {url}: {got} {r.text[:300]}"
    else:
        assert got == expected, f"{viewer} {method} {url}: {got} (expected {expected}) {r.text[:300]}"
