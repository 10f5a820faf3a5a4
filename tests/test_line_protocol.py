"""Line protocol built by hand must equal what influxdb-client's Point serialiser makes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from influxdb_client.client.write.point import Point as ClientPoint

from lorakeet.decoders import Reading
from lorakeet.storage.line_protocol import escape_tag, field_value, uplink_lines
from lorakeet.storage.records import StoredUplink, Uplink

T = 1_714_557_600_123_456_789


def client_line(measurement: str, tags: dict[str, str], fields: dict[str, object], t: int) -> str:
    p = ClientPoint(measurement)
    for k, v in tags.items():
        p.tag(k, v)
    for k, v in fields.items():
        p.field(k, v)
    return str(p.time(t).to_line_protocol())


def _split_unquoted(text: str, sep: str) -> list[str]:
    parts, cur, quoted, escaped = [], "", False, False
    for ch in text:
        if escaped:
            cur += ch
            escaped = False
        elif ch == "\\":
            cur += ch
            escaped = True
        elif ch == '"':
            cur += ch
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def _normalised(line: str) -> tuple[str, dict[str, object], str]:
    """(series, fields, time); influxdb-client sorts fields and writes 42.0 as 42."""
    head, rest = _split_unquoted(line, " ")[0], " ".join(_split_unquoted(line, " ")[1:])
    fields_text, t = rest.rsplit(" ", 1)
    fields: dict[str, object] = {}
    for f in _split_unquoted(fields_text, ","):
        k, v = f.split("=", 1)
        fields[k] = v if v.startswith('"') or v.endswith("i") or v in ("true", "false") else float(v)
    return head, fields, t


def make(readings: tuple[Reading, ...], app: str = "town bins", dev: str = "bin,1=a") -> StoredUplink:
    u = Uplink(
        source="ttn",
        application_id=app,
        device_id=dev,
        received_at_ns=T,
        f_port=1,
        f_cnt=7,
        payload=b"\x01\x02",
        rssi=-90.0,
        snr=7.5,
        spreading_factor=7,
        frequency=868_100_000,
        gateways=("gw 1", "gw2"),
    )
    return StoredUplink(u, "bin", "cayenne_lpp", readings, decode_error='bad "byte" \\ 3')


def test_reading_line_matches_client() -> None:
    s = make((Reading("fill_pct", 42.0, "%"), Reading("lamp_on", True, ""), Reading("status", 'ok "x"', "")))
    ours = next(iter(uplink_lines(s)))
    theirs = client_line(
        "reading",
        {"application_id": "town bins", "device_id": "bin,1=a", "kind": "bin"},
        {"fill_pct": 42.0, "lamp_on": True, "status": 'ok "x"'},
        T,
    )
    assert _normalised(ours) == _normalised(theirs)


def test_uplink_line_matches_client() -> None:
    lines = list(uplink_lines(make(())))
    assert len(lines) == 1  # no readings: only the uplink point
    theirs = client_line(
        "uplink",
        {"application_id": "town bins", "device_id": "bin,1=a", "kind": "bin"},
        {
            "f_cnt": 7,
            "f_port": 1,
            "payload": "AQI=",
            "source": "ttn",
            "decoder": "cayenne_lpp",
            "gateway_count": 2,
            "rssi": -90.0,
            "snr": 7.5,
            "sf": 7,
            "frequency": 868_100_000,
            "gateways": "gw 1,gw2",
            "decode_error": 'bad "byte" \\ 3',
        },
        T,
    )
    assert _normalised(lines[0]) == _normalised(theirs)


def test_sampled_readings_get_their_own_points() -> None:
    s = make((Reading("temperature", 20.0, "°C", T - 60_000_000_000), Reading("temperature", 21.0, "°C")))
    lines = list(uplink_lines(s))
    assert lines[0].endswith(f"temperature=21.0 {T}")
    assert lines[1].endswith(f"temperature=20.0 {T - 60_000_000_000}")
    assert lines[2].startswith("uplink,")


def test_whole_numbers_stay_floats() -> None:
    # 20 and 20.5 must never become an int and a float field (a type conflict in InfluxDB)
    assert field_value(20.0) == "20.0"
    assert field_value(7) == "7i"


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=30).filter(lambda s: not s.endswith("\\")))
def test_tag_escaping_matches_client(value: str) -> None:
    ours = f"m,t={escape_tag(value)} v=1i 1"
    theirs = client_line("m", {"t": value}, {"v": 1}, 1)
    if "\n" not in value and "\r" not in value and "\t" not in value:
        assert ours == theirs
