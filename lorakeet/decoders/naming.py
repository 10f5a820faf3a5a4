"""Which vocabulary quantity a field's name names, given a stated unit.

Words (lower case, joined) that name a quantity, the names of The Things Stack's Cayenne LPP
formatter, and the quantities without a unit that a field may be named after exactly. Used
by :mod:`lorakeet.decoders.objects`; a name never fixes a unit by itself.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .quantities import QUANTITIES, Quantity, split_key
from .units import base_dimension, dimension, name_parts

# The names of The Things Stack's Cayenne LPP formatter whose unit the LPP spec fixes.
LPP_NAMES: dict[str, str] = {
    "temperature": "temperature",
    "relative_humidity": "humidity",
    "barometric_pressure": "pressure",
    "luminosity": "illuminance",
    "digital_in": "digital_input",
    "digital_out": "digital_output",
    "analog_in": "analog_input",
    "analog_out": "analog_output",
    "presence": "presence",
}
_LPP_KEY = re.compile(r"^([a-z_]+)_(\d{1,3})\Z")

# Words (lower case, joined) that name a quantity; the stated unit's dimension picks it.
_WORDS: dict[str, tuple[str, ...]] = {
    "temperature": ("temp", "temperature", "tmp", "airtemp", "airtemperature", "ambienttemperature"),
    "humidity": ("hum", "humidity", "humi", "rh", "relativehumidity", "airhumidity"),
    "battery_voltage": ("bat", "batt", "battery", "batteryvoltage", "batvoltage", "battvoltage", "batvolt"),
    "battery": ("bat", "batt", "battery", "batterylevel", "batlevel", "batterypercent", "batterypercentage"),
    "voltage": ("voltage", "volt"),
    "current": ("current", "curr"),
    "power": ("power", "activepower"),
    "energy": ("energy", "activeenergy"),
    "pressure": ("pressure", "press", "baro", "barometer", "barometricpressure", "airpressure"),
    "illuminance": ("illuminance", "light", "lux", "illumination", "luminosity", "lightintensity"),
    "co2": ("co2",),
    "distance": ("distance", "dist"),
    "altitude": ("altitude", "alt"),
    "speed": ("speed",),
    "heading": ("heading", "course"),
    "latitude": ("latitude", "lat"),
    "longitude": ("longitude", "lon", "lng"),
    "frequency": ("frequency", "freq"),
    "fill_pct": ("fill", "filllevel", "fillinglevel", "fillpct"),
    "tilt": ("tilt",),
    "interval": ("interval", "reportinterval", "uplinkinterval"),
    "sound_level": ("noise", "soundlevel", "sound"),
}
_BY_WORD: dict[tuple[str, str], str] = {}
for _q, _words in _WORDS.items():
    _dim = base_dimension(QUANTITIES[_q].unit)
    assert _dim is not None, _q
    for _w in _words:
        _BY_WORD[(_w, _dim)] = _q
for _quantity in QUANTITIES.values():  # a quantity's own name, less its underscores
    _dim = base_dimension(_quantity.unit)
    if _dim is not None:
        _BY_WORD.setdefault((_quantity.name.replace("_", ""), _dim), _quantity.name)


@lru_cache(maxsize=4096)
def quantity_for(name: str, unit: str) -> tuple[str | None, int | None]:
    """The quantity (and channel) a top-level field ``name`` with ``unit`` becomes, if any."""
    parts = name_parts(name)
    dim = dimension(unit)
    if dim is None or not parts.words:
        return None, None
    joined = "".join(parts.words)
    q = _BY_WORD.get((joined, dim))
    if q is None and parts.channel is not None:
        q = _BY_WORD.get((joined + str(parts.channel), dim))  # "co2" is a word, not co + channel 2
        if q is not None:
            return q, None
    return q, parts.channel


@lru_cache(maxsize=1 << 14)
def unitless_quantity(name: str) -> Quantity | None:
    """The quantity without a unit that ``name`` is exactly (``counter``, ``hdop``), or None."""
    try:
        q, _channel = split_key(name)
    except KeyError:
        return None
    return None if q.unit else q


@lru_cache(maxsize=1 << 14)
def lpp_key(name: str) -> str | None:
    """Our key for a TTS Cayenne LPP name (``relative_humidity_1`` -> ``humidity_1``), or None."""
    m = _LPP_KEY.match(name)
    if m is None or m.group(1) not in LPP_NAMES:
        return None
    return f"{LPP_NAMES[m.group(1)]}_{int(m.group(2))}"


@lru_cache(maxsize=1 << 12)
def quantity_of(key: str) -> Quantity:
    """The quantity of a vocabulary key (cached ``split_key``)."""
    return split_key(key)[0]
