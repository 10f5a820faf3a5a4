"""Units: reading them where a source states them, and converting them exactly.

A unit is *stated* by the source in one of three ways, and only then is it used:

- next to the value: a ``{"value": 3.1, "unit": "V"}`` object, or a string such as
  ``"3.384 V"``, ``"25 ℃"`` or ``"0 uS/cm"`` (:func:`split_number`);
- in the field's name, as its own word: ``distance_mm``, ``BatV``, ``ACI1_mA``,
  ``TempC_SHT``, ``speedKmph``, ``Volt`` (:func:`name_unit`). One-letter symbols (``V``,
  ``C``, ``A``, ``W``, ``m``, ``s``) count only right next to a word naming their
  quantity (``Bat``+``V``, ``Temp``+``C``), so ``Channel_A`` is not in amperes;
- by a field map (``FieldRule.unit``) or by a documented schema (TTS normalized payload).

:func:`convert` turns a value in a known unit into the vocabulary's unit of the same
dimension. Factors are kept as integer ratios and applied as one multiplication and one
division (``2116 mm -> 2116 / 1000 m``), so the result is the correctly rounded float of
the exact decimal answer wherever one operation suffices.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit we can name; ``dimension`` is set when it converts into the vocabulary."""

    symbol: str
    dimension: str | None = None
    num: int = 1
    den: int = 1
    pre: float = 0.0  # added before scaling (°F: -32)
    post: float = 0.0  # added after scaling (K: -273.15)

    def to_base(self, value: float) -> float:
        """``value`` in this unit, expressed in the dimension's vocabulary unit."""
        v = value + self.pre if self.pre else value
        if self.num != 1:
            v = v * self.num
        if self.den != 1:
            v = v / self.den
        return v + self.post if self.post else v


def _u(symbol: str, dimension: str | None = None, num: int = 1, den: int = 1, **kw: float) -> Unit:
    return Unit(symbol, dimension, num, den, **kw)


# Vocabulary unit of each dimension (quantities.py uses exactly these symbols).
BASE: dict[str, str] = {
    "temperature": "°C",
    "length": "m",
    "voltage": "V",
    "current": "A",
    "power": "W",
    "energy": "kWh",
    "pressure": "hPa",
    "percent": "%",
    "illuminance": "lx",
    "concentration": "ppm",
    "frequency": "Hz",
    "speed": "km/h",
    "angle": "°",
    "time": "s",
    "sound": "dB",
}
_DIMENSION_OF_BASE = {v: k for k, v in BASE.items()}

_UNITS: tuple[tuple[tuple[str, ...], Unit], ...] = (
    (("°C", "℃", "degC", "DegC", "Celsius", "celsius", "C°", "C"), _u("°C", "temperature")),
    (("°F", "℉", "degF", "DegF", "Fahrenheit", "fahrenheit", "F"), _u("°F", "temperature", 5, 9, pre=-32.0)),
    (("K", "kelvin", "Kelvin"), _u("K", "temperature", post=-273.15)),
    (("mm", "millimeter", "millimeters", "millimetre", "millimetres"), _u("mm", "length", 1, 1000)),
    (("cm", "centimeter", "centimeters", "centimetre", "centimetres"), _u("cm", "length", 1, 100)),
    (("m", "meter", "meters", "metre", "metres"), _u("m", "length")),
    (("km", "kilometer", "kilometers"), _u("km", "length", 1000)),
    (("in", "inch", "inches"), _u("in", "length", 254, 10000)),
    (("ft", "feet"), _u("ft", "length", 3048, 10000)),
    (("mV", "millivolt", "millivolts", "mVolt"), _u("mV", "voltage", 1, 1000)),
    (("V", "Volt", "volt", "Volts", "volts", "VDC", "Vdc", "VAC", "Vac"), _u("V", "voltage")),
    (("kV",), _u("kV", "voltage", 1000)),
    (("µA", "uA", "μA"), _u("µA", "current", 1, 1_000_000)),
    (("mA", "milliampere", "milliamperes", "mAmp"), _u("mA", "current", 1, 1000)),
    (("A", "Amp", "amp", "Amps", "amps", "ampere", "amperes"), _u("A", "current")),
    (("mW", "milliwatt", "milliwatts"), _u("mW", "power", 1, 1000)),
    (("W", "Watt", "watt", "Watts", "watts"), _u("W", "power")),
    (("kW", "kilowatt", "kilowatts"), _u("kW", "power", 1000)),
    (("Wh",), _u("Wh", "energy", 1, 1000)),
    (("kWh", "KWh", "kwh"), _u("kWh", "energy")),
    (("MWh",), _u("MWh", "energy", 1000)),
    (("Pa",), _u("Pa", "pressure", 1, 100)),
    (("hPa", "HPa", "hpa"), _u("hPa", "pressure")),
    (("mbar", "mBar"), _u("mbar", "pressure")),
    (("kPa", "KPa", "kpa"), _u("kPa", "pressure", 10)),
    (("bar", "Bar"), _u("bar", "pressure", 1000)),
    (("%", "pct", "Pct", "PCT", "percent", "Percent", "%RH", "%rh", "RH%"), _u("%", "percent")),
    (("lx", "lux", "Lux", "LUX"), _u("lx", "illuminance")),
    (("ppm", "PPM"), _u("ppm", "concentration")),
    (("ppb", "PPB"), _u("ppb", "concentration", 1, 1000)),
    (("Hz", "hz"), _u("Hz", "frequency")),
    (("kHz",), _u("kHz", "frequency", 1000)),
    (("km/h", "kmh", "Kmh", "kmph", "Kmph", "KMH", "kph"), _u("km/h", "speed")),
    (("m/s", "mps", "m⋅s⁻¹", "m·s⁻¹", "m s⁻¹", "m s-1"), _u("m/s", "speed", 36, 10)),
    (("kn", "kt", "knot", "knots"), _u("kn", "speed", 1852, 1000)),
    (("mph",), _u("mph", "speed", 1_609_344, 1_000_000)),
    (("°", "deg", "Deg", "degree", "degrees", "Degree", "Degrees"), _u("°", "angle")),
    (("ms", "msec"), _u("ms", "time", 1, 1000)),
    (("s", "sec", "Sec", "secs", "second", "seconds", "Seconds"), _u("s", "time")),
    (("min", "Min", "mins", "minute", "minutes", "Minutes"), _u("min", "time", 60)),
    (("h", "hr", "hrs", "hour", "hours", "Hours"), _u("h", "time", 3600)),
    (("d", "day", "days", "Days"), _u("d", "time", 86400)),
    (("dB", "dBA", "dB(A)"), _u("dB", "sound")),
    # stated units that have no quantity in the vocabulary: kept with the value, never converted
    (("µS/cm", "uS/cm", "μS/cm", "us/cm"), _u("µS/cm")),
    (("mS/cm",), _u("mS/cm")),
    (("dS/m",), _u("dS/m")),
    (("varh", "VArh", "kvarh"), _u("varh")),
    (("var", "VAr"), _u("var")),
    (("VA",), _u("VA")),
    (("L", "l", "liter", "liters", "litre", "litres"), _u("L")),
    (("m3", "m³"), _u("m³")),
    (("µg/m3", "ug/m3", "µg/m³", "ug/m³", "μg/m3", "μg/m³"), _u("µg/m³")),
    (("mg/m3", "mg/m³"), _u("mg/m³")),
    (("mg/L", "mg/l"), _u("mg/L")),
    (("dBm",), _u("dBm")),
    (("g",), _u("g")),
    (("m/s2", "m/s²", "m⋅s⁻²", "m·s⁻²"), _u("m/s²")),
    (("W/m2", "W/m²", "W⋅m⁻²", "W·m⁻²"), _u("W/m²")),
    (("µmol/m2/s", "µmol⋅m⁻²⋅s⁻¹", "µmol·m⁻²·s⁻¹", "umol/m2/s"), _u("µmol/(m²·s)")),
    (("m3/m3", "m³/m³", "m³⋅m⁻³", "m³·m⁻³"), _u("m³/m³")),
    (("mm/h", "mm⋅h⁻¹", "mm·h⁻¹"), _u("mm/h")),
    (("L/h", "l/h", "L⋅h⁻¹"), _u("L/h")),
)

UNITS: dict[str, Unit] = {alias: unit for aliases, unit in _UNITS for alias in aliases}

# A unit stated in lower case ("pa", "mv", "kwh") when that spelling names one unit only.
_BY_LOWER: dict[str, Unit] = {}
for _aliases, _unit in _UNITS:
    for _alias in _aliases:
        _BY_LOWER.setdefault(_alias.lower(), _unit)
for _low in [a for a in _BY_LOWER if len({u.symbol for al, u in UNITS.items() if al.lower() == a}) > 1]:
    del _BY_LOWER[_low]

# Unit words accepted inside a field name: the multi-letter, unambiguous symbols above.
_NAME_UNITS = frozenset(
    a
    for a in UNITS
    if len(a) > 1
    and a
    not in {
        "in",
        "ft",
        "kt",
        "kn",
        "hr",
        "hrs",
        "day",
        "days",
        "Days",
        "min",
        "Min",
        "mins",
        "sec",
        "secs",
        "bar",
        "Bar",
        "var",
        "VA",
        "amp",
        "Amp",
        "amps",
        "Amps",
        "watt",
        "Watt",
        "watts",
        "Watts",
        "deg",
        "Deg",
        "Sec",
        "degree",
        "degrees",
        "Degree",
        "Degrees",
        "second",
        "seconds",
        "Seconds",
        "minute",
        "minutes",
        "Minutes",
        "hour",
        "hours",
        "Hours",
        "liter",
        "liters",
        "litre",
        "litres",
        "meter",
        "meters",
        "metre",
        "metres",
        "m3",
        "hz",
        "hpa",
        "kpa",
        "kwh",
        "us/cm",
        "%rh",
    }
)
# Units that read as a word of a name only next to a word naming their quantity.
_SHORT_UNITS: dict[str, frozenset[str]] = {
    "V": frozenset({"bat", "batt", "battery", "volt", "voltage", "supply", "vcc", "vdd"}),
    "v": frozenset({"bat", "batt"}),
    "C": frozenset({"temp", "temperature", "tmp"}),
    "F": frozenset({"temp", "temperature", "tmp"}),
    "A": frozenset({"current", "curr"}),
    "W": frozenset({"power", "pwr"}),
    "m": frozenset({"distance", "dist", "altitude", "alt", "height", "depth"}),
    "s": frozenset({"interval", "period", "time", "timeout", "uptime", "duration"}),
    "Sec": frozenset({"interval", "period", "time", "timeout", "uptime", "duration"}),
    "Deg": frozenset({"latitude", "longitude", "lat", "lon", "lng", "heading", "course", "angle", "tilt"}),
    "deg": frozenset({"latitude", "longitude", "lat", "lon", "lng", "heading", "course", "angle", "tilt"}),
    "min": frozenset({"interval", "period"}),
}

_QUANTITY_WORDS = frozenset().union(*_SHORT_UNITS.values()) | {
    "hum",
    "humidity",
    "pressure",
    "co2",
    "light",
    "energy",
    "speed",
    "level",
    "fill",
    "frequency",
    "noise",
}

_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*(\S(?:.*\S)?)?\s*\Z")
# Letters and unit signs, with SI products and powers: "m/s", "kg·m⁻³", "W⋅m⁻²".
_POWER = "(?:⁻?[⁰¹²³⁴⁵⁶⁷⁸⁹]+|[23])?"
_UNIT_SHAPE = re.compile(rf"^[A-Za-zµμ°℃℉Ω%‰]+{_POWER}(?:[/·⋅*^.]?[A-Za-zµμ°Ω%]+{_POWER})*$")
_RADIX_LITERAL = re.compile(r"^\s*[-+]?0[xXbBoO][0-9A-Fa-f]+\s*\Z")
_MAX_UNIT_CHARS = 16


def lookup(text: str) -> Unit | None:
    """The unit named by ``text`` (``"mV"``, ``"℃"``, ``"uS/cm"``), or None."""
    return UNITS.get(text.strip())


def stated_unit(text: str) -> str | None:
    """The symbol to store for a unit a source states: canonical when known, else as given.

    None when ``text`` does not look like a unit at all (``"> 150 meters"``).
    """
    t = text.strip()
    u = UNITS.get(t) or (_BY_LOWER.get(t) if t.islower() else None)
    if u is not None:
        return u.symbol
    if len(t) <= _MAX_UNIT_CHARS and _UNIT_SHAPE.match(t):
        return t
    return None


def split_number(text: str) -> tuple[float, str] | None:
    """``"3.384 V"`` -> ``(3.384, "V")``; ``"12"`` -> ``(12.0, "")``; None when not a measurement.

    Hex/binary literals, dates, versions, MAC addresses, words and exponent notation are
    not measurements (``"6745e27566240008"`` is a serial number, not infinity).
    """
    m = _NUMBER_UNIT.match(text)
    if m is None or _RADIX_LITERAL.match(text):
        return None
    number = float(m.group(1))
    unit_text = m.group(2)
    if unit_text is None:
        return number, ""
    unit = stated_unit(unit_text)
    if unit is None:
        return None
    return number, unit


def _tokens(name: str) -> list[str]:
    """``TempC_DS18B20`` -> ``[Temp, C, DS18B20]``; ``distance1_cm`` -> ``[distance, 1, cm]``."""
    out: list[str] = []
    for part in re.split(r"[\s_\-.:()\[\]{}]+", name):
        if not part:
            continue
        if part in UNITS:  # "mV", "kWh", "km/h" stay whole
            out.append(part)
            continue
        out.extend(re.findall(r"[A-Z]{2,}(?=[A-Z][a-z]|\d|$)|[A-Z]?[a-z]+|[A-Z]+|\d+|[^\W\d_]+", part))
    return out


@dataclass(frozen=True, slots=True)
class NameParts:
    """A field name split into the words naming a quantity, a unit and a channel."""

    words: tuple[str, ...]  # lower-cased, unit and channel removed
    unit: str | None  # canonical symbol of a unit stated in the name
    channel: int | None


@lru_cache(maxsize=1 << 14)
def name_parts(name: str) -> NameParts:
    """Split a field name (``TempC_SHT``, ``distance1_cm``, ``BatV``) into its parts."""
    toks = _tokens(name)
    lower = [t.lower() for t in toks]
    unit: str | None = None
    unit_at = -1
    for i, t in enumerate(toks):
        if i == 0 and len(toks) == 1:
            u = UNITS.get(t) if t in _NAME_UNITS or t in ("Volt", "Volts") else None
        elif t in _NAME_UNITS:
            # the name's last word (before a channel number), or next to a quantity's word:
            # distance_mm, ACI1_mA, speedKmph, temp_degC_sht; not "ms_count"
            last = all(x.isdigit() for x in toks[i + 1 :])
            near = {lower[j] for j in (i - 1, i + 1) if 0 <= j < len(toks)}
            u = UNITS.get(t) if last or near & _QUANTITY_WORDS else None
        elif t in _SHORT_UNITS:
            near = {lower[j] for j in (i - 1, i + 1) if 0 <= j < len(toks)}
            suffix = t == "V" and i == len(toks) - 1 and name.endswith("_V")  # AVI1_V, Bat_V
            u = UNITS.get(t) if suffix or near & _SHORT_UNITS[t] else None
        else:
            u = None
        if u is not None:
            unit, unit_at = u.symbol, i
            break
    words = [w for i, w in enumerate(lower) if i != unit_at]
    channel: int | None = None
    if len(words) > 1 and words[-1].isdigit() and len(words[-1]) <= 3:
        channel = int(words[-1])
        words = words[:-1]
    return NameParts(tuple(words), unit, channel)


def dimension(symbol: str) -> str | None:
    """The dimension of a unit symbol (None for units outside the vocabulary)."""
    u = UNITS.get(symbol)
    return u.dimension if u is not None else None


def base_dimension(vocabulary_unit: str) -> str | None:
    """The dimension whose vocabulary unit is ``vocabulary_unit`` (``"m"`` -> ``"length"``)."""
    return _DIMENSION_OF_BASE.get(vocabulary_unit)


def convert(value: float, from_symbol: str, to_symbol: str) -> float | None:
    """``value`` in ``from_symbol`` expressed in ``to_symbol`` (a vocabulary unit), or None.

    None when either unit is unknown or the dimensions differ.
    """
    src = UNITS.get(from_symbol)
    dim = _DIMENSION_OF_BASE.get(to_symbol)
    if src is None or dim is None or src.dimension != dim:
        return None
    return src.to_base(value)
