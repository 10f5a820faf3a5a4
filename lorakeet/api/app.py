"""The FastAPI application: routers, problem+json errors, CORS and rate limits."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from lorakeet import __version__

from . import errors, logredact, web
from .bodylimit import BodyLimit
from .deps import Services
from .ratelimit import TokenBuckets, rate_limit
from .routes import (
    accounts,
    across,
    alerts,
    applications,
    audit,
    bins,
    boats,
    codecs,
    dead_letters,
    devices,
    downlinks,
    fleet,
    ingest,
    keys,
    lights,
    me,
    models,
    public,
    readings,
    uplinks,
)


def create_app(services: Services) -> FastAPI:
    """Build the API around already-constructed services."""
    cfg = services.settings.api
    app = FastAPI(
        title="Lorakeet",
        version=__version__,
        description=(
            "Community LoRaWAN sensor data: devices, readings, open data.\n\n"
            "Authenticate with `Authorization: Bearer <api key>` (sign up at `POST /v1/accounts`). "
            "Errors are RFC 9457 `application/problem+json`."
        ),
        dependencies=[Depends(rate_limit)],
        responses=errors.problem_responses(422, 429),
    )
    app.state.services = services
    app.state.rate_limits = TokenBuckets(cfg.rate_limit_per_minute, cfg.rate_limit_burst)
    app.state.ingest_rate_limits = TokenBuckets(cfg.ingest_rate_limit_per_minute, cfg.ingest_rate_limit_burst)
    errors.install(app)
    logredact.install()
    app.add_middleware(BodyLimit, max_bytes=cfg.max_body_bytes)
    if cfg.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cfg.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After"],
        )
    app.include_router(accounts.router)
    app.include_router(keys.router)
    app.include_router(me.router)
    app.include_router(devices.router)
    app.include_router(readings.router)
    app.include_router(across.router)
    app.include_router(public.router)
    app.include_router(audit.router)
    app.include_router(fleet.router)
    app.include_router(uplinks.router)
    app.include_router(ingest.router)
    app.include_router(codecs.router)
    app.include_router(models.router)
    app.include_router(applications.router)

    @app.get("/healthz", tags=["health"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    from .routes import ops

    for extra in (bins, lights, boats, alerts, downlinks, ops, dead_letters):
        app.include_router(extra.router)
    web.install(app)  # "/" is the crews' overview page
    # the busiest read route skips dependency solving: it applies the one app-wide dependency itself
    if [d.dependency for d in app.router.dependencies] != [rate_limit]:
        raise RuntimeError("readings.latest_direct applies the app-wide dependencies itself: update it")
    readings.install_direct(app)

    return app
