"""The caller's own data: who am I, export everything (a zip), erase everything."""

from __future__ import annotations

import io
import json
import time
import zipfile
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Response

from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import DeviceFilter

from ..actions import erase_account
from ..auth import ReaderDep, WriterDep
from ..deps import Services, ServicesDep
from ..errors import problem_responses
from ..presentation import account_public, device_public, key_public, readings_csv
from ..schemas_registry import MePublic

router = APIRouter(prefix="/v1/me", tags=["me"])

EXPORT_MAX_POINTS = 5_000_000
EXPORT_MAX_UPLINKS = 1_000_000


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat().replace("+00:00", "Z")


def _uplinks_ndjson(services: Services, key: DeviceKey, end_ns: int) -> str:
    rows = [
        {
            "received_at": _iso(u.received_at_ns),
            "f_cnt": u.f_cnt,
            "f_port": u.f_port,
            "payload_hex": u.payload.hex(),
            "source": u.source,
            "rssi": u.rssi,
            "snr": u.snr,
            "spreading_factor": u.spreading_factor,
            "frequency": u.frequency,
            "gateways": list(u.gateways),
            "decoder": u.decoder,
            "decode_error": u.decode_error,
        }
        for u in services.store.uplinks(key, 0, end_ns, EXPORT_MAX_UPLINKS)
    ]
    return "".join(json.dumps(r) + "\n" for r in rows)


def _account(services: Services, account_id: int | None) -> MePublic:
    acc = services.registry.get_account(account_id) if account_id is not None else None
    if acc is None:  # the key's account was erased during the request
        raise HTTPException(
            status_code=401, detail="account not found", headers={"WWW-Authenticate": "Bearer"}
        )
    return MePublic(account=account_public(acc), key_id=None, scopes=[])


@router.get("", summary="Who am I", responses=problem_responses(401))
def me(services: ServicesDep, viewer: ReaderDep) -> MePublic:
    """Your account, the key in use and its scopes."""
    out = _account(services, viewer.account_id)
    return out.model_copy(update={"key_id": viewer.key_id, "scopes": sorted(viewer.scopes)})


@router.get(
    "/export",
    summary="Export all your data",
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {}}, "description": "a zip archive"},
        **problem_responses(401),
    },
)
def export(services: ServicesDep, viewer: ReaderDep) -> Response:
    """A zip: account.json, keys.json (no secrets), devices.json, readings/<id>.csv,
    uplinks/<id>.ndjson, and registry/<table>.json for codecs, model maps, alert rules and events,
    downlinks (with payloads), applications with grants and claims, ingest-secret metadata
    (application ids, never the secrets) and the audit log (your actions and those on your
    account and devices). A pending device's registration is exported, not its data."""
    me_ = _account(services, viewer.account_id)
    assert viewer.account_id is not None
    keys = [key_public(k).model_dump(mode="json") for k in services.registry.list_keys(viewer.account_id)]
    f = DeviceFilter(owner_id=viewer.account_id, include_pending=True)
    rows, _ = services.registry.find_devices(f, limit=100_000)
    personal = services.registry.personal_data(viewer.account_id, [r.key for r in rows])
    end_ns = time.time_ns() + 86_400 * 10**9
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("account.json", me_.account.model_dump_json(indent=2))
        z.writestr("keys.json", json.dumps(keys, indent=2))
        z.writestr(
            "devices.json",
            json.dumps([device_public(r, viewer).model_dump(mode="json") for r in rows], indent=2),
        )
        for table, records in personal.items():
            z.writestr(f"registry/{table}.json", json.dumps(records, indent=2, default=str))
        for r in rows:
            if r.pending:
                continue
            z.writestr(
                f"readings/{r.key.uid}.csv", readings_csv(services, r.key, 0, end_ns, EXPORT_MAX_POINTS)
            )
            z.writestr(f"uplinks/{r.key.uid}.ndjson", _uplinks_ndjson(services, r.key, end_ns))
    return Response(
        buf.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="lorakeet-export.zip"'},
    )


@router.delete("", status_code=204, summary="Erase your account", responses=problem_responses(401, 403))
def erase_me(services: ServicesDep, viewer: WriterDep) -> Response:
    """Erase your account, keys, devices and every stored reading of those devices."""
    assert viewer.account_id is not None
    erase_account(services, viewer.account_id, by=viewer.account_id)
    return Response(status_code=204)
