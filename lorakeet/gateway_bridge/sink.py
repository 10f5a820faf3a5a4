"""What producers hand to ingest, and what every ingest sink offers.

MQTT, the webhook route and backfill build :class:`Inbound` messages and give them to an
:class:`IngestSink`: the in-process :class:`~lorakeet.gateway_bridge.pipeline.Pipeline`
or the :class:`~lorakeet.gateway_bridge.worker.RemotePipeline` of a worker process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal, Protocol

Done = Callable[[BaseException | None], None]
"""Called once per message: None once it is durable, an error when it is not (not acked)."""

Envelope = Literal["tts", "chirpstack"]
"""The body's format: The Things Stack v3 ``ApplicationUp`` or a ChirpStack v4 event."""


@dataclass(slots=True)
class Inbound:
    """One message as it arrived, before parsing."""

    body: bytes | bytearray
    source: str  # where it came from, stored with the uplink: "ttn", "chirpstack", "backfill"...
    topic: str = ""
    event: str = "up"
    arrived_ns: int = 0
    done: Done | None = None  # called once the message is durable (or failed for good)
    envelope: Envelope = "tts"  # which parser reads the body


class Outcome(Enum):
    """Where a batch ended up."""

    STORED = "stored"
    """In the store (any point it refused for good is in the dead-letter table)."""
    SPOOLED = "spooled"
    """In the on-disk spool, replayed in order once the store takes writes again."""
    FAILED = "failed"
    """Not durable (shutting down while neither store nor spool took it): not acknowledged."""


@dataclass(slots=True)
class PipelineStats:
    """Counters since start (read by /metrics and the benchmarks)."""

    received: int = 0
    stored: int = 0
    decode_failed: int = 0
    rejected: int = 0
    other_events: int = 0
    dedup_hits: int = 0
    write_failures: int = 0
    spooled: int = 0
    replayed: int = 0
    spool_depth: int = 0
    batches: int = 0
    decode_ns: int = 0
    write_ns: int = 0
    dead_lettered: int = 0
    restarts: int = 0
    blocked: str = ""  # why the store takes no writes (configuration), empty when it does
    by_decoder: dict[str, int] = field(default_factory=dict)
    rejected_by: dict[str, int] = field(default_factory=dict)


class IngestSink(Protocol):
    """Takes messages and makes them durable; reports its counters and health."""

    stats: PipelineStats

    def submit(self, msg: Inbound, timeout: float | None = None) -> bool:
        """Hand a message over; blocks while full. False on timeout."""
        ...

    def start(self) -> None:
        """Start consuming."""
        ...

    def stop(self, timeout: float = 30.0) -> None:
        """Make what was submitted durable (while the store allows) and stop."""
        ...

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every submitted message has been processed."""
        ...

    def health(self) -> list[str]:
        """Why ingest is not consuming normally right now; empty when it is."""
        ...
