"""Keys and secrets never reach the logs: the access log's request lines are redacted.

The web page accepts ``/?key=<api key>`` once (it moves the key into a cookie), and
clients may put other secrets into query strings. :class:`RedactSecrets` is a logging
filter on the ``uvicorn.access`` and ``uvicorn.error`` loggers that replaces the value of every
``key``, ``api_key``, ``token``, ``secret`` or ``password`` query parameter, and anything
shaped like an API key (``lk_...``), with ``[redacted]``.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
_QUERY_SECRET = re.compile(r"([?&;](?:api[_-]?)?(?:key|token|secret|password)=)[^&;\s\"]*", re.IGNORECASE)
_KEY_SHAPE = re.compile(r"\blk_[A-Za-z0-9_\-]{8,}")
LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact(text: str) -> str:
    """``text`` with query secrets and API-key-shaped strings replaced."""
    if "=" not in text and "lk_" not in text:
        return text
    return _KEY_SHAPE.sub(REDACTED, _QUERY_SECRET.sub(r"\1" + REDACTED, text))


class RedactSecrets(logging.Filter):
    """Rewrites a record's message and string arguments through :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def install() -> None:
    """Add the filter to the access log and our loggers (once per process)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
