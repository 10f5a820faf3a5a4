"""JavaScript codecs: upload (checked against their examples), list, get, try out.

A device uses a codec by setting its decoder to ``js:<codec id>``. A codec is compiled and
run in the codec sandbox (:mod:`lorakeet.gateway_bridge.sandbox`: QuickJS with 100 ms,
memory and output limits, in a separate process watched by a wall-clock watchdog, so a
codec that crashes or hangs is stopped with a 422 and never takes the API down) and must
pass every example it is uploaded with: an example gives ``fPort``,
``bytes`` (hex) and either ``expected`` (the readings as ``{key: value}`` in our
vocabulary, or the codec's own ``data`` object) or ``errors`` (substrings of the error
the codec must report). An upload is at most 40 KB (40,960 bytes), The Things Stack's limit.

``POST /v1/codecs/import-repo`` imports a model's codec from the server's Device Repository
checkout (``LORAKEET_DEVICE_REPO_PATH``), resolved from brand, model, firmware version and band
as the repository's index does and checked against the repository's own examples
(:mod:`lorakeet.gateway_bridge.repo_import`); repository codecs may exceed the upload limit.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Response

from lorakeet.decoders import CodecError, CodecLimitError, DecodeError, DecodeResult, DeviceContext
from lorakeet.decoders.device_repo import DeviceRepoError
from lorakeet.gateway_bridge.repo_import import import_repo_codec
from lorakeet.gateway_bridge.sandbox import SandboxedCodec, shared_host
from lorakeet.storage.registry import Codec

from ..auth import ReaderDep, Viewer, WriterDep
from ..deps import ServicesDep
from ..errors import problem_responses
from ..presentation import dt
from ..schemas import (
    CodecCreate,
    CodecExample,
    CodecList,
    CodecPublic,
    CodecRepoImport,
    CodecSummary,
    CodecTestRequest,
    CodecTestResult,
    ReadingPublic,
)

router = APIRouter(prefix="/v1/codecs", tags=["codecs"])

CodecId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _same(a: object, b: object) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def check_example(codec: SandboxedCodec, i: int, ex: CodecExample) -> str | None:
    """None when the codec passes the example, else what went wrong."""
    payload = bytes.fromhex(ex.bytes)
    where = f"example {i} (fPort {ex.f_port}, bytes {ex.bytes or '<empty>'})"
    try:
        result = codec(payload, ex.f_port, DeviceContext())
    except CodecLimitError as exc:
        return f"{where}: the codec was stopped: {exc}"
    except DecodeError as exc:
        if ex.errors is not None and all(e in str(exc) for e in ex.errors):
            return None
        return f"{where}: the codec failed: {exc}"
    if ex.errors is not None:
        return f"{where}: expected errors {ex.errors}, the codec decoded {result.as_dict()}"
    expected: dict[str, Any] = ex.expected or {}
    got = result.as_dict()
    if _same(expected, got):
        return None
    try:
        raw = codec.run(payload, ex.f_port, "1970-01-01T00:00:00Z").get("data")
    except DecodeError:
        raw = None
    if _same(expected, raw):
        return None
    return f"{where}: expected {expected}, got readings {got} (codec data {raw})"


def _visible(viewer: Viewer, row: Codec) -> bool:
    return viewer.is_admin or row.owner_id is None or row.owner_id == viewer.account_id


def _row(services: ServicesDep, viewer: Viewer, codec_id: int) -> Codec:
    row = services.registry.get_codec(codec_id)
    if row is None or not _visible(viewer, row):
        raise HTTPException(status_code=404, detail=f"no codec {codec_id}")
    return row


def codec_public(row: Codec) -> CodecPublic:
    """Shape a stored codec for the API."""
    return CodecPublic(
        id=row.id,
        decoder=f"js:{row.id}",
        name=row.name,
        owner_id=row.owner_id,
        source=row.source,
        examples=list(row.examples),
        created_at=row.created_at,
    )


@router.post("", status_code=201, summary="Upload a codec", responses=problem_responses(401, 403, 422))
def create_codec(services: ServicesDep, viewer: WriterDep, body: CodecCreate) -> CodecPublic:
    """Compile the codec and run it on its examples; 422 naming the first failing one."""
    for i, ex in enumerate(body.examples):
        if (ex.expected is None) == (ex.errors is None):
            raise HTTPException(status_code=422, detail=f"example {i}: give either 'expected' or 'errors'")
    try:
        codec = SandboxedCodec(body.source, shared_host(), body.name)
    except CodecLimitError as exc:
        raise HTTPException(status_code=422, detail=f"the codec was stopped: {exc}") from None
    except CodecError as exc:
        raise HTTPException(status_code=422, detail=f"the codec does not compile: {exc}") from None
    for i, ex in enumerate(body.examples):
        problem = check_example(codec, i, ex)
        if problem is not None:
            raise HTTPException(status_code=422, detail=problem)
    examples: list[Any] = [ex.model_dump(by_alias=True, exclude_none=True) for ex in body.examples]
    row = services.registry.create_codec(viewer.account_id, body.name, body.source, examples)
    services.registry.audit(viewer.account_id, "codec.create", f"codec:{row.id}", {"name": body.name})
    return codec_public(row)


@router.post(
    "/import-repo",
    status_code=201,
    summary="Import a Device Repository codec",
    responses=problem_responses(401, 403, 404, 422),
)
def import_repo(
    services: ServicesDep, viewer: WriterDep, body: CodecRepoImport, response: Response
) -> CodecPublic:
    """Resolve the model's codec in the server's Device Repository checkout, run it on its
    examples in the sandbox and store it as your codec, or as a shared one (admins, ``shared``);
    200 with the stored one when the same source was imported before. 404 when the server has
    no checkout; 422 naming what is missing, ambiguous (give ``firmware_version`` / ``band``)
    or failing."""
    if body.shared and not viewer.is_admin:
        raise HTTPException(status_code=403, detail="only admins import shared codecs; leave out 'shared'")
    repo = services.settings.device_repo_path
    if repo is None or not (repo / "vendor").is_dir():
        raise HTTPException(
            status_code=404,
            detail="this server has no Device Repository checkout (LORAKEET_DEVICE_REPO_PATH)",
        )
    try:
        result = import_repo_codec(
            services.registry,
            repo,
            body.brand,
            body.model,
            firmware_version=body.firmware_version,
            band=body.band,
            owner_id=None if body.shared else viewer.account_id,
            host=shared_host(),
        )
    except DeviceRepoError as exc:
        raise HTTPException(status_code=422, detail=str(exc).replace(str(repo), "<repository>")) from None
    if result.created:
        services.registry.audit(
            viewer.account_id,
            "codec.create",
            f"codec:{result.row.id}",
            {"name": result.row.name, "via": "repo"},
        )
    else:
        response.status_code = 200
    return codec_public(result.row)


@router.get("", summary="List codecs", responses=problem_responses(401))
def list_codecs(services: ServicesDep, viewer: ReaderDep) -> CodecList:
    """Your codecs and the shared ones (admins: all)."""
    rows = services.registry.list_codecs(None if viewer.is_admin else viewer.account_id, limit=1000)
    data = [
        CodecSummary(id=r.id, decoder=f"js:{r.id}", name=r.name, owner_id=r.owner_id, created_at=r.created_at)
        for r in rows
    ]
    return CodecList(data=data, count=len(data))


@router.get("/{codec_id}", summary="Get a codec", responses=problem_responses(401, 404))
def get_codec_route(services: ServicesDep, viewer: ReaderDep, codec_id: CodecId) -> CodecPublic:
    """One codec with its source and examples."""
    return codec_public(_row(services, viewer, codec_id))


def _result(result: DecodeResult) -> CodecTestResult:
    return CodecTestResult(
        ok=True,
        readings=[
            ReadingPublic(
                key=r.key, value=r.value, unit=r.unit, time=dt(r.time_ns) if r.time_ns is not None else None
            )
            for r in result.readings
        ],
        warnings=list(result.warnings),
    )


@router.post(
    "/{codec_id}/test", summary="Run a codec on a payload", responses=problem_responses(401, 404, 422)
)
def test_codec(
    services: ServicesDep, viewer: ReaderDep, codec_id: CodecId, body: CodecTestRequest
) -> CodecTestResult:
    """The readings the codec makes of ``bytes_hex`` on ``fPort``, or its errors.

    422 when the codec was stopped (time or memory limit, or it crashed the sandbox).
    """
    row = _row(services, viewer, codec_id)
    try:
        codec = SandboxedCodec(row.source, shared_host(), f"js:{row.id}")
        return _result(codec(bytes.fromhex(body.bytes_hex), body.f_port, DeviceContext()))
    except CodecLimitError as exc:
        raise HTTPException(status_code=422, detail=f"the codec was stopped: {exc}") from None
    except DecodeError as exc:
        return CodecTestResult(ok=False, errors=[str(exc)])
