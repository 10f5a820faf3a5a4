"""How the API shows things: registry records, store values, bins and collection lists as
response models, CSV and GeoJSON. Pure functions of their arguments (``readings_csv`` reads the
store it is given); route modules share them from here, never from one another.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from lorakeet.decoders import split_key
from lorakeet.decoders.fields import is_vendor_key
from lorakeet.storage.protocols import ReadingReader
from lorakeet.storage.records import DeviceKey, LatestValue
from lorakeet.storage.registry import Account, ApiKey, Device
from lorakeet.views.fleet import BinView

from .auth import ANONYMOUS, Viewer, can_edit_device
from .csvout import SafeWriter, csv_text
from .schemas import BinPublic
from .schemas_models import FieldRuleBody
from .schemas_registry import AccountPublic, DevicePublic, KeyPublic, Location
from .services import Services

GEOJSON = "application/geo+json"


def dt(ns: int) -> datetime:
    """An aware UTC datetime from ns since the epoch."""
    return datetime.fromtimestamp(ns / 1e9, UTC)


def unit_of(key: str, stored: Mapping[str, str] | None = None) -> str:
    """The unit of a reading key: the vocabulary's, or the one stored with a vendor field."""
    try:
        return split_key(key)[0].unit
    except KeyError:
        return (stored or {}).get(key, "")


def units_of(store: ReadingReader, device: DeviceKey, keys: Iterable[str]) -> dict[str, str]:
    """Units of ``keys``; the store is asked only when a vendor field is among them."""
    keys = list(keys)
    stored = store.units(device) if any(is_vendor_key(k) for k in keys) else None
    return {k: unit_of(k, stored) for k in keys}


def latest_values_plain(
    values: Iterable[LatestValue], units: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """Latest values as ``LatestValuePublic`` renders them, as plain data for serialising once
    with :func:`json_bytes` (no model validation per value; a test pins the JSON to the model's).
    Without ``units`` (vocabulary units only), each value is rendered once and then reused."""
    if units is None:
        return [_plain_value(v) for v in values]
    return [
        {"key": v.key, "value": v.value, "unit": unit_of(v.key, units), "time": dt(v.time_ns)} for v in values
    ]


@lru_cache(maxsize=16_384)
def _plain_value(v: LatestValue) -> dict[str, Any]:
    """One value rendered (its time as the text pydantic gives); shared by callers: read only."""
    time_text = orjson.loads(orjson.dumps(dt(v.time_ns), option=orjson.OPT_UTC_Z))
    return {"key": v.key, "value": v.value, "unit": unit_of(v.key), "time": time_text}


def json_bytes(body: object) -> bytes:
    """JSON of plain data (datetimes as pydantic renders them: UTC with ``Z``)."""
    return orjson.dumps(body, option=orjson.OPT_UTC_Z)


def device_public(row: Device, viewer: Viewer | None = None) -> DevicePublic:
    """Shape a registry row; private locations are coarsened to ~1 km unless the viewer may edit."""
    location = None
    if row.latitude is not None and row.longitude is not None:
        lat, lon = row.latitude, row.longitude
        if row.visibility != "public" and not can_edit_device(viewer or ANONYMOUS, row):
            lat, lon = round(lat, 2), round(lon, 2)
        location = Location(latitude=lat, longitude=lon)
    return DevicePublic(
        id=DeviceKey(row.application_id, row.device_id).uid,
        application_id=row.application_id,
        device_id=row.device_id,
        dev_eui=row.dev_eui,
        name=row.name,
        kind=row.kind,
        decoder=row.decoder,
        visibility=row.visibility,
        licence=row.licence,
        location=location,
        metadata=dict(row.metadata),
        tags=list(row.tags),
        owner_id=row.owner_id,
        source=row.source,
        pending=row.pending,
        created_at=row.created_at,
        updated_at=row.updated_at,
        brand_id=row.brand_id,
        model_id=row.model_id,
        hardware_version=row.hardware_version,
        firmware_version=row.firmware_version,
        band_id=row.band_id,
        field_map=_field_map(row.field_map),
    )


def _field_map(stored: Mapping[str, Any]) -> dict[str, FieldRuleBody | None]:
    out: dict[str, FieldRuleBody | None] = {}
    for path, rule in stored.items():
        try:
            out[path] = FieldRuleBody.model_validate(rule) if rule is not None else None
        except ValueError:  # written around the API (a quantity since removed): not shown
            continue
    return out


def account_public(row: Account) -> AccountPublic:
    """Shape an account."""
    return AccountPublic(
        id=row.id,
        name=row.name,
        email=row.email,
        ttn_application_ids=list(row.ttn_application_ids),
        is_admin=row.is_admin,
        created_at=row.created_at,
    )


def key_public(row: ApiKey) -> KeyPublic:
    """Shape a key (never its hash)."""
    return KeyPublic(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        prefix=row.prefix,
        scopes=list(row.scopes),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def _dt(ns: int | None) -> datetime | None:
    return None if ns is None else dt(ns)


def bin_public(b: BinView) -> BinPublic:
    """Shape a bin view for the API."""
    s = b.state
    return BinPublic(
        device=b.device.uid,
        name=b.device.name,
        latitude=b.device.latitude,
        longitude=b.device.longitude,
        fill_pct=None if s.fill_pct is None else round(s.fill_pct, 1),
        time=_dt(s.time_ns),
        threshold_pct=s.threshold_pct,
        rate_pct_per_h=None if s.rate_pct_per_h is None else round(s.rate_pct_per_h, 3),
        predicted_full_at=_dt(s.full_at_ns),
        predicted_threshold_at=_dt(s.threshold_at_ns),
        last_emptied_at=_dt(s.last_emptied_ns),
        needs_collection=s.needs_collection,
        reason=s.reason,
        battery=b.battery,
    )


def _iso(d: datetime | None) -> str:
    return "" if d is None else d.isoformat().replace("+00:00", "Z")


def collection_geojson(stops: list[BinPublic], depot: tuple[float, float] | None, length: float) -> bytes:
    """RFC 7946 FeatureCollection: one Point per stop, [lon, lat], in route order."""
    features: list[dict[str, Any]] = [
        {
            "type": "Feature",
            "id": s.device,
            "geometry": {
                "type": "Point",
                "coordinates": [round(s.longitude or 0, 7), round(s.latitude or 0, 7)],
            },
            "properties": {
                "order": i,
                "device": s.device,
                "name": s.name,
                "fill_pct": s.fill_pct,
                "threshold_pct": s.threshold_pct,
                "predicted_full_at": _iso(s.predicted_full_at) or None,
                "reason": s.reason,
            },
        }
        for i, s in enumerate(stops, start=1)
        if s.latitude is not None and s.longitude is not None
    ]
    body: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": features,
        "route_length_m": round(length),
    }
    if depot is not None:
        body["depot"] = {"type": "Point", "coordinates": [depot[1], depot[0]]}
    return orjson.dumps(body)


def collection_csv(stops: list[BinPublic]) -> str:
    """One row per stop in route order, with a map link for the crew's phone."""
    buf = io.StringIO()
    w = SafeWriter(buf)
    w.writerow(
        [
            "order",
            "device",
            "name",
            "latitude",
            "longitude",
            "fill_pct",
            "threshold_pct",
            "predicted_full_at",
            "reason",
            "map",
        ]
    )
    for i, s in enumerate(stops, start=1):
        located = s.latitude is not None and s.longitude is not None
        link = f"https://www.openstreetmap.org/?mlat={s.latitude}&mlon={s.longitude}#map=19/{s.latitude}/{s.longitude}"
        w.writerow(
            [
                i if located else "",
                s.device,
                s.name or "",
                "" if s.latitude is None else s.latitude,
                "" if s.longitude is None else s.longitude,
                "" if s.fill_pct is None else s.fill_pct,
                s.threshold_pct,
                _iso(s.predicted_full_at),
                s.reason,
                link if located else "",
            ]
        )
    return buf.getvalue()


def _iso_ns(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat().replace("+00:00", "Z")


def readings_csv(services: Services, key: DeviceKey, start_ns: int, end_ns: int, limit: int) -> str:
    """A device's readings as CSV: one row per time, one column per key."""
    points = services.store.points(key, None, start_ns, end_ns, limit)
    columns = sorted({k for p in points for k in p.values})
    return csv_text(
        ["time", *columns], ([_iso_ns(p.time_ns), *(p.values.get(c) for c in columns)] for p in points)
    )
