"""InfluxDB line protocol for stored uplinks, built directly (no per-point objects).

Layout (ARCHITECTURE.md): measurement ``reading`` with tags application_id, device_id,
kind and one field per reading key (numbers always float, so a value that happens to be
whole never conflicts with one that is not); measurement ``uplink`` with radio
metadata, f_cnt, f_port, the raw payload (base64) and any decode error. Timestamps are
the network's reception time (or the decoder's sample time) in nanoseconds.

Escaping follows https://docs.influxdata.com/influxdb/v1/write_protocols/line_protocol_reference/
and is tested against influxdb-client's own Point serialiser.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable
from functools import lru_cache

import orjson

from lorakeet.decoders import Value

from .records import RejectedMessage, StoredUplink

_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n"})
_STR_ESCAPES = str.maketrans({'"': r"\"", "\\": "\\\\"})


def escape_tag(value: str) -> str:
    """Escape a tag key or value (commas, equals signs, spaces)."""
    return value.translate(_TAG_ESCAPES)


def field_value(value: Value) -> str:
    """A field value: floats bare, booleans as true/false, strings quoted."""
    if type(value) is float:  # the common case first
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return f"{value}i"
    return '"' + value.translate(_STR_ESCAPES) + '"'


@lru_cache(maxsize=1 << 16)
def _series(measurement: str, app: str, dev: str, kind: str) -> str:
    """Measurement and tags, escaped (the same few per device, so kept)."""
    return (
        f"{measurement},application_id={escape_tag(app)},device_id={escape_tag(dev)},kind={escape_tag(kind)}"
    )


@lru_cache(maxsize=1024)
def _quoted(value: str) -> str:
    """A string field value (source and decoder names: few, so kept)."""
    return field_value(value)


@lru_cache(maxsize=1 << 16)
def _device_series(app: str, dev: str, kind: str) -> tuple[str, str]:
    """The ``reading`` and ``uplink`` series keys of a device (one lookup per uplink)."""
    return _series("reading", app, dev, kind), _series("uplink", app, dev, kind)


def uplink_lines(stored: StoredUplink) -> Iterable[str]:
    """The line-protocol lines of one stored uplink."""
    u = stored.uplink
    t = u.received_at_ns
    reading_series, uplink_series = _device_series(u.application_id, u.device_id, stored.kind)
    lines: list[str] = []
    if stored.readings:
        now_fields: list[str] = []
        sampled: dict[int, list[str]] = {}
        for r in stored.readings:
            v = r.value
            f = f"{r.key}={v!r}" if type(v) is float else f"{r.key}={field_value(v)}"
            if r.time_ns is None or r.time_ns == t:
                now_fields.append(f)
            else:
                sampled.setdefault(r.time_ns, []).append(f)
        if now_fields:
            lines.append(f"{reading_series} {','.join(now_fields)} {t}")
        for at, fields in sampled.items():
            lines.append(f"{reading_series} {','.join(fields)} {at}")
    parts = [
        f'{uplink_series} f_cnt={u.f_cnt}i,f_port={u.f_port}i,payload="',
        binascii.b2a_base64(u.payload, newline=False).decode(),
        f'",source={_quoted(u.source)},decoder={_quoted(stored.decoder)},gateway_count={len(u.gateways)}i',
    ]
    if u.rssi is not None:
        parts.append(f",rssi={float(u.rssi)!r}")
    if u.snr is not None:
        parts.append(f",snr={float(u.snr)!r}")
    if u.spreading_factor is not None:
        parts.append(f",sf={u.spreading_factor}i")
    if u.frequency is not None:
        parts.append(f",frequency={u.frequency}i")
    if u.gateways:
        parts.append(f",gateways={field_value(','.join(u.gateways))}")
    # always written (empty when none): a re-decode that succeeds must clear an old error
    parts.append(
        f",decode_error={field_value(stored.decode_error)}" if stored.decode_error else ',decode_error=""'
    )
    if u.network_decoded is not None:
        parts.append(f",network_decoded={field_value(orjson.dumps(u.network_decoded).decode())}")
    if stored.warnings:
        parts.append(f",warnings={field_value(chr(10).join(stored.warnings))}")
    parts.append(f" {t}")
    lines.append("".join(parts))
    return lines


def rejected_lines(batch: Iterable[RejectedMessage]) -> list[str]:
    """Lines of the ``rejected`` measurement; messages that arrived in the same nanosecond go
    1 ns apart (a point's time and tags identify it: they would overwrite each other)."""
    lines: list[str] = []
    used: set[tuple[str, int]] = set()
    for m in batch:
        t = m.received_at_ns
        while (m.source, t) in used:
            t += 1
        used.add((m.source, t))
        body = field_value(m.body.decode("utf-8", "replace"))
        lines.append(
            f"rejected,source={escape_tag(m.source)} topic={field_value(m.topic)},body={body},"
            f"error={field_value(m.error)} {t}"
        )
    return lines


UNIT_REFRESH_NS = 24 * 3600 * 1_000_000_000


class UnitLines:
    """The stated units of vendor fields, written to measurement ``reading_unit`` when they change.

    One point per device holds one string field per vendor key (``v.temp_SOIL="°C"``,
    ``v.Hum_SHT=""``), at the time of the uplink that brought the change; ``SELECT last(*)``
    gives every key's current unit. This process remembers what it wrote, so a steady
    fleet adds no line; each device's units are written again once a day of uplink time
    (a retention policy may have dropped the old point).
    """

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], dict[str, str]] = {}
        self._stamp: dict[tuple[str, str], int] = {}

    def add(self, stored: StoredUplink, lines: list[str]) -> None:
        """Append the ``reading_unit`` line ``stored`` needs, if any, to ``lines``."""
        u = stored.uplink
        dev = (u.application_id, u.device_id)
        known = self._known.get(dev)
        changed: dict[str, str] | None = None
        for r in stored.readings:
            k = r.key
            if k[1:2] != ".":  # vocabulary keys: the vocabulary holds their unit
                continue
            if known is None:
                known = self._known[dev] = {}
            if known.get(k) != r.unit:
                known[k] = r.unit
                if changed is None:
                    changed = {}
                changed[k] = r.unit
        if known is None:
            return
        t = u.received_at_ns
        if t - self._stamp.get(dev, t - UNIT_REFRESH_NS - 1) > UNIT_REFRESH_NS:
            changed = known
        if changed:
            self._stamp[dev] = t
            series = _series("reading_unit", u.application_id, u.device_id, stored.kind)
            lines.append(f"{series} {','.join(f'{k}={field_value(v)}' for k, v in changed.items())} {t}")

    def forget(self, batch: Iterable[StoredUplink]) -> None:
        """A write failed: write these devices' units again next time."""
        for s in batch:
            self.forget_device(s.uplink.application_id, s.uplink.device_id)

    def forget_device(self, application_id: str, device_id: str) -> None:
        """Drop what is known about one device."""
        self._known.pop((application_id, device_id), None)
        self._stamp.pop((application_id, device_id), None)
