"""The closed vocabulary of quantities Lorakeet stores, with units and valid ranges.

Decoders produce values already converted to the unit named here. A value outside
the quantity's range is dropped with a warning; the rest of the payload survives.
A reading's key is the quantity name, optionally followed by ``_<channel>``
(``temperature_3``), the way The Things Stack names Cayenne LPP channels.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

ValueType = Literal["float", "bool", "str"]


@dataclass(frozen=True, slots=True)
class Quantity:
    """One entry of the vocabulary."""

    name: str
    unit: str
    minimum: float = -math.inf
    maximum: float = math.inf
    type: ValueType = "float"
    description: str = ""


def _q(
    name: str,
    unit: str,
    lo: float = -math.inf,
    hi: float = math.inf,
    type: ValueType = "float",
    description: str = "",
) -> Quantity:
    return Quantity(name, unit, lo, hi, type, description)


_ALL: tuple[Quantity, ...] = (
    # environment
    _q("temperature", "°C", -90, 200, description="air or device temperature"),
    _q("humidity", "%", 0, 100, description="relative humidity"),
    _q("pressure", "hPa", 0, 2000, description="barometric pressure"),
    _q("illuminance", "lx", 0, 300_000),
    _q("co2", "ppm", 0, 100_000),
    _q("concentration", "ppm", 0, 1_000_000),
    _q("sound_level", "dB", 0, 200),
    # power and battery
    _q("battery_voltage", "V", 0, 100),
    _q("battery", "%", 0, 100, description="battery level"),
    _q("voltage", "V", 0, 100_000),
    _q("current", "A", 0, 100_000),
    _q("power", "W", -1e9, 1e9),
    _q("energy", "kWh", 0, 1e12),
    _q("power_factor", "", -1, 1),
    _q("frequency", "Hz", 0, 1e10),
    # level and distance (bins)
    _q("distance", "m", 0, 1000, description="distance from sensor to surface"),
    _q("fill_pct", "%", 0, 100, description="bin fill level"),
    _q("tilt", "°", -360, 360),
    _q("fire_alarm", "", type="bool"),
    _q("full_alarm", "", type="bool"),
    _q("tilt_alarm", "", type="bool"),
    # position (boats)
    _q("latitude", "°", -90, 90),
    _q("longitude", "°", -180, 180),
    _q("altitude", "m", -1000, 100_000),
    _q("speed", "km/h", 0, 2000),
    _q("heading", "°", 0, 360),
    _q("hdop", "", 0, 100),
    _q("satellites", "", 0, 100),
    _q("gps_fix", "", type="bool"),
    _q("in_motion", "", type="bool"),
    # lights and switches
    _q("lamp_on", "", type="bool"),
    _q("dim_level", "%", 0, 100),
    _q("lamp_fault", "", type="bool"),
    _q("power_fault", "", type="bool"),
    _q("fault", "", type="bool", description="any device-reported fault"),
    _q("switch", "", type="bool"),
    _q("relay", "", type="bool"),
    _q("digital_input", "", 0, 255),
    _q("digital_output", "", 0, 255),
    _q("analog_input", "", -1e9, 1e9),
    _q("analog_output", "", -1e9, 1e9),
    _q("presence", "", 0, 255),
    _q("occupancy", "", type="bool"),
    _q("door_open", "", type="bool"),
    _q("daylight", "", type="bool", description="ambient light above the device's threshold"),
    _q("alarm", "", type="bool", description="device alarm / SOS button active"),
    _q("interrupt", "", type="bool", description="uplink triggered by the interrupt pin"),
    _q("counter", "", 0, 1e15),
    # Cayenne LPP generic types
    _q("generic", "", 0, 2**32),
    _q("percentage", "%", 0, 100),
    _q("direction", "°", 0, 360),
    _q("unix_time", "s", 0, 2**32),
    _q("acceleration_x", "g", -40, 40),
    _q("acceleration_y", "g", -40, 40),
    _q("acceleration_z", "g", -40, 40),
    _q("gyro_x", "°/s", -400, 400),
    _q("gyro_y", "°/s", -400, 400),
    _q("gyro_z", "°/s", -400, 400),
    _q("colour_r", "", 0, 255),
    _q("colour_g", "", 0, 255),
    _q("colour_b", "", 0, 255),
    # device status
    _q("interval", "s", 0, 10_000_000, description="reporting interval"),
    _q("firmware_version", "", type="str"),
    _q("status", "", type="str", description="a device-reported status word"),
)

QUANTITIES: dict[str, Quantity] = {q.name: q for q in _ALL}

_KEY = re.compile(r"^([a-z][a-z0-9_]*?)(?:_(\d{1,3}))?\Z")


def split_key(key: str) -> tuple[Quantity, int | None]:
    """Return the quantity and channel of a reading key, or raise KeyError."""
    q = QUANTITIES.get(key)
    if q is not None:
        return q, None
    m = _KEY.match(key)
    if m and m.group(2) is not None:
        q = QUANTITIES.get(m.group(1))
        if q is not None:
            return q, int(m.group(2))
    raise KeyError(key)


def is_valid_key(key: str) -> bool:
    """True when ``key`` names a quantity, with or without a channel suffix."""
    try:
        split_key(key)
    except KeyError:
        return False
    return True
