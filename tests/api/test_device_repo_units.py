"""Every Device Repository example, through the real path, stored with its unit or none.

Each example of ``../shared/reference/ttn-device-repo-vectors/`` is sent the way The Things
Stack sends it after running the device's codec: an uplink with ``decoded_payload`` (the
example's expected output), ``version_ids`` (brand and model) and the example's bytes,
POSTed to the TTN webhook. A real pipeline (composed as in production) decodes it into a
SQLite store, and ``GET /v1/devices/{id}/latest`` reads it back.

For every scalar leaf of the expected output, the reading that holds it must carry the
leaf's value with its right unit, or with no unit. The expected units come from
``tests/fixtures/device_repo_units.json``, written by hand from the codecs and the vendors'
datasheets and naming each unit's source. The tally (right / no unit / wrong / dropped) is
printed; wrong and dropped must be 0.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lorakeet.api.app import create_app
from lorakeet.api.deps import Services
from lorakeet.decoders.fields import is_vendor_key, vendor_key
from lorakeet.decoders.units import convert, split_number, stated_unit
from lorakeet.gateway_bridge.compose import make_pipeline
from lorakeet.gateway_bridge.simulator import ttn_uplink_body
from lorakeet.storage.factory import Store
from lorakeet.storage.registry import Registry
from lorakeet.storage.sqlite_store import SqliteStore

from .conftest import Account, api_settings, make_admin

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "ttn-device-repo-vectors"
UNITS = Path(__file__).resolve().parents[1] / "fixtures" / "device_repo_units.json"
SECRET = "repo-webhook-secret-0123456789abcdef"
APP = "repo"

Leaf = tuple[tuple[str, ...], Any]


def leaves(obj: object, path: tuple[str, ...] = ()) -> Iterator[Leaf]:
    """Scalar leaves; a ``{value, unit}`` object is one leaf (its unit is the reading's unit)."""
    if isinstance(obj, dict):
        if path and "value" in obj and not isinstance(obj["value"], dict | list):
            if obj["value"] is not None:
                yield path, obj["value"]
            for k, v in obj.items():
                if k != "value" and not (k == "unit" and isinstance(v, str)):
                    yield from leaves(v, (*path, k))
            return
        for k, v in obj.items():
            yield from leaves(v, (*path, str(k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from leaves(v, (*path, str(i)))
    elif obj is not None:
        yield path, obj


def examples() -> list[tuple[str, int, dict[str, Any]]]:
    """(file, index, example) of every example that expects data."""
    out = []
    for f in sorted(VECTORS.glob("*-*.json")):
        for i, ex in enumerate(json.loads(f.read_text())["examples"]):
            if ex.get("expected"):
                out.append((f.name, i, ex))
    return out


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _number(v: object) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        parsed = split_number(v)
        return parsed[0] if parsed else None
    return None


def judge(
    path: tuple[str, ...], value: object, want_unit: str, stored: dict[str, tuple[Any, str]], used: set[str]
) -> str:
    """right / no-unit / wrong / dropped for one leaf against the device's latest readings."""
    number = _number(value)
    if number is None:  # text and flags: no unit can be right but none
        want_unit = ""
    want = stated_unit(want_unit) or want_unit if want_unit else ""
    for kind in (float, bool, str):
        key = vendor_key(path, kind)
        if key not in stored:
            continue
        got, unit = stored[key]
        used.add(key)
        same = got == value or (number is not None and isinstance(got, float) and _close(got, number))
        if not same:
            return "wrong"
        if not unit:
            return "right" if not want else "no-unit"
        return "right" if stated_unit(unit) == want else "wrong"
    # not under its own path: it must be a vocabulary quantity holding the same measurement
    for key, (got, unit) in stored.items():
        if key in used or is_vendor_key(key):
            continue
        if number is None:
            ok = got == value and not unit
        elif not want:  # a 0/1 flag may be a boolean quantity
            ok = not unit and isinstance(got, float | bool) and _close(float(got), number)
        else:
            expect = convert(number, want, unit) if unit else None
            ok = expect is not None and isinstance(got, float) and _close(got, expect)
        if ok:
            used.add(key)
            return "right"
    for key, (got, _unit) in stored.items():
        if key not in used and not is_vendor_key(key) and number is not None and isinstance(got, float):
            if _close(got, number):
                return "wrong"  # the same number under a quantity whose unit is not the leaf's
    return "dropped"


@pytest.fixture
def hook(
    request: pytest.FixtureRequest, sqlite_registry: Registry, tmp_path: Path
) -> Iterator[tuple[TestClient, Account]]:
    """The API with webhook ingest over a production pipeline into ``request.param``'s store."""
    settings = api_settings()
    settings = settings.model_copy(
        update={"pipeline": settings.pipeline.model_copy(update={"flush_interval_s": 0.005})}
    )
    store: Store
    if request.param == "influx":
        store = request.getfixturevalue("influx_store")
    else:
        store = SqliteStore(tmp_path / "readings.db", synchronous="OFF")
    pipeline = make_pipeline(settings, store, sqlite_registry)
    pipeline.start()
    services = Services(settings, sqlite_registry, store, pipeline=pipeline, ingest_timeout_s=10.0)
    sqlite_registry.set_application_secret(APP, hashlib.sha256(SECRET.encode()).hexdigest(), None)
    admin = make_admin(services)
    with TestClient(create_app(services)) as client:
        yield client, admin
    pipeline.stop()
    store.close()


def uplink(file: str, index: int, ex: dict[str, Any], f_cnt: int, t: int, model: bool) -> tuple[str, bytes]:
    """A device id and the TTS webhook body of one example (with ``version_ids`` if ``model``)."""
    vendor = file.split("__")[0]
    name = file.split("__")[1].removesuffix(".json").removesuffix("-codec")
    device = re.sub(r"[^a-z0-9-]+", "-", f"{vendor[:12]}-{name[:30]}-{index}".lower()).strip("-")
    body = json.loads(
        ttn_uplink_body(
            APP,
            device,
            bytes.fromhex(ex["bytes_hex"]),
            f_port=ex["fPort"],
            f_cnt=f_cnt,
            received_at_ns=t,
            decoded_payload=ex["expected"],
        )
    )
    if not model:
        return device, json.dumps(body).encode()
    body["uplink_message"]["version_ids"] = {
        "brand_id": vendor,
        "model_id": name,
        "hardware_version": "1.0",
        "firmware_version": "1.0",
        "band_id": "EU_863_870",
    }
    return device, json.dumps(body).encode()


@pytest.mark.parametrize(
    ("model", "hook"),
    [(True, "sqlite"), (False, "sqlite"), (False, "influx")],
    ids=["known-model-sqlite", "unknown-model-sqlite", "unknown-model-influxdb"],
    indirect=["hook"],
)
def test_every_repository_example_is_stored_with_its_unit_or_none(
    hook: tuple[TestClient, Account], model: bool
) -> None:
    """With ``version_ids`` (the model's decoder and field map apply) and without (a model we
    do not know: only the generic rules, as for any other Device Repository device)."""
    client, admin = hook
    table: dict[str, dict[str, Any]] = json.loads(UNITS.read_text())
    cases = examples()
    assert len(cases) >= 40
    t0 = time.time_ns() - 3600 * 1_000_000_000
    tally: Counter[str] = Counter()
    problems: list[str] = []
    for n, (file, index, ex) in enumerate(cases):
        device, body = uplink(file, index, ex, n + 1, t0 + n * 1_000_000_000, model)
        r = client.post(
            "/v1/ingest/ttn",
            content=body,
            headers={"Content-Type": "application/json", "X-Lorakeet-Secret": SECRET},
        )
        assert r.status_code == 200, (file, r.text)
        latest = client.get(f"/v1/devices/{APP}.{device}/latest", headers=admin.headers)
        assert latest.status_code == 200, (file, latest.text)
        stored = {v["key"]: (v["value"], v["unit"]) for v in latest.json()["values"]}
        used: set[str] = set()
        units = table[file]
        for path, value in leaves(ex["expected"]):
            dotted = ".".join(path)
            assert dotted in units, f"{file}: {dotted} is missing from {UNITS.name}"
            verdict = judge(path, value, units[dotted][0], stored, used)
            tally[verdict] += 1
            if verdict in ("wrong", "dropped"):
                problems.append(
                    f"{file} #{index} {dotted}={value!r} ({units[dotted][0]!r}): {verdict}; {stored}"
                )
    print(
        f"\nDevice Repository examples ({'known' if model else 'unknown'} model): {len(cases)}, "
        f"leaves: {sum(tally.values())}; "
        f"right {tally['right']}, no unit {tally['no-unit']}, wrong {tally['wrong']}, dropped {tally['dropped']}"
    )
    assert not problems, "\n".join(problems[:20])
    assert tally["right"] > tally["no-unit"] / 4  # units stated by the sources are taken
