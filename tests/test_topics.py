"""One template gives both the subscription filter and the topic parser."""

from __future__ import annotations

import pytest

from lorakeet.gateway_bridge.topics import CHIRPSTACK_TEMPLATE, TTS_TEMPLATE, TopicMatch, TopicTemplate


def test_tts_filter_and_parse() -> None:
    t = TopicTemplate(TTS_TEMPLATE)
    assert t.filter("town-bins@ttn") == "v3/town-bins@ttn/devices/+/up"
    assert t.parse("v3/town-bins@ttn/devices/bin-1/up") == TopicMatch("town-bins@ttn", "bin-1", "up")
    assert t.parse("v3/app/devices/d/down/queued") == TopicMatch("app", "d", "down/queued")
    assert t.parse("v3/app/gateways/g/up") is None


def test_chirpstack_filter_and_parse() -> None:
    t = TopicTemplate(CHIRPSTACK_TEMPLATE)
    assert t.filter() == "application/+/device/+/event/up"
    m = t.parse("application/17c8/device/0101010101010101/event/join")
    assert m == TopicMatch("17c8", "0101010101010101", "join")


def test_template_needs_all_fields() -> None:
    with pytest.raises(ValueError, match="device"):
        TopicTemplate("v3/{application}/{event}")
