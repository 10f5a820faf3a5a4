"""Raw uplinks of a device, re-decoding them, and the jobs that do it."""

from __future__ import annotations

import base64
import threading
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request

from lorakeet.storage.records import DeviceKey, UplinkView

from ..auth import ReaderDep, ViewerDep, WriterDep
from ..deps import DAY_NS, MAX_RAW_DAYS, ServicesDep, editable_device, time_range, visible_device
from ..errors import problem_responses
from ..jobs import Job, JobBoard, JobLimit
from ..presentation import dt
from ..schemas import JobPublic, RedecodeRequest, UplinkPublic, UplinksPublic

router = APIRouter(tags=["uplinks"])

MAX_UPLINKS = 1000
MAX_REDECODE_DAYS = 400
_board_lock = threading.Lock()


def job_board(request: Request) -> JobBoard:
    """The app's job board (made on first use)."""
    with _board_lock:
        board: JobBoard | None = getattr(request.app.state, "jobs", None)
        if board is None:
            board = request.app.state.jobs = JobBoard()
    return board


def uplink_public(v: UplinkView) -> UplinkPublic:
    """Shape a stored uplink for the API."""
    return UplinkPublic(
        time=dt(v.received_at_ns),
        f_cnt=v.f_cnt,
        f_port=v.f_port,
        source=v.source,
        rssi=v.rssi,
        snr=v.snr,
        sf=v.spreading_factor,
        frequency=v.frequency,
        gateways=list(v.gateways),
        payload_hex=v.payload.hex(),
        payload_base64=base64.b64encode(v.payload).decode(),
        decoder=v.decoder,
        decode_error=v.decode_error,
    )


def job_public(job: Job) -> JobPublic:
    """Shape a job for the API."""
    return JobPublic(
        id=job.id,
        kind=job.kind,
        device=job.device.uid,
        state=job.state,
        done=job.done,
        total=job.total,
        decode_errors=job.decode_errors,
        errors=list(job.errors),
        created_at=dt(job.created_ns),
        finished_at=dt(job.finished_ns) if job.finished_ns is not None else None,
    )


@router.get(
    "/v1/devices/{device}/uplinks",
    summary="Raw uplinks of a device",
    responses=problem_responses(404, 422),
)
def uplinks(
    services: ServicesDep,
    viewer: ViewerDep,
    device: str,
    start: Annotated[str, Query(description="RFC 3339 or relative (-7d)")] = "-1d",
    end: Annotated[str, Query(description="RFC 3339 or relative; default now")] = "now",
    limit: Annotated[int, Query(ge=1, le=MAX_UPLINKS)] = 100,
) -> UplinksPublic:
    """Stored uplinks of ``[start, end)``, newest first: radio metadata, the raw payload (hex
    and base64), which decoder ran and its error, if any."""
    start_ns, end_ns = time_range(start, end)
    if end_ns - start_ns > MAX_RAW_DAYS * DAY_NS:
        raise HTTPException(status_code=422, detail=f"the range may span at most {MAX_RAW_DAYS} days")
    row = visible_device(services, viewer, device)
    key = DeviceKey(row.application_id, row.device_id)
    views = services.store.uplinks(key, start_ns, end_ns, limit)
    return UplinksPublic(
        device=key.uid,
        start=dt(start_ns),
        end=dt(end_ns),
        count=len(views),
        uplinks=[uplink_public(v) for v in views],
    )


@router.post(
    "/v1/devices/{device}/redecode",
    status_code=202,
    summary="Re-decode stored uplinks with the device's current decoder",
    responses=problem_responses(401, 403, 404, 422, 429),
)
def start_redecode(
    request: Request, services: ServicesDep, viewer: WriterDep, device: str, body: RedecodeRequest
) -> JobPublic:
    """Start a background job (owner or admin); follow it at ``GET /v1/jobs/{id}``."""
    start_ns, end_ns = time_range(body.start, body.end)
    if end_ns - start_ns > MAX_REDECODE_DAYS * DAY_NS:
        raise HTTPException(status_code=422, detail=f"a re-decode may span at most {MAX_REDECODE_DAYS} days")
    row = editable_device(services, viewer, device)
    try:
        job = job_board(request).start_redecode(
            services.store,
            services.registry,
            row.key,
            start_ns,
            end_ns,
            viewer.account_id,
            per_account=services.settings.api.max_jobs_per_account,
        )
    except JobLimit as exc:
        raise HTTPException(status_code=429, detail=str(exc), headers={"Retry-After": "10"}) from None
    return job_public(job)


@router.get("/v1/jobs/{job_id}", summary="A background job's progress", responses=problem_responses(401, 404))
def get_job(request: Request, viewer: ReaderDep, job_id: str) -> JobPublic:
    """Progress of a job you started (admins see every job)."""
    job = job_board(request).get(job_id)
    if job is None or not (viewer.is_admin or job.account_id == viewer.account_id):
        raise HTTPException(status_code=404, detail=f"no job {job_id!r}")
    return job_public(job)
