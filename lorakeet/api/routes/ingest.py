"""TTN / The Things Stack webhook ingest: the same pipeline and dedup as MQTT.

A TTS webhook POSTs the uplink JSON (identical to the MQTT body) with our per-application
secret in ``X-Lorakeet-Secret``. The route authenticates it (SHA-256 of the secret looked
up in the registry, then ``hmac.compare_digest``), hands the body to the ingest
:class:`~lorakeet.gateway_bridge.pipeline.Pipeline` and answers only once the pipeline
reports the batch durable: 2xx means stored. A store outage (or no answer within
``Services.ingest_timeout_s``) is a 503 so TTS retries; the retry is deduplicated by the
pipeline, and a write that lands twice overwrites itself in the store.

Status codes: 401 no secret, 403 wrong secret (or a body of another application), 413
body over 64 KiB, 400 malformed JSON, 422 a value out of range (a frame counter over 32
bits, a time no store can hold...; in both cases the raw body is still kept in the
rejected table), 503 not durable, 200 stored.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from lorakeet.gateway_bridge.admission import screen
from lorakeet.gateway_bridge.pipeline import Inbound
from lorakeet.gateway_bridge.validate import TimeWindow

from .. import actions
from ..actions import SECRET_HEADER, hash_secret
from ..auth import WriterDep
from ..deps import ServicesDep
from ..errors import problem_responses
from ..schemas import ApplicationSecretPublic, ApplicationSecretRequest, IngestAccepted

router = APIRouter(prefix="/v1/ingest", tags=["ingest"])

MAX_BODY = 64 * 1024


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise HTTPException(status_code=413, detail=f"body larger than {MAX_BODY} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise HTTPException(status_code=413, detail=f"body larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _application_id(doc: Any) -> str | None:
    try:
        app = doc["end_device_ids"]["application_ids"]["application_id"]
    except (KeyError, TypeError):
        return None
    return app if isinstance(app, str) else None


async def _durable(services: ServicesDep, body: bytes, arrived_ns: int) -> BaseException | None:
    """Submit to the pipeline and wait for its verdict (None: durable)."""
    pipeline = services.pipeline
    if pipeline is None:
        raise HTTPException(status_code=503, detail="webhook ingest is not enabled on this server")
    loop = asyncio.get_running_loop()
    verdict: asyncio.Future[BaseException | None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if not verdict.done():
            verdict.set_result(error)

    def done(error: BaseException | None) -> None:  # runs on the pipeline thread
        if loop.is_closed():  # the server stopped while the uplink was written: nobody waits
            return
        try:
            loop.call_soon_threadsafe(settle, error)
        except RuntimeError:  # closed in between
            return

    msg = Inbound(body, "ttn", topic="webhook", arrived_ns=arrived_ns, done=done)
    try:
        accepted = pipeline.submit(msg, timeout=0)  # never block the event loop
    except Exception as exc:  # the queue is closed: shutting down
        raise HTTPException(status_code=503, detail="ingest is shutting down; retry later") from exc
    if not accepted:
        raise HTTPException(
            status_code=503, detail="ingest queue full; retry later", headers={"Retry-After": "5"}
        )
    try:
        return await asyncio.wait_for(asyncio.shield(verdict), services.ingest_timeout_s)
    except TimeoutError:
        return TimeoutError("not durable in time")


@router.post(
    "/ttn",
    summary="TTN / The Things Stack webhook (uplink JSON)",
    responses=problem_responses(400, 401, 403, 413, 422, 503),
)
async def ingest_ttn(request: Request, services: ServicesDep) -> IngestAccepted:
    """Store one uplink message; answers 200 only once it is durable (503: please retry)."""
    arrived_ns = time.time_ns()
    secret = request.headers.get(SECRET_HEADER)
    if not secret:
        raise HTTPException(status_code=401, detail=f"missing {SECRET_HEADER} header")
    body = await _read_body(request)
    digest = hash_secret(secret)
    row = await run_in_threadpool(services.registry.application_for_secret, digest)
    claim = None
    if row is None:  # an unproved claim's secret: its first uplink proves the application
        claim = await run_in_threadpool(services.registry.claim_for_secret, digest)
        if claim is None:
            raise HTTPException(status_code=403, detail=f"wrong {SECRET_HEADER}")
    elif not hmac.compare_digest(row.secret_hash, digest):
        raise HTTPException(status_code=403, detail=f"wrong {SECRET_HEADER}")
    secret_app = row.application_id if row is not None else claim.application_id if claim else ""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        # kept raw: the pipeline writes it to the rejected table
        await _durable(services, body, arrived_ns)
        raise HTTPException(status_code=400, detail=f"malformed JSON: {exc}") from None
    app_id = _application_id(doc)
    if app_id is None:
        await _durable(services, body, arrived_ns)
        raise HTTPException(
            status_code=400, detail="not a TTS message: no end_device_ids.application_ids.application_id"
        )
    if not hmac.compare_digest(app_id.encode(), secret_app.encode()):
        raise HTTPException(status_code=403, detail=f"this secret is not the one of application {app_id!r}")
    refused = screen(body, "tts", arrived_ns, TimeWindow.from_settings(services.settings.pipeline))
    if claim is not None and refused is None:
        await run_in_threadpool(
            actions.prove_by_ingest, services, claim.application_id, claim.account_id, digest
        )
    error = await _durable(services, body, arrived_ns)
    if refused is not None and error is None:  # kept raw in the rejected table
        raise HTTPException(status_code=422, detail=f"rejected ({refused.reason}): {refused}")
    if error is not None:
        raise HTTPException(
            status_code=503, detail=f"not stored ({error}); retry later", headers={"Retry-After": "30"}
        )
    return IngestAccepted()


@router.post(
    "/ttn/secrets",
    status_code=201,
    summary="Set an application's webhook secret",
    responses=problem_responses(401, 403, 422),
)
def set_secret(
    services: ServicesDep, viewer: WriterDep, body: ApplicationSecretRequest
) -> ApplicationSecretPublic:
    """Create or replace the secret TTS sends for ``application_id`` (shown only now).

    Allowed to admins, to the account that owns the secret, and (for a first secret) to an
    account that owns every registered device of the application, at least one: a secret
    lets its holder write readings for every device of the application."""
    return actions.set_application_secret(services, viewer, body)
