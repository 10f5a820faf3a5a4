"""This process's view of the InfluxDB ``latest`` measurement: every device's latest values
in memory, so a read of one device's latest values is a dict lookup.

One query reads the whole measurement (one small shard, see :mod:`.influx_latest`); its
answer is shared by every read of this process, and the writes this process makes are applied
to it as InfluxDB acknowledges them. So:

- a read sees this process's own writes at once (webhooks included: read-your-writes);
- another process's write (a bridge, another API worker) shows within ``TTL_S`` of InfluxDB
  acknowledging it: the view's age is counted from the moment its query was sent;
- a device deleted through this process is gone from the view at once; one deleted by
  another process within ``TTL_S``.

A read of a view older than ``REFRESH_S`` starts one refresh in a background thread and is
answered from the view at hand, so under steady load no reader waits for InfluxDB; a read
of a view older than ``TTL_S`` (the first read, or after a quiet spell) waits for a refresh,
one query for every reader waiting. An idle process sends no queries.

A refresh first asks InfluxDB for its write marks (``mark``, see
``InfluxReads._latest_mark``: every shard's count of points written, the database's count of
series, when the server started; a few hundred bytes, no data read). When they are what they
were before the view's last load, nothing was written or deleted since, and the view is as
fresh as that question (it was loaded after the marks it was loaded with were taken, and a
point is counted only once it can be read). Only when they moved is the measurement read
again. Without marks (a user not allowed ``SHOW STATS``, another server) every refresh reads it.

A measurement of more than ``MAX_DEVICES`` devices is still read whole for fleet pages, but
single-device reads then ask InfluxDB for that device (refreshing the view every second
would cost InfluxDB tens of µs per device per process).

``version`` changes whenever the view's contents may have changed (a write or deletion
applied, a refresh that found anything different) and only then: a refresh that finds what
the view already holds keeps its states (the same objects) and its version, so an answer
built from the view (a fleet page) can be kept for as long as the version stays.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from .influx_latest import State, state_values
from .records import DeviceKey, LatestValue

log = logging.getLogger(__name__)

TTL_S = 2.0
"""How old the view may be when it answers (another process's writes show within it)."""
REFRESH_S = 1.0
"""A read of a view older than this refreshes it in the background (so a process under
steady load sends about one query a second, whatever its request rate)."""
MAX_DEVICES = 5_000
"""Above this many devices, single-device reads ask InfluxDB instead of the view."""

Dev = tuple[str, str]
"""(application_id, device_id): hashed on every read, so a plain tuple."""


def merge(held: State | None, new: State) -> State:
    """``held`` with the values of ``new`` that are at least as new (key by key); a new dict."""
    if not held:
        return dict(new)
    out = dict(held)
    for k, tv in new.items():
        h = out.get(k)
        if h is None or tv[0] >= h[0]:
            out[k] = tv
    return out


def _keep_equal(held: dict[Dev, State], new: dict[Dev, State]) -> bool:
    """Put ``held``'s state objects into ``new`` where they are equal; True when every state
    of ``new`` was (``new`` holds what ``held`` holds)."""
    same = len(held) == len(new)
    for d, st in new.items():
        h = held.get(d)
        if h is not None and h == st:
            new[d] = h
        else:
            same = False
    return same


class LatestView:
    """Every device's latest values, loaded by ``load`` and kept up to date by ``apply``/``drop``."""

    def __init__(
        self,
        load: Callable[[], dict[Dev, State]],
        *,
        mark: Callable[[], object | None] | None = None,
        ttl_s: float = TTL_S,
        refresh_s: float = REFRESH_S,
        max_devices: int = MAX_DEVICES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._mark = mark
        self._loaded_mark: object | None = None  # the marks taken just before the last load
        self.ttl_s = ttl_s
        self.refresh_s = refresh_s
        self.max_devices = max_devices
        self._clock = clock
        self._states: dict[Dev, State] = {}
        self._at = -math.inf  # when the query behind _states was sent
        self._lock = threading.Lock()  # guards the fields below and changes of _states
        self._load_lock = threading.Lock()  # one query at a time
        self._loading = False
        self._refreshing = False
        self._since: dict[Dev, State] = {}  # applied while a query runs: re-applied to its answer
        self._dropped: set[Dev] = set()  # dropped while a query runs: removed from its answer
        self._lists: dict[Dev, tuple[State, list[LatestValue]]] = {}  # each state as a list, once
        self.version = 0
        """Moves whenever the contents may have changed (see the module docstring)."""

    @property
    def age_s(self) -> float:
        """Seconds since the query behind the view was sent (inf before the first)."""
        return self._clock() - self._at

    def held(self, dev: Dev) -> tuple[bool, State | None]:
        """``(True, state)`` when the view may answer for ``dev`` without I/O (state None: the
        device has no latest point); ``(False, None)`` when it is too old or too big (ask
        :meth:`get` in a thread, or InfluxDB)."""
        age = self.age_s
        if age > self.ttl_s or len(self._states) > self.max_devices:
            return False, None
        if age > self.refresh_s:
            self._refresh_in_background()
        return True, self._states.get(dev)

    def get(self, devs: Iterable[Dev]) -> dict[Dev, State]:
        """The states of ``devs`` that have any (blocking: refreshes a view older than the TTL)."""
        self._fresh()
        states = self._states
        return {d: st for d in devs if (st := states.get(d)) is not None}

    def values_of(self, devices: Iterable[DeviceKey]) -> dict[DeviceKey, list[LatestValue]]:
        """The latest values of ``devices`` that have any, as the store answers them (blocking
        like :meth:`get`). The lists are shared by every caller until the state changes: read only."""
        self._fresh()
        states, out = self._states, {}
        for d in devices:
            dev = (d.application_id, d.device_id)
            if (st := states.get(dev)) is not None:
                out[d] = self.values(dev, st)
        return out

    def values(self, dev: Dev, state: State) -> list[LatestValue]:
        """``state`` (the view's state of ``dev``) as a list of latest values, made once per state."""
        held = self._lists.get(dev)
        if held is None or held[0] is not state:
            held = self._lists[dev] = (state, state_values(state))
        return held[1]

    def fresh(self) -> None:
        """Make sure the view may answer (blocking like :meth:`get`): a view older than the TTL
        is refreshed first, one older than the refresh age in the background."""
        self._fresh()

    def _fresh(self) -> None:
        now = self._clock()
        if now - self._at > self.ttl_s:
            self.refresh(sent_after=now - self.ttl_s)
        elif now - self._at > self.refresh_s:
            self._refresh_in_background()

    @property
    def small(self) -> bool:
        """True when single-device reads may use the view (at most ``max_devices`` devices)."""
        return len(self._states) <= self.max_devices

    def refresh(self, sent_after: float = math.inf) -> None:
        """Load the measurement again, unless the view's query was sent after ``sent_after``
        (a reader that waited while another thread loaded takes that answer: one query for all)."""
        with self._load_lock:
            if self._at > sent_after:
                return
            sent = self._clock()
            marks = self._read_mark()
            if marks is not None and marks == self._loaded_mark:
                with self._lock:  # nothing written or deleted since the view was loaded
                    self._at = max(self._at, sent)
                return
            with self._lock:
                self._loading, self._since, self._dropped = True, {}, set()
            try:
                states = self._load()
            except BaseException:
                with self._lock:
                    self._loading, self._since, self._dropped = False, {}, set()
                    self._loaded_mark = None
                raise
            with self._lock:
                for d in self._dropped:
                    states.pop(d, None)
                for d, st in self._since.items():
                    states[d] = merge(states.get(d), st)
                changed = not _keep_equal(self._states, states)
                self._states, self._at, self._loaded_mark = states, sent, marks
                if changed:  # after the states: a reader of the new version reads the new states
                    self.version += 1
                self._loading, self._since, self._dropped = False, {}, set()

    def _read_mark(self) -> object | None:
        """The write marks now, or None (no marks: read the measurement). A failure to read
        them turns them off for good (e.g. a user without the right to ``SHOW STATS``)."""
        if self._mark is None:
            return None
        try:
            return self._mark()
        except Exception as exc:
            log.info("InfluxDB write marks not readable, the latest view reloads every refresh: %s", exc)
            self._mark = None
            return None

    def apply(self, written: Mapping[Dev, State]) -> None:
        """Values this process has just written (acknowledged by InfluxDB)."""
        if not written:
            return
        with self._lock:
            states = self._states
            for d, st in written.items():
                states[d] = merge(states.get(d), st)  # a new dict: readers never see half a state
                if self._loading:
                    self._since[d] = merge(self._since.get(d), st)
            self.version += 1  # after the states (see refresh)

    def drop(self, devs: Iterable[Dev]) -> None:
        """Devices deleted (their values with them)."""
        with self._lock:
            for d in devs:
                self._states.pop(d, None)
                self._lists.pop(d, None)
                if self._loading:
                    self._since.pop(d, None)
                    self._dropped.add(d)
            self.version += 1

    def _refresh_in_background(self) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True

        def run() -> None:
            try:
                self.refresh(sent_after=self._clock() - self.refresh_s)
            except Exception as exc:  # the next read past the TTL refreshes again and reports it
                log.info("latest values not refreshed from InfluxDB: %s", exc)
            finally:
                with self._lock:
                    self._refreshing = False

        threading.Thread(target=run, name="lorakeet-latest-view", daemon=True).start()
