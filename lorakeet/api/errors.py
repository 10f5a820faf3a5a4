"""Every error as RFC 9457 ``application/problem+json``.

    HTTPException (ours and Starlette's: 401, 403, 404 for unknown routes, 405, 409, 429 ...)
    RequestValidationError (422, with an ``errors`` list saying which field and why)
    OverflowError (422: a number too large for the database, a safety net behind the bounds
    every parameter declares)
    StoreError, lost database connections (503 with Retry-After: the service, not the
    request, is at fault; logged as a warning with the cause)
    any other exception (500, logged with its traceback, no internals in the body)

See https://www.rfc-editor.org/rfc/rfc9457 for the members: type, title, status, detail, instance.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from lorakeet.storage.protocols import StoreError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    """One invalid input."""

    loc: list[str | int] = Field(examples=[["body", "email"]])
    msg: str = Field(examples=["String should match pattern"])
    type: str = Field(examples=["string_pattern_mismatch"])


class Problem(BaseModel):
    """An RFC 9457 problem detail."""

    type: str = Field("about:blank", examples=["about:blank"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str | None = Field(None, examples=["no device 'bins-town.bin-404'"])
    instance: str | None = Field(None, examples=["/v1/devices/bins-town.bin-404"])
    errors: list[FieldError] | None = None


_RFC9110_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


def _title(status: int) -> str:
    if status in _RFC9110_TITLES:
        return _RFC9110_TITLES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_response(
    request: Request,
    status: int,
    detail: str | None,
    *,
    headers: Mapping[str, str] | None = None,
    errors: list[FieldError] | None = None,
    type_: str = "about:blank",
) -> JSONResponse:
    """A problem+json response for ``request``."""
    body = Problem(
        type=type_,
        title=_title(status),
        status=status,
        detail=detail,
        instance=request.url.path,
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=dict(headers or {}),
    )


def _field_errors(errors: Sequence[object]) -> list[FieldError]:
    out: list[FieldError] = []
    for e in errors:
        if not isinstance(e, Mapping):
            continue
        loc = [p if isinstance(p, int) else str(p) for p in e.get("loc", ())]
        out.append(FieldError(loc=loc, msg=str(e.get("msg", "")), type=str(e.get("type", ""))))
    return out


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else _title(exc.status_code)
    return problem_response(request, exc.status_code, detail, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc.errors())
    first = errors[0] if errors else None
    detail = f"{'.'.join(map(str, first.loc))}: {first.msg}" if first else "invalid request"
    return problem_response(request, 422, detail, errors=errors, type_="urn:lorakeet:problem:validation")


UNAVAILABLE_RETRY_S = 5


def _unavailable(what: str) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    """A handler answering 503 for a backing service (``what``) that does not answer."""

    async def handler(request: Request, exc: Exception) -> JSONResponse:
        log.warning("%s failed on %s %s: %s", what, request.method, request.url.path, exc)
        return problem_response(
            request,
            503,
            f"the {what} is not answering; retry later",
            headers={"Retry-After": str(UNAVAILABLE_RETRY_S)},
        )

    return handler


async def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
    # a number past what the database or a datetime holds (e.g. an id >= 2**63): the request's fault
    log.warning("out-of-range value on %s %s: %s", request.method, request.url.path, exc)
    return problem_response(request, 422, "a number in the request is out of range")


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(request, 500, "internal error; it has been logged")


def install(app: FastAPI) -> None:
    """Route every error of ``app`` through the problem+json handlers."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StoreError, _unavailable("readings store"))
    registry_down = _unavailable("registry database")
    app.add_exception_handler(OperationalError, registry_down)
    app.add_exception_handler(InterfaceError, registry_down)
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(Exception, _server_error)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` entries documenting problem+json errors."""
    return {s: {"model": Problem, "description": _title(s), "content": {PROBLEM_JSON: {}}} for s in statuses}
