"""Records that flow from the bridge into the stores and out through the API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from lorakeet.decoders import Reading, Value
from lorakeet.ids import is_valid_id

Source = Literal["ttn", "chirpstack", "backfill", "webhook", "simulator"]


@dataclass(frozen=True, slots=True)
class DeviceKey:
    """A device as the network names it: device ids are unique within an application."""

    application_id: str
    device_id: str

    @property
    def uid(self) -> str:
        """``application_id.device_id``: network ids never contain a dot."""
        return f"{self.application_id}.{self.device_id}"

    @classmethod
    def from_uid(cls, uid: str) -> DeviceKey:
        """Parse ``application_id.device_id``; raises ValueError."""
        app, sep, dev = uid.partition(".")
        if not (sep and is_valid_id(app) and is_valid_id(dev)):
            raise ValueError(
                f"device id {uid!r} is not of the form application_id.device_id "
                "(lower-case letters, digits, - and _)"
            )
        return cls(app, dev)


class DeviceModel(NamedTuple):
    """What the network says a device is: Device Repository ids (TTS ``version_ids``) and/or a
    ChirpStack device profile (with brand and model from the device's tags, when set)."""

    brand_id: str | None = None
    model_id: str | None = None
    hardware_version: str | None = None
    firmware_version: str | None = None
    band_id: str | None = None
    profile_name: str | None = None
    profile_id: str | None = None


class Uplink(NamedTuple):
    """One uplink from any network, normalised; times are ns since the epoch (UTC).

    A NamedTuple rather than a frozen dataclass: it is just as immutable and several times
    cheaper to build, and one is built for every uplink.
    """

    source: str
    application_id: str
    device_id: str
    received_at_ns: int
    f_port: int
    f_cnt: int
    payload: bytes
    dev_eui: str | None = None
    rssi: float | None = None
    snr: float | None = None
    spreading_factor: int | None = None
    frequency: int | None = None
    gateways: tuple[str, ...] = ()
    network_decoded: Mapping[str, object] | None = None
    time_from_network: bool = True
    device_model: DeviceModel | None = None
    network_normalized: tuple[Mapping[str, object], ...] | None = None

    @property
    def key(self) -> DeviceKey:
        """The device this uplink came from."""
        return DeviceKey(self.application_id, self.device_id)

    @property
    def dedup_key(self) -> int:
        """(device, f_cnt, received_at) packed in one int: an uplink seen twice has the same key.

        The device is its 64-bit hash; two different uplinks share a key only when their
        devices' hashes collide AND they carry the same f_cnt and the same nanosecond.
        """
        device = hash((self.application_id, self.device_id)) & 0xFFFF_FFFF_FFFF_FFFF
        return (
            (device << 128)
            | ((self.f_cnt & 0xFFFF_FFFF) << 64)
            | (self.received_at_ns & 0xFFFF_FFFF_FFFF_FFFF)
        )


class StoredUplink(NamedTuple):
    """An uplink with what its decoder made of it: what the writers persist."""

    uplink: Uplink
    kind: str
    decoder: str
    readings: tuple[Reading, ...] = ()
    warnings: tuple[str, ...] = ()
    decode_error: str | None = None


@dataclass(frozen=True, slots=True)
class RejectedMessage:
    """A message that could not be parsed at all, kept raw for later inspection."""

    source: str
    topic: str
    body: bytes
    error: str
    received_at_ns: int
    reason: str = "envelope"
    """A short, fixed category of ``error`` for metrics (``envelope``, ``f_cnt``, ``time``...)."""


@dataclass(frozen=True, slots=True)
class Point:
    """Values of one device at one time, as read back from a store."""

    time_ns: int
    values: dict[str, Value] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LatestValue:
    """The most recent value of one reading key."""

    key: str
    time_ns: int
    value: Value


@dataclass(frozen=True, slots=True)
class UplinkView:
    """A stored uplink with its radio metadata and decode outcome, as read back."""

    device: DeviceKey
    received_at_ns: int
    f_cnt: int
    f_port: int
    payload: bytes
    source: str
    rssi: float | None
    snr: float | None
    spreading_factor: int | None
    frequency: int | None
    gateways: tuple[str, ...]
    decoder: str
    decode_error: str | None
    network_decoded: Mapping[str, object] | None = None


Aggregate = Literal["mean", "min", "max", "last", "count"]
