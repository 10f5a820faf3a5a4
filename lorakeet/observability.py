"""Logging set-up (plain or JSON lines) and Prometheus metrics for the pipeline."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lorakeet.gateway_bridge.sink import PipelineStats


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and exception text)."""

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as JSON."""
        out = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure_logging(level: str = "INFO", json_lines: bool = False) -> None:
    """Configure the root logger once per entry point."""
    handler = logging.StreamHandler()
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # one line per HTTP request or migration step is noise at INFO
    for noisy in ("httpx", "httpcore", "alembic", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


class PipelineCollector(Collector):
    """Exports a pipeline's counters (read at scrape time, so nothing is done per uplink)."""

    def __init__(
        self, stats: Callable[[], PipelineStats], source: str, health: Callable[[], list[str]] | None = None
    ) -> None:
        self.stats = stats
        self.source = source
        self.health = health

    def collect(self) -> Iterator[Metric]:
        """Metrics for one scrape."""
        s = self.stats()
        counters = {
            "received": ("lorakeet_uplinks_received", "Messages handed to the pipeline"),
            "stored": ("lorakeet_uplinks_stored", "Uplinks durably stored"),
            "decode_failed": ("lorakeet_uplinks_decode_failed", "Uplinks stored raw with a decode error"),
            "rejected": ("lorakeet_messages_rejected", "Messages that were not parseable, kept raw"),
            "dedup_hits": ("lorakeet_dedup_hits", "Duplicate uplinks skipped"),
            "other_events": ("lorakeet_other_events", "Non-uplink events skipped"),
            "write_failures": ("lorakeet_store_write_failures", "Failed store writes (retried)"),
            "dead_lettered": (
                "lorakeet_dead_lettered",
                "Uplinks and bodies the store refused for good, kept as dead letters",
            ),
            "restarts": (
                "lorakeet_ingest_restarts",
                "Times a dead pipeline thread or worker process was restarted",
            ),
        }
        for attr, (name, doc) in counters.items():
            c = CounterMetricFamily(name, doc, labels=["source"])
            c.add_metric([self.source], float(getattr(s, attr)))
            yield c
        by_decoder = CounterMetricFamily(
            "lorakeet_uplinks_decoded", "Stored uplinks by decoder", labels=["source", "decoder"]
        )
        for decoder, n in sorted(s.by_decoder.items()):
            by_decoder.add_metric([self.source, decoder], float(n))
        yield by_decoder
        by_reason = CounterMetricFamily(
            "lorakeet_messages_rejected_by_reason",
            "Messages kept raw in the rejected table, by reason (envelope, f_cnt, time, ...)",
            labels=["source", "reason"],
        )
        for reason, n in sorted(s.rejected_by.items()):
            by_reason.add_metric([self.source, reason], float(n))
        yield by_reason
        decode = CounterMetricFamily(
            "lorakeet_decode_seconds", "Time spent parsing and decoding", labels=["source"]
        )
        decode.add_metric([self.source], s.decode_ns / 1e9)
        yield decode
        write = CounterMetricFamily(
            "lorakeet_store_write_seconds", "Time spent writing to the store", labels=["source"]
        )
        write.add_metric([self.source], s.write_ns / 1e9)
        yield write
        spool = GaugeMetricFamily(
            "lorakeet_spool_depth", "Batches waiting in the on-disk spool", labels=["source"]
        )
        spool.add_metric([self.source], float(getattr(s, "spool_depth", 0)))
        yield spool
        blocked = GaugeMetricFamily(
            "lorakeet_store_blocked",
            "1 while the store refuses every write for its configuration",
            labels=["source"],
        )
        blocked.add_metric([self.source], 1.0 if s.blocked else 0.0)
        yield blocked
        if self.health is not None:
            ready = GaugeMetricFamily(
                "lorakeet_ingest_ready",
                "1 while ingest consumes normally (see /readyz for why not)",
                labels=["source"],
            )
            ready.add_metric([self.source], 0.0 if self.health() else 1.0)
            yield ready


class DeadLetterCollector(Collector):
    """The dead-letter table's depth, read at scrape time."""

    def __init__(self, count: Callable[[], int]) -> None:
        self.count = count

    def collect(self) -> Iterator[Metric]:
        """One gauge."""
        g = GaugeMetricFamily("lorakeet_dead_letters", "Dead letters waiting for a replay or a drop")
        g.add_metric([], float(self.count()))
        yield g


def serve_probes(
    port: int, registry: CollectorRegistry, health: Callable[[], list[str]], addr: str = "127.0.0.1"
) -> ThreadingHTTPServer:
    """Serve ``/metrics`` (Prometheus), ``/readyz`` (503 naming why ingest is not consuming)
    and ``/healthz`` from a daemon thread: the bridge's probes."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/readyz":
                problems = health()
                body = {"status": "ready" if not problems else "not ready", "problems": problems}
                self._send(503 if problems else 200, json.dumps(body).encode(), "application/json")
            elif path == "/healthz":
                self._send(200, b'{"status": "ok"}', "application/json")
            else:
                self._send(404, b"not found", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer((addr, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="lorakeet-probes", daemon=True).start()
    return server
