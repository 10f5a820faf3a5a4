"""``lorakeet models``: list, show, set (checked), delete, and check vendor files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lorakeet.cli import app
from lorakeet.decoders.models import FieldRule
from lorakeet.storage.records import DeviceKey, DeviceModel
from lorakeet.storage.registry import Registry


@pytest.fixture
def registry_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    monkeypatch.setenv("LORAKEET_REGISTRY_URL", url)
    return url


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["models", *args], env={"COLUMNS": "200"})
    return result.exit_code, re.sub(r"[\s│╭╮╰╯─]+", " ", result.output)  # error boxes wrap lines


def test_list_and_show_the_shipped_models(registry_url: str) -> None:
    code, out = run("list", "--brand", "netvox")
    assert code == 0 and "r718pe" in out and "dragino" not in out
    code, out = run("show", "netvox", "r718pe")
    assert code == 0 and "FillLevel" in out and "fill_pct" in out
    code, out = run("show", "acme", "nothing")
    assert code == 1 and "no model acme/nothing" in out


def test_set_merges_checks_and_delete_restores(registry_url: str) -> None:
    code, out = run("set", "dragino", "ldds75", "--field", "Distance=distance:cm", "--remove", "Bat")
    assert code == 0, out
    reg = Registry(registry_url)
    try:
        m = reg.effective_model("dragino", "ldds75", None)
        assert m is not None and m.field_map["Distance"] == FieldRule("distance", "cm")
        assert "Bat" not in m.field_map and "TempC_DS18B20" in m.field_map
    finally:
        reg.close()
    code, out = run("set", "dragino", "ldds75", "--field", "Sensor_flag=counter:V")
    assert code != 0 and "does not convert" in out
    code, out = run("set", "dragino", "ldds75", "--field", "nonsense")
    assert code != 0 and "PATH=QUANTITY" in out
    code, out = run("set", "dragino", "ldds75", "--kind", "bucket")
    assert code != 0 and "kind 'bucket'" in out
    assert run("delete", "dragino", "ldds75")[0] == 0
    assert run("delete", "dragino", "ldds75")[0] == 1
    code, out = run("show", "dragino", "ldds75")
    assert code == 0 and "mm" in out


def test_check_validates_a_directory_of_vendor_files(tmp_path: Path) -> None:
    code, out = run("check")
    assert code == 0 and "OK" in out
    (tmp_path / "acme.toml").write_text(
        'brand = "acme"\n[models.al-1]\nname = "AL-1"\n[models.al-1.fields]\nd = { quantity = "distanse" }\n'
    )
    code, out = run("check", str(tmp_path))
    assert code == 1 and "acme.toml" in out and "al-1" in out and "distanse" in out


def test_device_rules_are_set_shown_and_cleared(registry_url: str) -> None:
    reg = Registry(registry_url)
    try:
        reg.ensure_device(DeviceKey("town", "lvl"), None, DeviceModel("dragino", "ldds75"), decoded=True)
    finally:
        reg.close()
    code, out = run("device", "town.lvl", "--field", "Distance=distance:cm:10", "--remove", "Bat")
    assert code == 0, out
    assert "dragino/ldds75" in out and "cm" in out and "model rule removed" in out
    reg = Registry(registry_url)
    try:
        row = reg.get_row(DeviceKey("town", "lvl"))
        assert row is not None
        assert row.field_map == {
            "Distance": {"quantity": "distance", "unit": "cm", "scale": 10.0},
            "Bat": None,
        }
    finally:
        reg.close()
    code, out = run("device", "town.lvl", "--field", "x=nope")
    assert code != 0 and "unknown quantity 'nope'" in out
    assert run("device", "town.lvl", "--unset", "Bat")[0] == 0
    assert run("device", "town.lvl", "--clear")[0] == 0
    reg = Registry(registry_url)
    try:
        row = reg.get_row(DeviceKey("town", "lvl"))
        assert row is not None and row.field_map == {}
    finally:
        reg.close()
    assert run("device", "town.nobody")[0] == 1
    assert run("device", "not-a-uid")[0] != 0
