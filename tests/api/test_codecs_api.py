"""JavaScript codecs over HTTP: upload checked against examples, list, get, try out, and
devices decoding with ``js:<id>`` through the resolver the bridge uses.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from lorakeet.api.deps import Services
from lorakeet.decoders import DeviceContext, UnknownDecoderError
from lorakeet.gateway_bridge.codecs import make_resolver

from .conftest import make_admin, signup

SOURCE = """
function decodeUplink(input) {
  if (input.fPort !== 1) { return { errors: ["unknown fPort " + input.fPort] }; }
  var b = input.bytes;
  return { data: { temperature_C: ((b[0] << 8) | b[1]) / 10, battery_pct: b[2] } };
}
"""
EXAMPLES = [
    {"fPort": 1, "bytes": "00E150", "expected": {"temperature": 22.5, "battery": 80}},
    {"fPort": 2, "bytes": "00", "errors": ["unknown fPort 2"]},
]


def upload(client: TestClient, headers: dict[str, str], **over: object) -> tuple[int, dict[str, object]]:
    body: dict[str, object] = {"name": "my sensor", "source": SOURCE, "examples": EXAMPLES}
    body.update(over)
    r = client.post("/v1/codecs", json=body, headers=headers)
    return r.status_code, r.json()


def test_upload_list_get_and_test(api_client: TestClient) -> None:
    maker = signup(api_client, "Maker")
    status, codec = upload(api_client, maker.headers)
    assert status == 201, codec
    assert codec["decoder"] == f"js:{codec['id']}" and codec["source"] == SOURCE
    listed = api_client.get("/v1/codecs", headers=maker.headers).json()
    assert [c["id"] for c in listed["data"]] == [codec["id"]]
    assert api_client.get(f"/v1/codecs/{codec['id']}", headers=maker.headers).json()["name"] == "my sensor"
    r = api_client.post(
        f"/v1/codecs/{codec['id']}/test", json={"fPort": 1, "bytes_hex": "00C864"}, headers=maker.headers
    )
    assert r.status_code == 200
    out = r.json()
    assert out["ok"] is True
    assert {x["key"]: (x["value"], x["unit"]) for x in out["readings"]} == {
        "temperature": (20.0, "°C"),
        "battery": (100.0, "%"),
    }
    r = api_client.post(
        f"/v1/codecs/{codec['id']}/test", json={"fPort": 9, "bytes_hex": ""}, headers=maker.headers
    )
    assert r.json() == {"ok": False, "readings": [], "warnings": [], "errors": ["unknown fPort 9"]}


def test_examples_must_pass(api_client: TestClient) -> None:
    maker = signup(api_client)
    wrong = [{"fPort": 1, "bytes": "00E150", "expected": {"temperature": 99.0, "battery": 80}}]
    status, problem = upload(api_client, maker.headers, examples=wrong)
    assert status == 422 and "example 0" in str(problem["detail"]) and "99.0" in str(problem["detail"])
    status, problem = upload(api_client, maker.headers, source="function decodeUplink( {")
    assert status == 422 and "does not compile" in str(problem["detail"])
    status, problem = upload(api_client, maker.headers, source="var x = 1;")
    assert status == 422
    loop = "function decodeUplink(i) { while (true) {} }"
    status, problem = upload(api_client, maker.headers, source=loop, examples=EXAMPLES[:1])
    assert status == 422 and "example 0" in str(problem["detail"])
    status, _ = upload(api_client, maker.headers, examples=[])
    assert status == 422
    status, _ = upload(api_client, maker.headers, examples=[{"fPort": 1, "bytes": "zz", "expected": {}}])
    assert status == 422


def test_codecs_are_private_to_their_owner(api_client: TestClient, api_services: Services) -> None:
    maker, other = signup(api_client, "Maker"), signup(api_client, "Other")
    _, codec = upload(api_client, maker.headers)
    url = f"/v1/codecs/{codec['id']}"
    assert api_client.get(url).status_code == 401
    assert api_client.get(url, headers=other.headers).status_code == 404
    assert (
        api_client.post(
            f"{url}/test", json={"fPort": 1, "bytes_hex": "00"}, headers=other.headers
        ).status_code
        == 404
    )
    assert api_client.get("/v1/codecs", headers=other.headers).json()["count"] == 0
    admin = make_admin(api_services)
    assert api_client.get(url, headers=admin.headers).status_code == 200
    assert (
        api_client.post("/v1/codecs", json={"name": "x", "source": SOURCE, "examples": EXAMPLES}).status_code
        == 401
    )


def test_resolver_maps_js_ids_to_cached_codecs(api_client: TestClient, api_services: Services) -> None:
    maker = signup(api_client)
    _, codec = upload(api_client, maker.headers)
    resolve = make_resolver(api_services.registry)
    decoder = resolve(f"js:{codec['id']}")
    assert resolve(f"js:{codec['id']}") is decoder
    result = decoder(bytes.fromhex("00E150"), 1, DeviceContext())
    assert result.as_dict() == {"temperature": 22.5, "battery": 80.0}
    assert resolve("cayenne_lpp") is not None
    for bad in ("js:99999", "nope"):
        try:
            resolve(bad)
        except UnknownDecoderError:
            continue
        raise AssertionError(f"{bad} resolved")
