"""Accounts and API keys: sign-up returns a key once, keys are stored hashed, scoped, revocable,
bearer auth rejects bad keys, closed sign-up, problem+json errors, rate limits, CORS and the CLI.
"""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lorakeet.api.app import create_app
from lorakeet.api.deps import Services
from lorakeet.api.ratelimit import TokenBuckets

from .conftest import api_settings, make_admin, signup


def test_signup_returns_the_key_once_and_stores_only_its_hash(
    api_client: TestClient, api_services: Services
) -> None:
    r = api_client.post("/v1/accounts", json={"name": "Utrecht Makers", "email": "makers@example.org"})
    assert r.status_code == 201
    body = r.json()
    key = body["key"]
    assert key.startswith("lk_") and len(key) > 40
    assert body["key_info"]["prefix"] == key[:8] and set(body["key_info"]["scopes"]) == {"read", "write"}
    rows = api_services.registry.list_keys(body["account"]["id"])
    assert rows[0].key_hash == hashlib.sha256(key.encode()).hexdigest()
    listed = api_client.get("/v1/keys", headers={"Authorization": f"Bearer {key}"}).json()
    assert key not in str(listed) and "hash" not in listed["data"][0]
    me = api_client.get("/v1/me", headers={"Authorization": f"Bearer {key}"}).json()
    assert me["account"]["email"] == "makers@example.org" and me["scopes"] == ["read", "write"]


def test_duplicate_email_is_409_problem(api_client: TestClient) -> None:
    body = {"name": "A", "email": "a@example.org"}
    assert api_client.post("/v1/accounts", json=body).status_code == 201
    r = api_client.post("/v1/accounts", json=body)
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    p = r.json()
    assert p["status"] == 409 and p["title"] == "Conflict" and p["instance"] == "/v1/accounts"


def test_bad_bearer_tokens_are_401(api_client: TestClient) -> None:
    for header in ("Bearer lk_nope", "Bearer", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 300):
        r = api_client.get("/v1/me", headers={"Authorization": header})
        assert r.status_code == 401, header
        assert r.headers["www-authenticate"] == "Bearer"
    assert api_client.get("/v1/me").status_code == 401


def test_keys_are_scoped_and_revocable(api_client: TestClient) -> None:
    acc = signup(api_client)
    r = api_client.post("/v1/keys", json={"name": "grafana", "scopes": ["read"]}, headers=acc.headers)
    assert r.status_code == 201
    read_key = r.json()["key"]
    read = {"Authorization": f"Bearer {read_key}"}
    assert api_client.get("/v1/me", headers=read).status_code == 200
    device = {"application_id": "app", "device_id": "d1", "kind": "bin"}
    assert api_client.post("/v1/devices", json=device, headers=read).status_code == 403
    # A read key cannot mint a stronger key; an ordinary account never gets admin.
    assert (
        api_client.post("/v1/keys", json={"name": "x", "scopes": ["write"]}, headers=read).status_code == 403
    )
    assert (
        api_client.post("/v1/keys", json={"name": "x", "scopes": ["admin"]}, headers=acc.headers).status_code
        == 403
    )
    key_id = r.json()["id"]
    revoked = api_client.delete(f"/v1/keys/{key_id}", headers=acc.headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert api_client.get("/v1/me", headers=read).status_code == 401


def test_others_keys_are_not_found(api_client: TestClient) -> None:
    a, b = signup(api_client, "A"), signup(api_client, "B")
    key_id = api_client.get("/v1/keys", headers=a.headers).json()["data"][0]["id"]
    assert api_client.delete(f"/v1/keys/{key_id}", headers=b.headers).status_code == 404
    assert api_client.get("/v1/me", headers=a.headers).status_code == 200


def test_admin_manages_accounts(api_client: TestClient, api_services: Services) -> None:
    admin, user = make_admin(api_services), signup(api_client)
    assert api_client.get("/v1/accounts", headers=user.headers).status_code == 403
    listed = api_client.get("/v1/accounts", headers=admin.headers).json()
    assert {a["id"] for a in listed["data"]} == {admin.id, user.id}
    r = api_client.patch(
        f"/v1/accounts/{user.id}", json={"ttn_application_ids": ["bins-town"]}, headers=admin.headers
    )
    assert r.status_code == 200 and r.json()["ttn_application_ids"] == ["bins-town"]
    assert api_client.get(f"/v1/accounts/{user.id}", headers=user.headers).status_code == 200
    assert api_client.get(f"/v1/accounts/{admin.id}", headers=user.headers).status_code == 404
    assert api_client.delete(f"/v1/accounts/{user.id}", headers=admin.headers).status_code == 204
    assert api_client.get("/v1/me", headers=user.headers).status_code == 401


def test_closed_signup_needs_an_admin(api_services: Services) -> None:
    services = Services(api_settings(open_signup=False), api_services.registry, api_services.store)
    with TestClient(create_app(services)) as client:
        body = {"name": "A", "email": "a@example.org"}
        assert client.post("/v1/accounts", json=body).status_code == 403
        admin = make_admin(services)
        assert client.post("/v1/accounts", json=body, headers=admin.headers).status_code == 201


def test_validation_errors_and_unknown_routes_are_problems(api_client: TestClient) -> None:
    r = api_client.post("/v1/accounts", json={"name": "A", "email": "not-an-email"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    p = r.json()
    assert p["title"] == "Unprocessable Content" and p["errors"][0]["loc"] == ["body", "email"]
    assert p["detail"].startswith("body.email")
    r = api_client.post("/v1/accounts", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    r = api_client.get("/v1/nowhere")
    assert r.status_code == 404 and r.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "Not Found",
        "instance": "/v1/nowhere",
    }
    r = api_client.put("/v1/accounts")
    assert r.status_code == 405 and r.headers["content-type"] == "application/problem+json"


def test_rate_limit_answers_429_with_retry_after(api_services: Services) -> None:
    services = Services(
        api_settings(rate_limit_per_minute=60, rate_limit_burst=3), api_services.registry, api_services.store
    )
    with TestClient(create_app(services)) as client:
        codes = [client.get("/healthz").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = client.get("/healthz")
        assert r.headers["retry-after"] == "1" and r.headers["content-type"] == "application/problem+json"
        # A key has its own bucket, separate from the anonymous IP's.
        admin = make_admin(services)
        assert client.get("/v1/me", headers=admin.headers).status_code == 200


def test_webhook_ingest_has_its_own_limit_per_source_address(api_services: Services) -> None:
    """TTS posts every uplink from a few addresses: readers' anonymous limit must not apply."""
    services = Services(
        api_settings(
            rate_limit_per_minute=60,
            rate_limit_burst=2,
            ingest_rate_limit_per_minute=60,
            ingest_rate_limit_burst=5,
        ),
        api_services.registry,
        api_services.store,
    )
    with TestClient(create_app(services)) as client:
        assert [client.get("/healthz").status_code for _ in range(3)] == [200, 200, 429]
        # the same address, still allowed on ingest (401: no secret, but not rate-limited) ...
        codes = [client.post("/v1/ingest/ttn", content=b"{}").status_code for _ in range(6)]
        assert codes == [401] * 5 + [429]  # ... until the ingest bucket is empty too
        assert client.get("/healthz").status_code == 429  # and the readers' bucket is untouched by it


def test_token_bucket_refills() -> None:
    now = [0.0]
    b = TokenBuckets(per_minute=60, burst=2, clock=lambda: now[0])
    assert b.take("k") == 0 and b.take("k") == 0
    assert b.take("k") == 1.0
    now[0] = 1.0
    assert b.take("k") == 0 and b.take("other") == 0


def test_cors_is_configurable(api_services: Services) -> None:
    services = Services(
        api_settings(cors_origins=["https://map.example.org"]), api_services.registry, api_services.store
    )
    with TestClient(create_app(services)) as client:
        r = client.options(
            "/v1/public/devices",
            headers={"Origin": "https://map.example.org", "Access-Control-Request-Method": "GET"},
        )
        assert r.headers["access-control-allow-origin"] == "https://map.example.org"
        r = client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers


def test_cli_bootstraps_an_admin_lists_and_revokes(
    api_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lorakeet.cli import app as cli

    monkeypatch.setenv("LORAKEET_REGISTRY_URL", api_services.registry.url)
    runner = CliRunner()
    r = runner.invoke(cli, ["keys", "create", "--admin", "--name", "root"])
    assert r.exit_code == 0, r.output
    key = r.stdout.strip().splitlines()[-1]
    assert key.startswith("lk_")
    with TestClient(create_app(api_services)) as client:
        me = client.get("/v1/me", headers={"Authorization": f"Bearer {key}"}).json()
        assert me["account"]["is_admin"] and "admin" in me["scopes"]
    r = runner.invoke(cli, ["keys", "list"])
    assert r.exit_code == 0 and key[:8] in r.stdout and key not in r.stdout
    key_id = me["key_id"]
    assert runner.invoke(cli, ["keys", "revoke", str(key_id)]).exit_code == 0
    assert runner.invoke(cli, ["keys", "revoke", "9999"]).exit_code != 0
    assert api_services.registry.find_key(hashlib.sha256(key.encode()).hexdigest()) is None
