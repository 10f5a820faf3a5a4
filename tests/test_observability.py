"""Metrics read the pipeline's counters at scrape time; JSON logs are one object per line."""

from __future__ import annotations

import json
import logging

from prometheus_client import CollectorRegistry, generate_latest

from lorakeet.gateway_bridge.pipeline import PipelineStats
from lorakeet.observability import JsonFormatter, PipelineCollector


def test_pipeline_metrics() -> None:
    stats = PipelineStats(received=10, stored=8, decode_failed=1, dedup_hits=2, by_decoder={"cayenne_lpp": 8})
    reg = CollectorRegistry()
    reg.register(PipelineCollector(lambda: stats, "mqtt"))
    text = generate_latest(reg).decode()
    assert 'lorakeet_uplinks_received_total{source="mqtt"} 10.0' in text
    assert 'lorakeet_uplinks_stored_total{source="mqtt"} 8.0' in text
    assert 'lorakeet_dedup_hits_total{source="mqtt"} 2.0' in text
    assert 'lorakeet_uplinks_decoded_total{decoder="cayenne_lpp",source="mqtt"} 8.0' in text
    stats.stored = 9  # read at scrape time
    assert 'lorakeet_uplinks_stored_total{source="mqtt"} 9.0' in generate_latest(reg).decode()


def test_json_log_lines() -> None:
    rec = logging.LogRecord(
        "lorakeet.x", logging.WARNING, __file__, 1, "device_id=%s f_cnt=%d", ("bin-1", 7), None
    )
    doc = json.loads(JsonFormatter().format(rec))
    assert doc["level"] == "WARNING"
    assert doc["message"] == "device_id=bin-1 f_cnt=7"
    assert doc["logger"] == "lorakeet.x"
