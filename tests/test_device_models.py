"""Device models in the registry and on the per-uplink path: auto-registration with the model's
kind and decoder, and field maps resolved device > owner's map > shared map > shipped file."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorakeet.api.jobs import Job, redecode, redecoder
from lorakeet.decoders import DecodeResult, DeviceContext
from lorakeet.decoders.models import FieldRule
from lorakeet.decoders.types import Decoder
from lorakeet.gateway_bridge.devices import DeviceDirectory
from lorakeet.gateway_bridge.field_maps import FieldMaps
from lorakeet.gateway_bridge.pipeline import Decoding
from lorakeet.storage.records import DeviceKey, DeviceModel, Uplink
from lorakeet.storage.registry import DeviceChanges, Registry
from lorakeet.storage.sqlite_store import SqliteStore

T0 = 1_767_225_600_000_000_000
LDDS75 = DeviceModel("dragino", "ldds75", "_unknown_hw_version_", "1.1.4", "EU_863_870")


def uplink(dev: str, model: DeviceModel | None, decoded: dict[str, object] | None = None) -> Uplink:
    return Uplink(
        "ttn",
        "town",
        dev,
        1_767_225_600_000_000_000,
        2,
        1,
        b"\x01",
        network_decoded=decoded,
        device_model=model,
    )


def test_first_uplink_registers_the_model_kind_and_decoder(sqlite_registry: Registry) -> None:
    reg = sqlite_registry
    decoded = reg.ensure_device(DeviceKey("town", "a"), None, LDDS75, decoded=True)
    assert (decoded.kind, decoded.decoder, decoded.brand_id, decoded.model_id) == (
        "bin",
        "network",
        "dragino",
        "ldds75",
    )
    raw = reg.ensure_device(DeviceKey("town", "b"), None, LDDS75, decoded=False)
    assert (raw.kind, raw.decoder) == ("bin", "dragino_ldds75")
    row = reg.get_row(DeviceKey("town", "a"))
    assert row is not None and (row.firmware_version, row.band_id, row.source) == (
        "1.1.4",
        "EU_863_870",
        "auto",
    )
    # a model nobody mapped: its ids are kept, the device stays "other" with no decoder
    unknown = reg.ensure_device(DeviceKey("town", "c"), None, DeviceModel("acme", "al-1"), decoded=False)
    assert (unknown.kind, unknown.decoder, unknown.brand_id, unknown.model_id) == (
        "other",
        None,
        "acme",
        "al-1",
    )


def test_known_devices_get_model_ids_but_keep_their_registration(sqlite_registry: Registry) -> None:
    reg = sqlite_registry
    reg.upsert_device(DeviceKey("town", "mine"), kind="streetlight", decoder="cayenne_lpp")
    reg.ensure_device(DeviceKey("town", "early"))  # auto-registered before the model was known
    mine = reg.ensure_device(DeviceKey("town", "mine"), None, LDDS75, decoded=True)
    assert (mine.kind, mine.decoder, mine.brand_id) == ("streetlight", "cayenne_lpp", "dragino")
    early = reg.ensure_device(DeviceKey("town", "early"), None, LDDS75, decoded=True)
    assert (early.kind, early.decoder, early.model_id) == ("bin", "network", "ldds75")


def test_chirpstack_profile_name_and_tags_find_the_model(sqlite_registry: Registry) -> None:
    by_name = sqlite_registry.ensure_device(
        DeviceKey("cs", "0101010101010101"), None, DeviceModel(profile_name="Dragino LDDS75"), decoded=False
    )
    assert (by_name.kind, by_name.decoder, by_name.brand_id, by_name.model_id) == (
        "bin",
        "dragino_ldds75",
        "dragino",
        "ldds75",
    )
    by_tags = sqlite_registry.ensure_device(
        DeviceKey("cs", "0202020202020202"), None, DeviceModel("netvox", "r718pe", profile_name="x")
    )
    assert (by_tags.kind, by_tags.decoder) == ("bin", "netvox_r718pe")


def test_a_shared_model_map_decides_kind_and_decoder_of_new_devices(sqlite_registry: Registry) -> None:
    reg = sqlite_registry
    reg.put_model_map(
        None, "acme", "al-1", kind="bin", fields={"dist": {"quantity": "distance", "unit": "cm"}}
    )
    info = reg.ensure_device(DeviceKey("town", "al"), None, DeviceModel("acme", "al-1"), decoded=True)
    assert (info.kind, info.decoder) == ("bin", "network")
    model = reg.effective_model("acme", "al-1", None)
    assert model is not None and model.field_map == {"dist": FieldRule("distance", "cm")}


def test_field_map_precedence_device_then_owner_then_shared_then_shipped(sqlite_registry: Registry) -> None:
    reg = sqlite_registry
    owner = reg.create_account("Council", "council@example.org")
    other = reg.create_account("Other", "other@example.org")
    key = DeviceKey("town", "lvl")
    reg.ensure_device(key, None, LDDS75, decoded=True)
    reg.update_device(key, DeviceChanges(owner_id=owner.id))
    maps = FieldMaps(reg, ttl=0)

    def current() -> dict[str, FieldRule]:
        info = reg.get_device(key)
        assert info is not None
        return dict(maps.for_device(info) or {})

    shipped = current()
    assert shipped["Distance"] == FieldRule("distance", "mm") and "Bat" in shipped
    reg.put_model_map(None, "dragino", "ldds75", fields={"Distance": {"quantity": "distance", "unit": "cm"}})
    assert current()["Distance"] == FieldRule("distance", "cm")
    assert current()["Bat"] == shipped["Bat"]  # a map changes only the paths it names
    reg.put_model_map(
        other.id, "dragino", "ldds75", fields={"Distance": {"quantity": "distance", "unit": "m"}}
    )
    assert current()["Distance"] == FieldRule("distance", "cm")  # another account's map does not apply
    reg.put_model_map(
        owner.id, "dragino", "ldds75", fields={"Distance": {"quantity": "distance", "unit": "m"}}
    )
    assert current()["Distance"] == FieldRule("distance", "m")
    reg.update_device(
        key,
        DeviceChanges(
            field_map={"Distance": {"quantity": "distance", "unit": "mm", "scale": 10}, "Bat": None}
        ),
    )
    final = current()
    assert final["Distance"] == FieldRule("distance", "mm", 10.0)
    assert "Bat" not in final  # null removes a rule: the field stays a vendor field
    assert reg.delete_model_map(owner.id, "dragino", "ldds75")
    assert not reg.delete_model_map(owner.id, "dragino", "ldds75")


class Capture:
    """A decoder that records the context it is given."""

    def __init__(self) -> None:
        self.contexts: list[DeviceContext] = []

    def __call__(self, payload: bytes, f_port: int, ctx: DeviceContext, /) -> DecodeResult:
        self.contexts.append(ctx)
        return DecodeResult(())


def test_the_decoder_gets_the_device_field_map_and_a_fix_reaches_the_next_decode(
    sqlite_registry: Registry,
) -> None:
    capture = Capture()

    def resolve(name: str) -> Decoder:
        assert name == "network"
        return capture

    maps = FieldMaps(sqlite_registry, ttl=0)
    decoding = Decoding(DeviceDirectory(sqlite_registry, ttl=0), resolve, maps)
    s = decoding.decode(uplink("lvl", LDDS75, {"Distance": 2799}))
    assert s.kind == "bin" and s.decode_error is None
    assert capture.contexts[-1].field_map is not None
    assert capture.contexts[-1].field_map["Distance"] == FieldRule("distance", "mm")
    sqlite_registry.put_model_map(
        None, "dragino", "ldds75", fields={"Distance": {"quantity": "distance", "unit": "cm"}}
    )
    # re-decoding the stored uplink (it carries no version_ids) uses the fixed map
    decoding.decode(uplink("lvl", None, {"Distance": 2799}))
    assert capture.contexts[-1].field_map["Distance"] == FieldRule("distance", "cm")  # type: ignore[index]


def test_devices_without_a_model_get_no_field_map(sqlite_registry: Registry) -> None:
    capture = Capture()
    decoding = Decoding(
        DeviceDirectory(sqlite_registry, ttl=0), lambda name: capture, FieldMaps(sqlite_registry)
    )
    decoding.decode(uplink("plain", None, {"t": 1}))
    assert capture.contexts[-1].field_map is None


@pytest.mark.parametrize("bad", [{"x": {"quantity": "nope"}}, {"x": {"quantity": "distance", "unit": "V"}}])
def test_a_bad_stored_map_is_ignored_with_a_warning(
    sqlite_registry: Registry, bad: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    reg = sqlite_registry
    reg.put_model_map(None, "dragino", "ldds75", fields=bad)  # written around the API's validation
    info = reg.ensure_device(DeviceKey("town", "x"), None, LDDS75, decoded=True)
    fmap = FieldMaps(reg, ttl=0).for_device(info)
    assert fmap is not None and fmap["Distance"] == FieldRule("distance", "mm")
    assert "ignoring a stored model map" in caplog.text


def test_history_is_right_after_a_map_fix_and_a_redecode(sqlite_registry: Registry, tmp_path: Path) -> None:
    """Stored with the shipped map, then the map is changed and the device re-decoded: the
    stored readings follow the map that applies now."""
    reg = sqlite_registry
    store = SqliteStore(tmp_path / "readings.db")
    try:
        decoding = Decoding(DeviceDirectory(reg, ttl=0), field_maps=FieldMaps(reg, ttl=0))
        model = DeviceModel("netvox", "r718pe")
        decoded = {"Device": "R718PE", "Volt": 3.6, "Distance": 300, "FillLevel": 50}
        up = Uplink("ttn", "town", "lvl", T0, 6, 1, b"\x01", network_decoded=decoded, device_model=model)
        store.write([decoding.decode(up)])
        key = DeviceKey("town", "lvl")

        def latest() -> dict[str, object]:
            return {v.key: v.value for v in store.latest(key)}

        before = latest()
        assert before["distance"] == pytest.approx(0.3)  # 300 mm, as the shipped map says
        assert before["fill_pct"] == 50 and before["battery_voltage"] == pytest.approx(3.6)
        # a fix: this fleet's firmware reports the distance in cm
        reg.put_model_map(
            None, "netvox", "r718pe", fields={"Distance": {"quantity": "distance", "unit": "cm"}}
        )
        job = redecode(store, redecoder(reg), key, T0 - 1, T0 + 1, Job("t", "redecode", key, None))
        assert (job.state, job.done, job.decode_errors) == ("done", 1, 0)
        after = latest()
        assert after["distance"] == pytest.approx(3.0)
        assert after["fill_pct"] == 50
    finally:
        store.close()
