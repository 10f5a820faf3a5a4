"""Lorakeet: a backend for community LoRaWAN sensor networks."""

import sys

__version__ = "0.1.0"

# httpx imports its command-line client whenever rich, click and pygments are installed
# (they are: the ``lorakeet`` command uses rich and click), about 8 MB in every process
# that writes to InfluxDB or calls a webhook. Lorakeet never runs that client: with its
# module marked absent, ``import httpx`` skips it (httpx.main then only says it is missing).
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
