"""How each store's write failures map onto the errors the pipeline acts on.

See :mod:`lorakeet.storage.protocols`: plain ``StoreError`` is transient (spool and
replay), ``PointsRefused`` refuses some points for good (split the batch, dead-letter
them), ``StoreConfigError`` blocks until an operator fixes the configuration.
"""

from __future__ import annotations

import sqlite3

from .protocols import PointsRefused, StoreConfigError, StoreError

_SQLITE_CONFIG = ("readonly", "no such table", "unable to open", "not authorized")


def sqlite_write_error(exc: Exception) -> StoreError:
    """A write failure as the store error the pipeline acts on.

    A value SQLite cannot hold (an integer beyond 64 bits, a number too large for a float,
    a constraint) is refused for good; a read-only or missing file needs an operator; the
    rest (busy, locked, disk full, I/O) is transient.
    """
    if isinstance(exc, StoreError):
        return exc
    if isinstance(
        exc,
        OverflowError
        | ValueError
        | TypeError
        | sqlite3.IntegrityError
        | sqlite3.DataError
        | sqlite3.InterfaceError,
    ):
        return PointsRefused(f"SQLite refused a value: {type(exc).__name__}: {exc}")
    if isinstance(exc, sqlite3.Error) and any(m in str(exc).lower() for m in _SQLITE_CONFIG):
        return StoreConfigError(f"SQLite store not writable: {exc}")
    if isinstance(exc, sqlite3.Error):
        return StoreError(f"SQLite write failed: {exc}")
    return PointsRefused(f"SQLite write failed: {type(exc).__name__}: {exc}")


_INFLUX_CONFIG = ("database not found", "retention policy not found", "bucket not found", "not authorized")


def influx_write_error(status: int | None, text: str) -> StoreError:
    """An InfluxDB write answer as the store error the pipeline acts on.

    401/403, a missing database, bucket or retention policy: configuration. Any other 4xx
    (a partial write: beyond the retention policy, a field type conflict, max-values-per-tag,
    a line that does not parse; a body too large): some points are refused for good.
    429, 5xx and no answer: transient.
    """
    detail = f"InfluxDB write failed ({status}): {text.strip()[:300]}"
    low = text.lower()
    if status in (401, 403) or (
        status is not None and 400 <= status < 500 and any(m in low for m in _INFLUX_CONFIG)
    ):
        return StoreConfigError(detail)
    if status == 404:
        return StoreConfigError(detail)
    if status is not None and 400 <= status < 500 and status not in (408, 429):
        return PointsRefused(detail)
    return StoreError(detail)
