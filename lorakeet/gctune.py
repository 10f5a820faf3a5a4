"""Garbage-collector settings for long-running services (bridge, ingest worker, API).

CPython's default collects the youngest generation every 700 allocations net of frees; the
per-uplink path allocates a few dozen objects per message, almost none of which live long or
form cycles, so at the default a bridge spent about a tenth of its CPU in collections that
found nothing. After start-up, everything built so far (modules, settings, the device fleet)
is moved out of the collector's sight with ``gc.freeze()``, and the youngest generation is
collected every 50,000 allocations instead. Cycles are still collected, only less often.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 20)
"""Allocations before a young collection; young (then middle) collections before an older one."""

_tuned = False


def tune() -> bool:
    """Collect once, freeze what exists, and raise the thresholds; once per process (True if now)."""
    global _tuned
    if _tuned:
        return False
    _tuned = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    return True
