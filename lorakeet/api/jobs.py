"""Background jobs of the API: re-decoding a device's stored uplinks.

A re-decode reads the raw uplinks of a range back from the store, decodes each with the
device's *current* decoder (built-in or ``js:<codec id>``) and writes them again. Writes
are idempotent on (device, time, f_cnt), so the new readings and decode outcome replace
the old ones; keys the new decoder no longer produces are left as they were.

Jobs live in memory (:class:`JobBoard`): they are lost on restart, which is harmless
because re-running a re-decode gives the same result.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from lorakeet.gateway_bridge.codecs import make_resolver
from lorakeet.gateway_bridge.devices import DeviceDirectory, DeviceSource
from lorakeet.gateway_bridge.field_maps import FieldMaps
from lorakeet.gateway_bridge.pipeline import Decoding
from lorakeet.storage.factory import Store
from lorakeet.storage.protocols import StoreError
from lorakeet.storage.records import DeviceKey, Uplink, UplinkView
from lorakeet.storage.registry import Registry

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "done", "failed"]
PAGE = 1000
BATCH = 500
MAX_UPLINKS = 1_000_000
MAX_ERRORS = 20


@dataclass
class Job:
    """A background job and its progress (mutated by its worker thread only)."""

    id: str
    kind: str
    device: DeviceKey
    account_id: int | None
    state: JobState = "queued"
    done: int = 0
    total: int = 0
    decode_errors: int = 0
    errors: list[str] = field(default_factory=list)
    created_ns: int = field(default_factory=time.time_ns)
    finished_ns: int | None = None

    def note(self, message: str) -> None:
        """Keep the first few problems."""
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(message)


Progress = Callable[[int, int], None]


def as_uplink(v: UplinkView) -> Uplink:
    """The uplink a stored view was made from (what a decoder needs to run again)."""
    return Uplink(
        source=v.source,
        application_id=v.device.application_id,
        device_id=v.device.device_id,
        received_at_ns=v.received_at_ns,
        f_port=v.f_port,
        f_cnt=v.f_cnt,
        payload=v.payload,
        rssi=v.rssi,
        snr=v.snr,
        spreading_factor=v.spreading_factor,
        frequency=v.frequency,
        gateways=v.gateways,
        network_decoded=v.network_decoded,
    )


def stored_uplinks(store: Store, device: DeviceKey, start_ns: int, end_ns: int) -> list[UplinkView]:
    """Every stored uplink of ``[start, end)``, paged newest first (at most MAX_UPLINKS)."""
    out: list[UplinkView] = []
    end = end_ns
    while len(out) < MAX_UPLINKS:
        page = store.uplinks(device, start_ns, end, PAGE)
        out.extend(page)
        if len(page) < PAGE:
            break
        end = page[-1].received_at_ns  # two uplinks at the very same ns would straddle pages
    return out


def redecoder(registry: Registry) -> Decoding:
    """A fresh Decoding for one job: the decoder current when the job starts is used throughout."""
    source: DeviceSource = registry
    return Decoding(
        DeviceDirectory(source, ttl=3600.0),
        make_resolver(registry, ttl=3600.0),
        FieldMaps(registry, ttl=3600.0),
    )


def redecode(
    store: Store,
    decoding: Decoding,
    device: DeviceKey,
    start_ns: int,
    end_ns: int,
    job: Job,
    progress: Progress | None = None,
) -> Job:
    """Re-decode and rewrite the device's uplinks of ``[start, end)``, updating ``job``."""
    job.state = "running"
    try:
        views = stored_uplinks(store, device, start_ns, end_ns)
        views.reverse()  # oldest first, so "latest" moves forward as it goes
        job.total = len(views)
        if progress:
            progress(0, job.total)
        for i in range(0, len(views), BATCH):
            batch = [decoding.decode(as_uplink(v)) for v in views[i : i + BATCH]]
            for s in batch:
                if s.decode_error is not None:
                    job.decode_errors += 1
                    job.note(f"f_cnt {s.uplink.f_cnt}: {s.decode_error}")
            store.write(batch)
            job.done += len(batch)
            if progress:
                progress(job.done, job.total)
        job.state = "done"
    except StoreError as exc:
        log.warning("re-decode of %s failed: %s", device.uid, exc)
        job.note(f"store: {exc}")
        job.state = "failed"
    except Exception as exc:  # a job must end in a state, never vanish
        log.exception("re-decode of %s crashed", device.uid)
        job.note(f"internal error: {exc!r}")
        job.state = "failed"
    finally:
        job.finished_ns = time.time_ns()
    return job


class JobLimit(Exception):
    """Too many jobs are running (for the account, or on this process)."""


MAX_RUNNING = 8  # re-decode threads one API process runs at once, all accounts together


class JobBoard:
    """The API's jobs, in memory; at most ``keep`` finished ones are remembered, at most
    ``MAX_RUNNING`` run at once (each in its own thread), and at most ``per_account`` of one account."""

    def __init__(self, keep: int = 1000) -> None:
        self.keep = keep
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str) -> Job | None:
        """A job by id."""
        with self._lock:
            return self._jobs.get(job_id)

    def start_redecode(
        self,
        store: Store,
        registry: Registry,
        device: DeviceKey,
        start_ns: int,
        end_ns: int,
        account_id: int | None,
        per_account: int = 4,
    ) -> Job:
        """Create a re-decode job and run it in a background thread; JobLimit when too many run."""
        job = Job(uuid.uuid4().hex, "redecode", device, account_id)
        with self._lock:
            running = [j for j in self._jobs.values() if j.finished_ns is None]
            if len(running) >= MAX_RUNNING:
                raise JobLimit(f"{MAX_RUNNING} jobs are running on this server; retry later")
            if sum(1 for j in running if j.account_id == account_id) >= per_account:
                raise JobLimit(f"your account has {per_account} jobs running, the most it may; retry later")
            self._jobs[job.id] = job
            finished = [j for j in self._jobs.values() if j.finished_ns is not None]
            for old in sorted(finished, key=lambda j: j.created_ns)[: max(0, len(finished) - self.keep)]:
                del self._jobs[old.id]
        decoding = redecoder(registry)
        threading.Thread(
            target=redecode,
            args=(store, decoding, device, start_ns, end_ns, job),
            name=f"lorakeet-job-{job.id[:8]}",
            daemon=True,
        ).start()
        return job
