"""comtac LPN TD1 tracking device (GPS + Wi-Fi positioning, LoRaWAN).

Spec: comtac "LPN TD1 Payload Description" (application firmware 2.x). All multi-byte
values are big-endian. Every uplink starts with a 4-byte header::

    0     payload version (0x01)
    1     status bits (port 3: position status and ping type; port 100: config status)
    2     battery   uint8   3.0 V + raw x 5 mV
    3     temperature int8  deg C

f_port 3, data: after the header, blocks tagged by their first byte:

- 0x01 GPS (9 bytes): latitude int32 x 1e-6 deg, longitude int32 x 1e-6 deg, then one
  byte with the estimated-position-error class (bits 4-7) and satellites (bits 0-3);
- 0x02 Wi-Fi: access-point count, then per access point 6 bytes MAC and 1 byte -RSSI.

A ping without blocks carries no position (``gps_fix`` False). Wi-Fi MACs are not
stored (resolving them needs a geolocation service). The TD1 reports no speed or heading.

f_port 100, configuration: header, application version major/minor, ping interval
uint16 (minutes -> ``interval`` in s), long-range trigger, mid-range trigger, rejoin
trigger uint16, GPS fixes, minimum Wi-Fi detections. Only the version, interval and
``status`` are stored.
"""

from __future__ import annotations

from .errors import PayloadFormatError, TruncatedPayloadError, UnsupportedPortError
from .types import DecodeResult, DeviceContext, ReadingsBuilder

DATA_PORT = 3
CONFIG_PORT = 100
VERSION = 0x01
HEADER_SIZE = 4
CONFIG_SIZE = 14

GPS_BLOCK = 0x01
WIFI_BLOCK = 0x02
GPS_BLOCK_SIZE = 9
WIFI_AP_SIZE = 7

_CONFIG_STATUS = {0x02: "/CFG GET"}


def _header(b: ReadingsBuilder, payload: bytes) -> None:
    if len(payload) < HEADER_SIZE:
        raise TruncatedPayloadError(HEADER_SIZE, len(payload), "LPN TD1 header")
    if payload[0] != VERSION:
        raise PayloadFormatError(f"unknown LPN TD1 payload version 0x{payload[0]:02x}")
    b.add("battery_voltage", (3000 + payload[2] * 5) / 1000)
    b.add("temperature", int.from_bytes(payload[3:4], "big", signed=True))


def _gps(b: ReadingsBuilder, block: bytes) -> None:
    b.add("latitude", int.from_bytes(block[0:4], "big", signed=True) / 1e6)
    b.add("longitude", int.from_bytes(block[4:8], "big", signed=True) / 1e6)
    b.add("satellites", block[8] & 0x0F)


def _blocks(b: ReadingsBuilder, payload: bytes) -> bool:
    """Read the data blocks after the header; True when a GPS block was found.

    A malformed block ends parsing with a warning; the readings before it survive.
    """
    i, n, gps = HEADER_SIZE, len(payload), False
    while i < n:
        tag = payload[i]
        if tag == GPS_BLOCK:
            end = i + 1 + GPS_BLOCK_SIZE
            if end > n:
                b.warn(f"GPS block at byte {i} truncated: needs {GPS_BLOCK_SIZE} bytes, got {n - i - 1}")
                break
            _gps(b, payload[i + 1 : end])
            gps = True
        elif tag == WIFI_BLOCK:
            count = payload[i + 1] if i + 1 < n else 0
            end = i + 2 + count * WIFI_AP_SIZE
            if i + 1 >= n or end > n:
                b.warn(f"Wi-Fi block at byte {i} truncated")
                break
        else:
            b.warn(f"unknown block 0x{tag:02x} at byte {i}; rest ignored")
            break
        i = end
    return gps


def decode(payload: bytes, f_port: int, ctx: DeviceContext, /) -> DecodeResult:
    """Decode an LPN TD1 data (port 3) or configuration (port 100) uplink."""
    if f_port not in (DATA_PORT, CONFIG_PORT):
        raise UnsupportedPortError(f_port, "comtac_lpn_td1")
    b = ReadingsBuilder()
    _header(b, payload)
    if f_port == DATA_PORT:
        b.add("gps_fix", _blocks(b, payload))
        return b.result()
    if len(payload) < CONFIG_SIZE:
        raise TruncatedPayloadError(CONFIG_SIZE, len(payload), "LPN TD1 configuration")
    status = payload[1]
    b.add("status", _CONFIG_STATUS.get(status, f"config status 0x{status:02x}"))
    b.add("firmware_version", f"{payload[4]}.{payload[5]}")
    b.add("interval", int.from_bytes(payload[6:8], "big") * 60)
    return b.result()
