"""Erasure and export are complete (M2): every item docs/security.md lists is exported, and erased
with the account; an erased account's id is never given to the next sign-up."""

from __future__ import annotations

import io
import json
import time
import zipfile

from fastapi.testclient import TestClient

from lorakeet.api.deps import Services
from lorakeet.storage.alerts_store import AlertRuleRow, AlertStore, DownlinkRow
from lorakeet.storage.records import DeviceKey, RejectedMessage

from .conftest import register_device, signup, store_reading

RULE = {"name": "full", "rule_type": "threshold", "quantity": "fill_pct", "threshold": 80}
CODEC = "function decodeUplink(input) { return { data: { fill_pct: input.bytes[0] } }; }"


def test_export_and_erasure_are_complete(api_client: TestClient, api_services: Services) -> None:
    reg, store = api_services.registry, api_services.store
    alice, bob = signup(api_client, "Alice"), signup(api_client, "Bob")
    uid = "alice-app.bin-1"
    register_device(api_client, alice, uid, visibility="public")
    store_reading(api_services, uid, 42.0)
    h = alice.headers
    assert api_client.post("/v1/alerts/rules", json={**RULE, "device": uid}, headers=h).status_code == 201
    assert (
        api_client.post("/v1/alerts/rules", json={**RULE, "device": uid}, headers=bob.headers).status_code
        == 201
    )
    r = api_client.post(
        "/v1/codecs",
        json={
            "name": "c",
            "source": CODEC,
            "examples": [{"fPort": 1, "bytes": "2a", "expected": {"fill_pct": 42}}],
        },
        headers=h,
    )
    assert r.status_code == 201
    secret = api_client.post(
        "/v1/ingest/ttn/secrets", json={"application_id": "alice-app"}, headers=h
    ).json()["secret"]
    with reg.session() as s:
        s.add(
            DownlinkRow(
                application_id="alice-app",
                device_id="bin-1",
                account_id=alice.id,
                f_port=2,
                payload_hex="deadbeef",
                correlation_id="c-1",
            )
        )
        s.commit()
    body = json.dumps(
        {"end_device_ids": {"device_id": "bin-1", "application_ids": {"application_id": "alice-app"}}}
    )
    store.write_rejected([RejectedMessage("ttn", "webhook", body.encode() + b"{", "bad", time.time_ns())])

    z = zipfile.ZipFile(io.BytesIO(api_client.get("/v1/me/export", headers=h).content))
    names = set(z.namelist())
    for table in ("codecs", "alert_rules", "downlinks", "application_secrets", "audit_log", "applications"):
        assert f"registry/{table}.json" in names, table
    downlinks = json.loads(z.read("registry/downlinks.json"))
    assert downlinks[0]["payload_hex"] == "deadbeef"
    secrets_meta = json.loads(z.read("registry/application_secrets.json"))
    assert secrets_meta == [{"application_id": "alice-app", "owner_id": alice.id}]
    assert secret not in z.read("registry/application_secrets.json").decode()
    assert json.loads(z.read("registry/applications.json"))[0]["application_id"] == "alice-app"
    assert any(e["action"] == "device.create" for e in json.loads(z.read("registry/audit_log.json")))
    assert f"readings/{uid}.csv" in names

    assert api_client.delete("/v1/me", headers=h).status_code == 204
    key = DeviceKey.from_uid(uid)
    assert store.latest(key) == [] and reg.get_row(key) is None
    with reg.session() as s:
        assert s.query(DownlinkRow).count() == 0
        assert s.query(AlertRuleRow).filter(AlertRuleRow.device == uid).count() == 0  # Bob's rule too
    assert AlertStore(reg).list_rules(bob.id) == []
    assert [m for m in store.rejected(100) if b"alice-app" in m.body] == []
    assert reg.get_application("alice-app") is None and reg.get_application_secret("alice-app") is None
    remaining = reg.audit_entries(limit=1000)
    assert all(e.account_id != alice.id for e in remaining if e.action != "account.delete")
    assert not [e for e in remaining if e.target == f"device:{uid}"]
    # the next sign-up gets a new id and sees nothing of Alice's
    carol = signup(api_client, "Carol")
    assert carol.id > bob.id and carol.id != alice.id
    audit = api_client.get("/v1/audit", headers=carol.headers).json()
    assert all(e.get("account_id") in (carol.id, None) for e in audit["data"])


def test_erased_last_account_id_is_not_reused(api_client: TestClient) -> None:
    a = signup(api_client, "A")
    assert api_client.delete("/v1/me", headers=a.headers).status_code == 204
    b = signup(api_client, "B")
    assert b.id != a.id
