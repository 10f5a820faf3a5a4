"""Decoding uplinks with each device's configured decoder, and the dedup cache."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from lorakeet.decoders import DecodeError, Decoder, DecodeResult, DeviceContext, get_decoder
from lorakeet.decoders.network import with_network
from lorakeet.storage.records import StoredUplink, Uplink

from .devices import DeviceDirectory
from .field_maps import FieldMaps

log = logging.getLogger(__name__)

_tuple_new = tuple.__new__  # a NamedTuple from all its fields in one C call (per uplink)
assert len(StoredUplink._fields) == 6 and len(DeviceContext._fields) == 6, "decode builds them field by field"

NO_DECODER = "none"


class DedupCache:
    """The most recent uplink keys seen, bounded (oldest forgotten first).

    A set answers "seen?" and a deque keeps the order of arrival: about 50 bytes per key
    besides the key itself, where an ``OrderedDict`` took about 105 (at the default
    capacity of 200,000 keys, a bridge that has run a day holds 10 MB less).
    """

    __slots__ = ("_keys", "_order", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._keys: set[int] = set()
        self._order: deque[int] = deque()

    def __contains__(self, key: int) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: int) -> None:
        """Remember a key (one already remembered keeps its place)."""
        keys = self._keys
        if key in keys:
            return
        keys.add(key)
        self._order.append(key)
        if len(keys) > self.capacity:
            keys.discard(self._order.popleft())


class Decoding:
    """Turns uplinks into stored uplinks with the device's configured decoder."""

    def __init__(
        self,
        devices: DeviceDirectory,
        resolve: Callable[[str], Decoder] = get_decoder,
        field_maps: FieldMaps | None = None,
    ) -> None:
        self.devices = devices
        self.resolve = resolve
        self.field_maps = field_maps if field_maps is not None else FieldMaps()

    def decode(self, u: Uplink) -> StoredUplink:
        """Decode one uplink; errors become ``decode_error``, never exceptions."""
        from_network = u.network_decoded is not None or u.network_normalized is not None
        info = self.devices.lookup(u.application_id, u.device_id, u.dev_eui, u.device_model, from_network)
        name = info.decoder or ("network" if from_network else NO_DECODER)
        if name == NO_DECODER:
            return StoredUplink(
                u,
                info.kind,
                name,
                decode_error="no decoder configured for this device; set one and re-decode",
            )
        field_map = self.field_maps.for_device(info)
        ctx = _tuple_new(
            DeviceContext,
            (
                u.received_at_ns,
                info.metadata,
                u.network_decoded,
                u.device_id,
                field_map,
                u.network_normalized,
            ),
        )
        try:
            result = self.resolve(name)(u.payload, u.f_port, ctx)
        except DecodeError as exc:
            error = f"{type(exc).__name__}: {exc}"
            # the network's own decoded payload is still stored, every field of it
            kept = with_network(DecodeResult(()), ctx) if name != "network" else DecodeResult(())
            return StoredUplink(u, info.kind, name, kept.readings, kept.warnings, decode_error=error)
        except Exception as exc:  # a decoder bug must not lose the uplink
            log.exception("decoder %s crashed on device_id=%s f_cnt=%d", name, u.device_id, u.f_cnt)
            return StoredUplink(u, info.kind, name, decode_error=f"internal decoder error: {exc!r}")
        if name != "network":
            result = with_network(result, ctx)
        return _tuple_new(StoredUplink, (u, info.kind, name, result.readings, result.warnings, None))
