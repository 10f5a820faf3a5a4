"""What both envelope parsers share: the base model, other events, base64, times, errors."""

from __future__ import annotations

import binascii
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, ValidationError

from lorakeet.timefmt import parse_rfc3339_ns

from .validate import EnvelopeError


@dataclass(frozen=True, slots=True)
class OtherEvent:
    """A recognised non-uplink event (join, downlink status, location, ...)."""

    kind: str
    application_id: str
    device_id: str


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def b64(text: str) -> bytes:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise EnvelopeError(f"payload is not valid base64: {exc}") from exc


def time_ns(*candidates: str | None) -> tuple[int, bool]:
    for c in candidates:
        if c:
            try:
                return parse_rfc3339_ns(c), True
            except (ValueError, OverflowError) as exc:
                raise EnvelopeError(str(exc)) from exc
    return 0, False


def id_text(value: object) -> str | None:
    """A short printable string, else None: a model id never rejects an uplink."""
    if type(value) is str and 0 < len(value) <= 100 and value.isprintable():
        return value
    return None


def summary(exc: ValidationError) -> str:
    errs = exc.errors(include_url=False)
    first = errs[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    more = f" (+{len(errs) - 1} more)" if len(errs) > 1 else ""
    return f"{where}: {first['msg']}{more}"
