"""Operations: Prometheus ``/metrics`` and the ``/readyz`` readiness probe (both public).

Metrics live in a :class:`~prometheus_client.CollectorRegistry` of the app's own, made on
the first scrape, never the process-wide default: several apps (tests, the demo) can live
in one process. Collectors read their numbers at scrape time, so nothing is counted per request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import KINDS, Registry

from ..deps import Services, ServicesDep
from ..errors import PROBLEM_JSON

router = APIRouter(tags=["health"])

_lock = threading.Lock()
READY_PROBE = DeviceKey("lorakeet-readyz", "probe")
"""A device nobody registers: the store is asked for its latest values (a trivial query)."""


class DeviceCollector(Collector):
    """Registered devices by kind and by how they were registered."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        """Counts for one scrape."""
        gauge = GaugeMetricFamily(
            "lorakeet_devices", "Devices in the registry", labels=["kind", "registered_by"]
        )
        counts = self.registry.count_devices()
        for kind in KINDS:  # every kind present, zero when none, so dashboards see the series
            counts.setdefault((kind, "registered"), 0)
        for (kind, source), n in sorted(counts.items()):
            gauge.add_metric([kind, source], float(n))
        yield gauge


def metrics_registry(request: Request, services: Services) -> CollectorRegistry:
    """The app's collector registry, made (and its collectors registered) on first use."""
    state = request.app.state
    with _lock:
        registry: CollectorRegistry | None = getattr(state, "metrics_registry", None)
        if registry is None:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(DeviceCollector(services.registry))
            pipeline = services.pipeline
            if pipeline is not None:
                from lorakeet.observability import PipelineCollector

                registry.register(PipelineCollector(lambda: pipeline.stats, "webhook", pipeline.health))
            from lorakeet.observability import DeadLetterCollector
            from lorakeet.storage.dead_letters import DeadLetters

            registry.register(DeadLetterCollector(DeadLetters(services.registry).count))
            state.metrics_registry = registry
    return registry


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
def metrics(request: Request, services: ServicesDep) -> Response:
    """Device counts, and the webhook ingest pipeline's counters when the API ingests."""
    body = generate_latest(metrics_registry(request, services))
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _failure(exc: BaseException) -> str:
    message = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


@router.get(
    "/readyz",
    summary="Readiness",
    responses={503: {"description": "A dependency did not answer", "content": {PROBLEM_JSON: {}}}},
)
def readyz(request: Request, services: ServicesDep) -> Response:
    """200 when the registry and the readings store both answer a trivial query and webhook
    ingest is consuming; otherwise 503 (problem+json) naming what failed (a dead pipeline
    thread being restarted, a store that refuses writes for its configuration...)."""
    checks: dict[str, str] = {}
    try:
        services.registry.ping()
        checks["registry"] = "ok"
    except Exception as exc:
        checks["registry"] = _failure(exc)
    try:
        services.store.latest(READY_PROBE)
        checks["store"] = "ok"
    except Exception as exc:
        checks["store"] = _failure(exc)
    if services.pipeline is not None:
        problems = services.pipeline.health()
        checks["ingest"] = "; ".join(problems) if problems else "ok"
    failed = [name for name, result in checks.items() if result != "ok"]
    if not failed:
        return JSONResponse({"status": "ready", "checks": checks})
    body = {
        "type": "urn:lorakeet:problem:not-ready",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "; ".join(f"{name}: {checks[name]}" for name in failed),
        "instance": request.url.path,
        "failed": failed,
        "checks": checks,
    }
    return JSONResponse(body, status_code=503, media_type=PROBLEM_JSON, headers={"Retry-After": "5"})
