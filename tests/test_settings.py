"""Settings from the environment: nested variables, and an empty value that means "off"."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from lorakeet.settings import LeaderSettings, MqttSettings, Settings


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


def test_share_group_members_get_distinct_client_ids_unless_one_is_set() -> None:
    shared = MqttSettings(share_group="ingest", clean_session=True)
    assert shared.effective_client_id.startswith("lorakeet-bridge-")
    assert str(os.getpid()) in shared.effective_client_id
    assert MqttSettings(share_group="ingest", client_id="bridge-7").effective_client_id == "bridge-7"
    assert MqttSettings().effective_client_id == "lorakeet-bridge"


def test_share_group_with_persistent_sessions_needs_a_stable_client_id() -> None:
    """A restarted bridge under a new id would leave its old session queueing a share forever."""
    with pytest.raises(ValidationError, match="stable, distinct client_id"):
        MqttSettings(share_group="ingest")
    assert MqttSettings(share_group="ingest", client_id="bridge-1").effective_client_id == "bridge-1"


def test_share_group_and_leader_lock_exclude_each_other() -> None:
    with pytest.raises(ValidationError, match="exclude each other"):
        Settings(mqtt=MqttSettings(share_group="g", client_id="b-1"), leader=LeaderSettings(enabled=True))
    with pytest.raises(ValidationError):
        MqttSettings(share_group="a/b", client_id="b-1")  # the group is one topic level
