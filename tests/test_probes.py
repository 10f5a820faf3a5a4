"""The bridge's probe server: /metrics, and /readyz naming why ingest is not consuming."""

from __future__ import annotations

import httpx
from prometheus_client import CollectorRegistry

from lorakeet.gateway_bridge.broker import free_port
from lorakeet.gateway_bridge.sink import PipelineStats
from lorakeet.observability import PipelineCollector, serve_probes


def test_readyz_follows_health_and_metrics_count_restarts() -> None:
    stats = PipelineStats(restarts=2, dead_lettered=3)
    problems: list[str] = []
    registry = CollectorRegistry()
    registry.register(PipelineCollector(lambda: stats, "ttn", lambda: problems))
    port = free_port()
    server = serve_probes(port, registry, lambda: problems)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
            assert c.get("/readyz").status_code == 200
            problems.append("pipeline thread died (RuntimeError: boom); restart 2 in 1.0s")
            r = c.get("/readyz")
            assert r.status_code == 503 and "pipeline thread died" in r.json()["problems"][0]
            text = c.get("/metrics").text
            assert 'lorakeet_ingest_restarts_total{source="ttn"} 2.0' in text
            assert 'lorakeet_dead_lettered_total{source="ttn"} 3.0' in text
            assert 'lorakeet_ingest_ready{source="ttn"} 0.0' in text
            assert c.get("/healthz").status_code == 200 and c.get("/nope").status_code == 404
    finally:
        server.shutdown()
        server.server_close()
