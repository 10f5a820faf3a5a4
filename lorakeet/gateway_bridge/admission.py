"""Admission: one message parsed and validated (or kept raw as rejected), and a batch of
them admitted, on its way to the store.

``screen`` serves callers that answer the sender (the webhook).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import NamedTuple

from lorakeet.storage.records import RejectedMessage, StoredUplink, Uplink

from .batch_queue import Job
from .envelopes import EnvelopeError, OtherEvent, parse_chirpstack, parse_tts
from .sink import Envelope, Inbound, Outcome
from .validate import TimeWindow, check_uplink

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
"""Largest message body parsed (TTS uplinks are a few KiB); larger ones are rejected."""


def parse_envelope(
    body: bytes | bytearray, envelope: Envelope, event: str = "up", source: str = "ttn"
) -> Uplink | OtherEvent:
    """Parse a body in the named envelope format; raises EnvelopeError."""
    if envelope == "chirpstack":
        return parse_chirpstack(body, event)
    return parse_tts(body, source)


def parse_message(msg: Inbound, window: TimeWindow) -> Uplink | OtherEvent:
    """Parse and validate one message; raises EnvelopeError, whatever went wrong."""
    if len(msg.body) > MAX_BODY:
        raise EnvelopeError(
            f"body of {len(msg.body)} bytes is over the {MAX_BODY} byte limit (kept truncated)"
        )
    try:
        parsed = parse_envelope(msg.body, msg.envelope, msg.event, msg.source)
        if isinstance(parsed, OtherEvent):
            return parsed
        arrived = msg.arrived_ns or time.time_ns()
        if not parsed.time_from_network:
            parsed = _with_arrival_time(parsed, arrived)
        check_uplink(parsed, arrived, window)
    except EnvelopeError:
        raise
    except Exception as exc:  # a parser bug must not end ingest: the message is kept raw
        log.exception("internal error parsing a message of topic %r; kept in the rejected table", msg.topic)
        err = EnvelopeError(f"internal error: {exc!r}")
        err.reason = "internal"
        raise err from exc
    return parsed


def screen(
    body: bytes, envelope: Envelope, arrived_ns: int, window: TimeWindow, event: str = "up"
) -> EnvelopeError | None:
    """What the pipeline would reject this message for (None: it would take it).

    For callers that answer the sender (the webhook): the message is still submitted, so
    the pipeline keeps it raw in the rejected table.
    """
    try:
        parse_message(Inbound(body, "webhook", event=event, arrived_ns=arrived_ns, envelope=envelope), window)
    except EnvelopeError as exc:
        return exc
    return None


def _with_arrival_time(u: Uplink, arrived_ns: int) -> Uplink:
    log.warning(
        "uplink of device_id=%s f_cnt=%d carries no network time; using arrival time", u.device_id, u.f_cnt
    )
    return u._replace(received_at_ns=arrived_ns or time.time_ns())


def rejected_message(msg: Inbound, error: str, reason: str) -> RejectedMessage:
    """What is kept of a message the pipeline rejects (its body, truncated, and why)."""
    body = bytes(msg.body[:MAX_BODY])
    return RejectedMessage(msg.source, msg.topic, body, error, msg.arrived_ns or time.time_ns(), reason)


NO_KEYS: frozenset[int] = frozenset()


class Admitted(NamedTuple):
    """A batch parsed and decoded, waiting for (or in) its write."""

    batch: Sequence[Inbound]
    stored: list[StoredUplink]
    rejected: list[RejectedMessage]
    seen: set[int]  # dedup keys of what it stores


class Writing(NamedTuple):
    """A batch whose write runs in the writer thread."""

    admitted: Admitted
    result: Job[tuple[Outcome, list[StoredUplink]]]
