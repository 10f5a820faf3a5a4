"""Reads the registry and a store to build the crews' views of a fleet (bins, lights, boats)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from lorakeet.decoders import Value
from lorakeet.storage.protocols import ReadingReader
from lorakeet.storage.records import DeviceKey, LatestValue
from lorakeet.storage.registry import Device, DeviceFilter, Registry

from .activity import DEFAULT_SILENCE_FACTOR, is_silent, median_interval_ns
from .bin_history import FillHistory, history_of
from .bins import DEFAULT_THRESHOLD_PCT, BinState, FillSample, FillTrend, assess, threshold_of
from .boats import Position, Ring, inside, polygon_from_metadata, position_of
from .lights import LightState, light_state

DAY_NS = 86_400 * 1_000_000_000
BIN_LOOKBACK_NS = 14 * DAY_NS
MAX_SAMPLES = 5000
MAX_DEVICES = 5000
INTERVAL_UPLINKS = 25


@dataclass(frozen=True, slots=True)
class DeviceSummary:
    """Registry facts every view shows."""

    uid: str
    name: str | None
    kind: str
    visibility: str
    latitude: float | None
    longitude: float | None
    last_seen_ns: int | None

    @property
    def label(self) -> str:
        """The name, else the device id."""
        return self.name or self.uid


def summary(row: Device, latest: Sequence[LatestValue]) -> DeviceSummary:
    """Registry facts of a row, with the time of its newest value."""
    return DeviceSummary(
        DeviceKey(row.application_id, row.device_id).uid,
        row.name,
        row.kind,
        row.visibility,
        row.latitude,
        row.longitude,
        max((v.time_ns for v in latest), default=None),
    )


def devices_of_kind(registry: Registry, kind: str, f: DeviceFilter) -> list[Device]:
    """Rows of ``kind`` that filter ``f`` lets through (its visibility rules apply), read through
    the registry's lookup cache (another process's registry change shows within its TTL)."""
    f2 = DeviceFilter(
        kind=kind,
        tag=f.tag,
        visibility=f.visibility,
        owner_id=f.owner_id,
        application_ids=f.application_ids,
        viewer_id=f.viewer_id,
        viewer_admin=f.viewer_admin,
    )
    return registry.lookup_devices(f2, limit=MAX_DEVICES)[0]


def values_of(latest: Sequence[LatestValue]) -> dict[str, Value]:
    """Key → value of latest values."""
    return {v.key: v.value for v in latest}


# -- bins ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BinView:
    """A bin with its fill assessment."""

    device: DeviceSummary
    state: BinState
    battery: float | None
    volume_l: float | None = None


def fill_samples(store: ReadingReader, key: DeviceKey, now_ns: int, lookback_ns: int) -> list[FillSample]:
    """Fill readings of the last ``lookback_ns`` (the last day only, when that is too many)."""
    pts = store.points(key, ["fill_pct"], now_ns - lookback_ns, now_ns + 1, MAX_SAMPLES)
    if len(pts) >= MAX_SAMPLES:
        pts = store.points(key, ["fill_pct"], now_ns - DAY_NS, now_ns + 1, MAX_SAMPLES)
    out = []
    for p in pts:
        v = p.values.get("fill_pct")
        if isinstance(v, int | float) and not isinstance(v, bool):
            out.append(FillSample(p.time_ns, float(v)))
    return out


_Made = tuple[Device, Sequence[LatestValue], FillTrend | None, float, int, BinView]
_made: weakref.WeakKeyDictionary[FillHistory, dict[DeviceKey, _Made]] = weakref.WeakKeyDictionary()
_made_lock = threading.Lock()


def _made_of(history: FillHistory) -> dict[DeviceKey, _Made]:
    """The bin views last made over ``history``, with what they were made from (per bin)."""
    with _made_lock:
        made = _made.get(history)
        if made is None:
            made = _made[history] = {}
        return made


def bin_views(
    registry: Registry,
    store: ReadingReader,
    f: DeviceFilter,
    now_ns: int,
    deadline_ns: int,
    *,
    default_threshold: float = DEFAULT_THRESHOLD_PCT,
    lookback_ns: int = BIN_LOOKBACK_NS,
    history: FillHistory | None = None,
) -> list[BinView]:
    """Every bin ``f`` lets through, fullest first (bins without readings last). A bin whose
    registration, latest values, trend, threshold and deadline are those of the previous call
    over the same history gets the same view again (its state is not assessed twice)."""
    rows = devices_of_kind(registry, "bin", f)
    keys = [r.key for r in rows]
    latest = store.latest_many(keys)
    if history is None:
        history = (
            history_of(store)
            if lookback_ns == BIN_LOOKBACK_NS
            else FillHistory(store, lookback_ns=lookback_ns)
        )
    made = _made_of(history)
    out = []
    for row, key in zip(rows, keys, strict=True):
        lv = latest.get(key, ())
        fill: Value | None = None
        fill_ns = 0
        battery: Value | None = None
        for v in lv:  # one pass: the fill level and the battery
            if v.key == "fill_pct":
                fill, fill_ns = v.value, v.time_ns
            elif v.key == "battery":
                battery = v.value
        trend = (
            history.trend(key, FillSample(fill_ns, float(fill)), now_ns)
            if isinstance(fill, int | float) and not isinstance(fill, bool)
            else None
        )
        threshold = threshold_of(row.metadata, default_threshold)
        held = made.get(key)  # the same inputs as last time: the same view
        if (
            held is not None
            and held[0] is row
            and held[2] is trend
            and held[3] == threshold
            and held[4] == deadline_ns
            and (held[1] is lv or held[1] == lv)
        ):
            out.append(held[5])
            continue
        view = BinView(
            summary(row, lv),
            assess(trend, threshold, deadline_ns),
            float(battery) if isinstance(battery, int | float) and not isinstance(battery, bool) else None,
            _positive(row.metadata.get("volume_l")),
        )
        made[key] = (row, lv, trend, threshold, deadline_ns, view)
        out.append(view)
    out.sort(key=lambda b: (b.state.fill_pct is None, -(b.state.fill_pct or 0.0), b.device.uid))
    return out


# -- lights ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LightView:
    """A street light with its state, usual interval and faults."""

    device: DeviceSummary
    state: LightState
    interval_ns: int | None
    silent: bool


def usual_interval_ns(store: ReadingReader, key: DeviceKey, now_ns: int) -> int | None:
    """Median gap between the device's recent uplinks."""
    ups = store.uplinks(key, now_ns - 7 * DAY_NS, now_ns + 1, INTERVAL_UPLINKS)
    return median_interval_ns([u.received_at_ns for u in ups])


def light_views(
    registry: Registry,
    store: ReadingReader,
    f: DeviceFilter,
    now_ns: int,
    *,
    silence_factor: float = DEFAULT_SILENCE_FACTOR,
) -> list[LightView]:
    """Every street light ``f`` lets through, faulty ones first."""
    rows = devices_of_kind(registry, "streetlight", f)
    latest = store.latest_many([r.key for r in rows])
    out = []
    for row in rows:
        lv = latest.get(row.key, [])
        s = summary(row, lv)
        interval = usual_interval_ns(store, row.key, now_ns) if lv else None
        silent = is_silent(s.last_seen_ns, interval, now_ns, silence_factor)
        out.append(LightView(s, light_state(values_of(lv), silent=silent), interval, silent))
    out.sort(key=lambda v: (not v.state.faults, v.device.uid))
    return out


# -- boats -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoatView:
    """A boat's last position and whether it is inside its geofence."""

    device: DeviceSummary
    position: Position | None
    geofence: Ring | None
    inside_geofence: bool | None


def last_position(latest: Sequence[LatestValue]) -> Position | None:
    """The newest fix among latest values (time of the latitude reading)."""
    values = values_of(latest)
    times = {v.key: v.time_ns for v in latest}
    lat_key = next((k for k in sorted(times) if k == "latitude" or k.startswith("latitude_")), None)
    if lat_key is None:
        return None
    return position_of(times[lat_key], values)


def boat_views(registry: Registry, store: ReadingReader, f: DeviceFilter) -> list[BoatView]:
    """Every boat ``f`` lets through, with its last position."""
    rows = devices_of_kind(registry, "boat", f)
    latest = store.latest_many([r.key for r in rows])
    out = []
    for row in rows:
        lv = latest.get(row.key, [])
        pos = last_position(lv)
        ring = polygon_from_metadata(row.metadata)
        ins = inside(ring, pos.latitude, pos.longitude) if ring and pos else None
        out.append(BoatView(summary(row, lv), pos, ring, ins))
    return out


def _positive(v: object) -> float | None:
    """A positive number from metadata, else None."""
    if isinstance(v, int | float) and not isinstance(v, bool) and v > 0:
        return float(v)
    return None
