"""The shipped device-model files: every one loads and validates, and covers the models it must."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lorakeet.decoders import DECODERS
from lorakeet.decoders.models import (
    MODELS_DIR,
    FieldRule,
    ModelFileError,
    catalog,
    check_unit,
    load_catalog,
    merge_maps,
    rules_from_json,
)
from lorakeet.decoders.quantities import split_key

# ../shared/reference beside the repository, as the issue names it
VECTORS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "ttn-device-repo-vectors"


def _vector_models() -> list[tuple[str, str]]:
    out = []
    for f in sorted(VECTORS.glob("*__*.json")):
        d = json.loads(f.read_text())
        brand = d["vendor"]
        model = Path(d["codec_file"]).stem.replace("-codec", "")
        out.append((brand, model))
    return out


def test_every_vendor_file_loads_and_every_rule_is_valid() -> None:
    cat = load_catalog()
    files = sorted(MODELS_DIR.glob("*.toml"))
    assert len(files) >= 15
    brands = {m.brand_id for m in cat.all()}
    assert {f.stem for f in files} == brands  # one file per vendor, named by its brand id
    for m in cat.all():
        assert m.kind in ("bin", "streetlight", "boat", "other")
        assert m.decoder == "network" or m.decoder in DECODERS
        for rule in m.field_map.values():
            split_key(rule.quantity)  # a vocabulary key
            check_unit(rule.quantity, rule.unit)  # converts the way the reader converts


def test_every_vector_model_and_every_native_decoder_has_a_model() -> None:
    cat = catalog()
    if not VECTORS.is_dir():
        pytest.fail(f"the shared Device Repository vectors are missing at {VECTORS}")
    for brand, model in _vector_models():
        found = cat.get(brand, model)
        assert found is not None, f"{brand}/{model} has no model entry"
    used = {m.decoder for m in cat.all()}
    natives = {
        name
        for name, info in DECODERS.items()
        if name.split("_")[0] in ("dragino", "milesight", "dingtek", "netvox", "digital", "comtac", "elsys")
        and name != "netvox"
    }
    assert natives <= used, f"native decoders without a model: {sorted(natives - used)}"


def test_resolution_by_brand_model_alias_and_profile_name() -> None:
    cat = catalog()
    m = cat.get("dragino", "ldds75")
    assert m is not None and m.kind == "bin" and m.decoder == "dragino_ldds75"
    assert m.field_map["Distance"] == FieldRule("distance", "mm")
    assert cat.get("DRAGINO", "LDDS75") is m  # ids are lower-case in the repository
    assert cat.get("dragino", "ldds75-114") is m
    assert cat.get("dragino", None) is None and cat.get("acme", "ldds75") is None
    assert cat.match_profile("Dragino LDDS75") is m
    assert cat.match_profile("dragino-ldds75") is m
    assert cat.match_profile("my own profile") is None
    # the LGT-92's LON is its LED flag: it must never become a longitude
    assert "LON" not in cat.get("dragino", "lgt92").field_map  # type: ignore[union-attr]
    # LHT65's two temperatures land on two keys
    lht = cat.get("dragino", "lht65")
    assert lht is not None
    assert lht.field_map["TempC_SHT"].quantity != lht.field_map["TempC_DS"].quantity


def _write(tmp: Path, text: str) -> Path:
    (tmp / "acme.toml").write_text(text, encoding="utf-8")
    return tmp


GOOD = """
brand = "acme"
[models.al-1]
name = "AL-1"
kind = "bin"
decoder = "network"
[models.al-1.fields]
dist = { quantity = "distance", unit = "mm" }
"""


def test_a_good_file_loads(tmp_path: Path) -> None:
    cat = load_catalog(_write(tmp_path, GOOD))
    m = cat.get("acme", "al-1")
    assert m is not None and m.field_map == {"dist": FieldRule("distance", "mm", 1.0)}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('quantity = "distance"', 'quantity = "distanse"'), "unknown quantity 'distanse'"),
        (('unit = "mm"', 'unit = "furlong"'), "unit 'furlong' does not convert into distance"),
        (('unit = "mm"', 'unit = "V"'), "unit 'V' does not convert into distance"),
        (('decoder = "network"', 'decoder = "nope"'), "unknown decoder 'nope'"),
        (('kind = "bin"', 'kind = "bucket"'), "kind"),
        (("dist = {", "dist = { colour = 1,"), "colour"),
        (('name = "AL-1"', 'name = "AL-1"\nwhat = 1'), "what"),
    ],
)
def test_a_bad_file_names_file_model_and_field(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    text = GOOD.replace(*change)
    with pytest.raises(ModelFileError) as exc:
        load_catalog(_write(tmp_path, text))
    assert "acme.toml" in str(exc.value)
    assert message in str(exc.value)
    if "field" in message or "quantity" in message or "unit" in message:
        assert "al-1" in str(exc.value)


def test_duplicate_model_and_bad_toml(tmp_path: Path) -> None:
    (tmp_path / "other.toml").write_text(GOOD, encoding="utf-8")
    _write(tmp_path, GOOD)
    with pytest.raises(ModelFileError, match="defined twice"):
        load_catalog(tmp_path)
    (tmp_path / "other.toml").write_text("brand = ", encoding="utf-8")
    with pytest.raises(ModelFileError, match=r"other\.toml: not valid TOML"):
        load_catalog(tmp_path)


def test_rule_units_are_the_ones_the_reader_converts() -> None:
    for quantity, unit in [
        ("distance", "mm"),
        ("distance_2", "cm"),
        ("energy", "Wh"),
        ("current", "mA"),
        ("battery_voltage", "mV"),
        ("temperature", "℃"),
        ("interrupt", None),
        ("hdop", None),
    ]:
        check_unit(quantity, unit)
    with pytest.raises(ValueError, match="does not convert"):
        check_unit("interrupt", "V")
    with pytest.raises(ValueError, match=r"accepted: .*'mm'"):
        check_unit("distance", "V")
    with pytest.raises(ValueError, match="unknown quantity"):
        check_unit("distanse", "mm")


def test_merge_order_and_removal() -> None:
    shipped = {"a": FieldRule("distance", "mm"), "b": FieldRule("temperature")}
    user = rules_from_json({"a": {"quantity": "distance", "unit": "cm"}, "b": None}, "user map")
    device = {"c": FieldRule("humidity")}
    merged = merge_maps(shipped, user, device)
    assert merged == {"a": FieldRule("distance", "cm"), "c": FieldRule("humidity")}
    with pytest.raises(ModelFileError, match="user map: field 'x'"):
        rules_from_json({"x": {"quantity": "nope"}}, "user map")
