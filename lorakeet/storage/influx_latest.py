"""Latest values in InfluxDB, kept up to date on write: the ``latest`` measurement.

InfluxDB 1.x answers "the newest value of every key of a device" with ``last()`` over every
shard the device has data in (milliseconds per device, and a fleet page takes a query per
key over every device). Instead, each write also writes one ``latest`` point per device
whose values moved: tags ``application_id`` and ``device_id``, one field per reading key
with the newest value, and ``<key>@t`` with that value's own time (ns).

Every such point is stamped at one fixed instant far ahead, ``STAMP_NS``
(2200-01-01T00:00:00Z), so all of them live in one shard that retention never drops, a
device has one point, and InfluxDB merges the fields of each write into it (a write carries
only the keys that moved). A read asks for that instant only (``time >= STAMP_NS - 1``):
one small shard, one query for one device or a whole fleet, whatever the readings' volume.
The time a reader is given is each key's own ``<key>@t``, never the stamp.

The writer keeps each device's state in memory (:class:`LatestIndex`), learned from the
store once per process and device (the ``latest`` point; else ``last()`` over the readings,
for data written before this layout, in which case its first write carries every key). A
value replaces the held one only when it is at least as new, so a backfill or a spool replay
of older uplinks never moves a latest value back. The state is changed only after the write
succeeded. A reader that learns a device from the readings keeps it at ``STAMP_NS - 1``;
readers merge a device's (at most two) points key by key, newest ``<key>@t`` first.

Limits: two bridges sharing a subscription each hold their own state; when both write the
same key of the same device within one flush interval, the later write wins even if its
value is older (the device's next uplink puts it right). Latest values outlive the readings'
retention (as SQLite's ``series`` table does). A deleted device is dropped from the
measurement; a bridge forgets it when its device directory notices the deletion.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol

from lorakeet.decoders import Value
from lorakeet.decoders.fields import is_reading_key

from .line_protocol import escape_tag, field_value
from .records import DeviceKey, LatestValue, StoredUplink

MEASUREMENT = "latest"
TIME_SUFFIX = "@t"
STAMP_NS = 7_258_118_400 * 1_000_000_000
"""2200-01-01T00:00:00Z: the one instant every writer's ``latest`` point is stamped at."""

State = dict[str, tuple[int, Value]]
"""A device's latest values: key -> (time ns, value)."""


@lru_cache(maxsize=1 << 16)
def _series(app: str, dev: str) -> str:
    return f"{MEASUREMENT},application_id={escape_tag(app)},device_id={escape_tag(dev)}"


def latest_line(device: tuple[str, str], state: State, stamp_ns: int = STAMP_NS) -> str:
    """The ``latest`` point of a device with the values of ``state``."""
    fields = ",".join(
        f"{k}={v!r},{k}{TIME_SUFFIX}={t}i"
        if type(v) is float
        else f"{k}={field_value(v)},{k}{TIME_SUFFIX}={t}i"
        for k, (t, v) in sorted(state.items())
    )
    return f"{_series(device[0], device[1])} {fields} {stamp_ns}"


def parse_series(series: Iterable[dict[str, Any]], py: Callable[[Any], Value]) -> dict[DeviceKey, State]:
    """States from ``SELECT * FROM latest ... GROUP BY application_id, device_id`` series
    (a device's points merged key by key: the newest ``<key>@t`` wins)."""
    out: dict[DeviceKey, State] = {}
    for s in series:
        tags = s.get("tags", {})
        dev = DeviceKey(str(tags.get("application_id", "")), str(tags.get("device_id", "")))
        cols: list[str] = s["columns"]
        at = {c: i for i, c in enumerate(cols)}
        pairs = [
            (i, at[c + TIME_SUFFIX], c)
            for i, c in enumerate(cols)
            if not c.endswith(TIME_SUFFIX) and c + TIME_SUFFIX in at and is_reading_key(c)
        ]
        state: State = out.get(dev, {})
        for row in s["values"]:
            for i, ti, c in pairs:
                v, t = row[i], row[ti]
                if v is None or t is None:
                    continue
                held = state.get(c)
                if held is None or int(t) > held[0]:
                    state[c] = (int(t), py(v))
        if state:
            out[dev] = state
    return out


def state_values(state: State) -> list[LatestValue]:
    """A state as the readers' LatestValue list (by key)."""
    return [LatestValue(k, t, v) for k, (t, v) in sorted(state.items())]


class LatestIndex:
    """The writer's view of each device's latest values; see the module docstring.

    ``learn(devices)`` answers the stored states of devices this process has not written
    yet (devices without any data are absent from its answer), and which of them it found
    only in the readings (their first ``latest`` point must carry every key).
    """

    def __init__(
        self, learn: Callable[[list[DeviceKey]], tuple[dict[DeviceKey, State], set[DeviceKey]]]
    ) -> None:
        self._learn = learn
        self._full: set[tuple[str, str]] = set()
        self._state: dict[tuple[str, str], State] = {}  # plain tuples: hashed per uplink
        self._lock = threading.Lock()
        self._observers: list[Observer] = []

    def prepare(self, batch: Sequence[StoredUplink]) -> tuple[list[str], dict[tuple[str, str], State]]:
        """The ``latest`` lines for a batch, and the states to :meth:`commit` once it is written."""
        newest: dict[tuple[str, str], State] = {}
        for s in batch:
            if not s.readings:
                continue
            u = s.uplink
            dev = (u.application_id, u.device_id)
            d = newest.get(dev)
            if d is None:
                d = newest[dev] = {}
            received = u.received_at_ns
            for r in s.readings:
                t = received if r.time_ns is None else r.time_ns
                held = d.get(r.key)
                if held is None or t >= held[0]:
                    d[r.key] = (t, r.value)
        if not newest:
            return [], {}
        unknown = [dev for dev in newest if dev not in self._state]
        if unknown:
            learned, from_readings = self._learn([DeviceKey(*dev) for dev in unknown])
            with self._lock:
                for dev in unknown:
                    self._state.setdefault(dev, learned.get(DeviceKey(*dev), {}))
                self._full.update((d.application_id, d.device_id) for d in from_readings)
        lines: list[str] = []
        pending: dict[tuple[str, str], State] = {}
        full = self._full
        for dev, new in newest.items():
            held_state = self._state.get(dev, {})
            moved: State = {}
            for k, tv in new.items():
                held = held_state.get(k)
                if held is None or (tv[0] >= held[0] and held != tv):
                    moved[k] = tv
            if moved or dev in full:
                merged = {**held_state, **moved}
                pending[dev] = merged
                lines.append(latest_line(dev, merged if dev in full else moved))
        return lines, pending

    def commit(self, pending: dict[tuple[str, str], State]) -> None:
        """Take the states of a batch that is now stored."""
        with self._lock:
            self._state.update(pending)
            self._full.difference_update(pending)
        for o in self._observers:
            o.apply(pending)

    def forget(self, devices: Iterable[DeviceKey]) -> None:
        """Drop devices (deleted): their state is learned again if they come back."""
        gone = [(dev.application_id, dev.device_id) for dev in devices]
        with self._lock:
            for dev in gone:
                self._state.pop(dev, None)
                self._full.discard(dev)
        for o in self._observers:
            o.drop(gone)

    def observe(self, observer: Observer) -> None:
        """Tell ``observer`` (a reader's view) every committed state and every forgotten device."""
        self._observers.append(observer)


class Observer(Protocol):
    """What :meth:`LatestIndex.observe` tells: states written, devices deleted."""

    def apply(self, written: Mapping[tuple[str, str], State]) -> None:
        """States just written (acknowledged)."""

    def drop(self, devs: Iterable[tuple[str, str]]) -> None:
        """Devices deleted."""
