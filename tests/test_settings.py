"""Settings from the environment: nested variables, and an empty value that means "off"."""

from __future__ import annotations

import pytest

from lorakeet.settings import Settings


def test_nested_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LORAKEET_MQTT__URL", "mqtts://eu1.cloud.thethings.network:8883")
    monkeypatch.setenv("LORAKEET_MQTT__QOS", "0")
    monkeypatch.setenv("LORAKEET_MQTT__PASSWORD", "NNSXS.secret")
    s = Settings()
    assert (s.mqtt.host, s.mqtt.port, s.mqtt.tls, s.mqtt.qos) == (
        "eu1.cloud.thethings.network",
        8883,
        True,
        0,
    )
    assert "NNSXS" not in repr(s)  # secrets never printed


def test_empty_spool_path_means_no_spool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LORAKEET_PIPELINE__SPOOL_PATH", "")
    assert Settings().pipeline.spool_path is None
