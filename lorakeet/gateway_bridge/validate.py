"""Edge validation: the networks' own ranges, and times both stores can hold.

Every uplink is checked here after its envelope is parsed and before anything is
decoded or written, whatever network or path it came from (MQTT, webhook, backfill). A
value outside its range raises :class:`OutOfRange`; the pipeline keeps the raw message
in the store's rejected table with the reason and counts it by ``reason`` in /metrics.

Ranges (LoRaWAN 1.0.x/1.1 and the LoRaWAN Regional Parameters):

- ``f_cnt`` is a 32-bit counter; ``f_port`` one byte.
- Spreading factor 5..12 (SF5 and SF6 are used by newer LoRa radios and 2.4 GHz LoRa).
- Frequencies in the sub-GHz bands the regional plans use (137 MHz..1020 MHz, the range
  of the LoRa radios) or 2.4 GHz LoRa (2400..2500 MHz).
- Bandwidths from 7.8 kHz up to LR-FHSS and 2.4 GHz LoRa's 1625 kHz.
- RSSI -200..+30 dBm, SNR -50..+50 dB: generous around what a receiver can report.
- Times: between :data:`EARLIEST_NS` (2000-01-01, before any LoRaWAN network) and what
  both stores hold (InfluxDB: signed 64-bit nanoseconds, minus its reserved extremes;
  SQLite: signed 64-bit integers), and within the plausibility window of
  :class:`TimeWindow` (settings ``pipeline.*_time_*_s``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lorakeet.settings import PipelineSettings
from lorakeet.storage.records import StoredUplink, Uplink

F_CNT_MAX = 2**32 - 1
F_PORT_MAX = 255
SF_RANGE = (5, 12)
FREQUENCY_BANDS = ((137_000_000, 1_020_000_000), (2_400_000_000, 2_500_000_000))
BANDWIDTH_RANGE = (7_800, 1_625_000)
RSSI_RANGE = (-200.0, 30.0)
SNR_RANGE = (-50.0, 50.0)
EARLIEST_NS = 946_684_800 * 1_000_000_000
"""2000-01-01T00:00:00Z: no network time or sensor time before it is plausible."""
MAX_TIME_NS = 2**63 - 2
"""The last nanosecond InfluxDB accepts (its maximum is reserved); SQLite holds it too."""


class EnvelopeError(ValueError):
    """A message body is not a well-formed uplink or event."""

    reason = "envelope"
    """A short, fixed category for metrics (``envelope``: not parseable at all)."""


class OutOfRange(EnvelopeError):
    """A well-formed message with a value outside what the network or the stores allow."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """How far times may lie from what they are compared with (seconds).

    A network's reception time is compared with the arrival time here; a sensor's own
    sample time with the uplink's reception time.
    """

    network_future_s: float = 3600.0
    sensor_past_s: float = 90 * 86_400.0
    sensor_future_s: float = 600.0

    @property
    def network_future_ns(self) -> int:
        """``network_future_s`` in ns."""
        return int(self.network_future_s * 1e9)

    @property
    def sensor_past_ns(self) -> int:
        """``sensor_past_s`` in ns."""
        return int(self.sensor_past_s * 1e9)

    @property
    def sensor_future_ns(self) -> int:
        """``sensor_future_s`` in ns."""
        return int(self.sensor_future_s * 1e9)

    @classmethod
    def from_settings(cls, p: PipelineSettings) -> TimeWindow:
        """The window ``settings.pipeline`` configures."""
        return cls(p.network_time_future_s, p.sensor_time_past_s, p.sensor_time_future_s)


def _in(value: float, lo: float, hi: float) -> bool:
    return lo <= value <= hi  # False for NaN


def check_bandwidth(hz: int | None) -> None:
    """Raise OutOfRange for an implausible LoRa bandwidth (in Hz)."""
    if hz is not None and not _in(hz, *BANDWIDTH_RANGE):
        raise OutOfRange(
            "bandwidth", f"bandwidth {hz} Hz is outside {BANDWIDTH_RANGE[0]}..{BANDWIDTH_RANGE[1]}"
        )


def _fmt_ns(ns: int) -> str:
    if not _in(ns, -(2**63), 2**63 - 1):
        return f"{ns} ns (beyond 64 bits)"
    from lorakeet.timefmt import format_rfc3339_ns

    try:
        return format_rfc3339_ns(ns)
    except (ValueError, OverflowError, OSError):
        return f"{ns} ns"


def check_uplink(u: Uplink, arrived_ns: int, window: TimeWindow) -> None:
    """Raise OutOfRange when a field of ``u`` is outside its range (a few comparisons when none is)."""
    t = u.received_at_ns
    latest = arrived_ns + window.network_future_ns
    sf, f, rssi, snr = u.spreading_factor, u.frequency, u.rssi, u.snr
    if (
        0 <= u.f_cnt <= F_CNT_MAX
        and 0 <= u.f_port <= F_PORT_MAX
        and (sf is None or 5 <= sf <= 12)
        and (f is None or 137_000_000 <= f <= 1_020_000_000 or 2_400_000_000 <= f <= 2_500_000_000)
        and (rssi is None or -200.0 <= rssi <= 30.0)
        and (snr is None or -50.0 <= snr <= 50.0)
        and EARLIEST_NS <= t <= latest
        and t <= MAX_TIME_NS
    ):
        return
    _explain(u, min(MAX_TIME_NS, latest))


def _explain(u: Uplink, latest: int) -> None:
    if not 0 <= u.f_cnt <= F_CNT_MAX:
        raise OutOfRange("f_cnt", f"f_cnt {u.f_cnt} is not a 32-bit frame counter")
    if not 0 <= u.f_port <= F_PORT_MAX:
        raise OutOfRange("f_port", f"f_port {u.f_port} is outside 0..255")
    sf = u.spreading_factor
    if sf is not None and not _in(sf, *SF_RANGE):
        raise OutOfRange("spreading_factor", f"spreading factor {sf} is outside SF5..SF12")
    f = u.frequency
    if f is not None and not any(_in(f, lo, hi) for lo, hi in FREQUENCY_BANDS):
        raise OutOfRange("frequency", f"frequency {f} Hz is in no LoRa band (137-1020 MHz, 2.4-2.5 GHz)")
    if u.rssi is not None and not _in(u.rssi, *RSSI_RANGE):
        raise OutOfRange("rssi", f"RSSI {u.rssi} dBm is outside {RSSI_RANGE[0]:g}..{RSSI_RANGE[1]:g}")
    if u.snr is not None and not _in(u.snr, *SNR_RANGE):
        raise OutOfRange("snr", f"SNR {u.snr} dB is outside {SNR_RANGE[0]:g}..{SNR_RANGE[1]:g}")
    raise OutOfRange(
        "time",
        f"reception time {_fmt_ns(u.received_at_ns)} is outside {_fmt_ns(EARLIEST_NS)}..{_fmt_ns(latest)} "
        "(arrival plus pipeline.network_time_future_s)",
    )


def check_readings(s: StoredUplink, window: TimeWindow) -> str | None:
    """Raise OutOfRange when a sensor's own sample time is outside the plausibility window;
    returns the key of the first reading whose number is NaN or infinite (no store keeps those)."""
    bad: str | None = None
    for r in s.readings:
        v = r.value
        if type(v) is float and v - v != 0.0:  # NaN or infinite
            bad = bad or r.key
        if r.time_ns is not None:
            _check_sample(s, r.key, r.time_ns, window)
    return bad


def _check_sample(s: StoredUplink, key: str, t: int, window: TimeWindow) -> None:
    t_up = s.uplink.received_at_ns
    lo = max(EARLIEST_NS, t_up - window.sensor_past_ns)
    hi = min(MAX_TIME_NS, t_up + window.sensor_future_ns)
    if not lo <= t <= hi:
        raise OutOfRange(
            "sensor_time",
            f"reading {key} has sample time {_fmt_ns(t)}, outside {_fmt_ns(lo)}..{_fmt_ns(hi)} "
            "(pipeline.sensor_time_past_s / sensor_time_future_s around the reception time)",
        )
