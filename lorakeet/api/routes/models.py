"""Device models: the shipped catalog with users' maps, and your own maps of a model.

A model (Device Repository brand and model id) gives new devices their kind and decoder
and gives every device of it a field map. ``PUT /v1/models/{brand}/{model}`` stores your
map, which applies to your devices and wins over the shared one; admins store the shared
map (``?shared=true``) that applies to everyone's. The bridge picks a change up within
30 s; ``POST /v1/devices/{device}/redecode`` rewrites stored history with it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response

from lorakeet.decoders import DECODERS
from lorakeet.decoders.models import Model, ModelFileError, UserMap, catalog, effective_model
from lorakeet.storage.registry import ModelMap

from ..auth import Viewer, ViewerDep, WriterDep
from ..deps import Services, ServicesDep
from ..errors import problem_responses
from ..schemas_models import FieldRuleBody, ModelList, ModelMapBody, ModelMapPublic, ModelPublic, RepoId

router = APIRouter(prefix="/v1/models", tags=["models"])

Shared = Annotated[bool, Query(description="the shared map of every account's devices (admins only)")]


def _user(m: ModelMap | None) -> UserMap | None:
    return UserMap(m.name, m.kind, m.decoder, dict(m.fields)) if m is not None else None


def _public(model: Model, layers: list[Literal["shipped", "shared", "own"]]) -> ModelPublic:
    return ModelPublic(
        brand_id=model.brand_id,
        model_id=model.model_id,
        name=model.name,
        kind=model.kind,
        decoder=model.decoder,
        aliases=list(model.aliases),
        field_map={
            p: FieldRuleBody.model_construct(quantity=r.quantity, unit=r.unit, scale=r.scale)
            for p, r in sorted(model.field_map.items())
        },
        layers=layers,
    )


def _maps(services: Services, viewer: Viewer) -> dict[tuple[str, str], dict[str, ModelMap]]:
    """The shared maps and the viewer's own, by (brand, model)."""
    out: dict[tuple[str, str], dict[str, ModelMap]] = {}
    for m in services.registry.list_model_maps(viewer.account_id):
        out.setdefault((m.brand_id, m.model_id), {})["shared" if m.owner_id is None else "own"] = m
    return out


def _viewed(brand: str, model: str, found: dict[str, ModelMap]) -> ModelPublic | None:
    shipped = catalog().get(brand, model)
    layers: list[Literal["shipped", "shared", "own"]] = ["shipped"] if shipped else []
    layers += [k for k in ("shared", "own") if k in found]
    try:
        m = effective_model(brand, model, _user(found.get("shared")), _user(found.get("own")))
    except ModelFileError:  # a stored map written around the API's checks: the shipped one stands
        m, layers = shipped, ["shipped"] if shipped else []
    return _public(m, layers) if m is not None else None


def _map_public(m: ModelMap) -> ModelMapPublic:
    return ModelMapPublic(
        id=m.id,
        owner_id=m.owner_id,
        brand_id=m.brand_id,
        model_id=m.model_id,
        name=m.name,
        kind=m.kind,
        decoder=m.decoder,
        fields={
            p: FieldRuleBody.model_construct(**r) if r is not None else None  # checked when stored
            for p, r in m.fields.items()
        },
        updated_at=m.updated_at,
    )


def _check_decoder(services: Services, viewer: Viewer, decoder: str | None) -> None:
    if decoder is None or decoder == "network" or decoder in DECODERS:
        return
    if decoder.startswith("js:") and decoder[3:].isdigit() and len(decoder) < 14:
        codec = services.registry.get_codec(int(decoder[3:]))
        if codec is not None and (codec.owner_id is None or codec.owner_id == viewer.account_id):
            return
        raise HTTPException(status_code=422, detail=f"no codec {decoder!r} you may use in a model map")
    raise HTTPException(
        status_code=422,
        detail=f"unknown decoder {decoder!r}: use network, one of {', '.join(sorted(DECODERS))} or js:<id>",
    )


def _owner(viewer: Viewer, shared: bool) -> int | None:
    if not shared:
        return viewer.account_id
    if not viewer.is_admin:
        raise HTTPException(status_code=403, detail="only admins change the shared map of a model")
    return None


@router.get("", summary="List device models")
def list_models(
    services: ServicesDep,
    viewer: ViewerDep,
    brand: Annotated[RepoId | None, Query(description="only this Device Repository brand")] = None,
) -> ModelList:
    """Every shipped model and every model with a shared map or one of yours, with those maps applied."""
    maps = _maps(services, viewer)
    keys = {(m.brand_id, m.model_id) for m in catalog().all()} | set(maps)
    data = [
        found
        for b, mid in sorted(keys)
        if brand is None or b == brand
        if (found := _viewed(b, mid, maps.get((b, mid), {}))) is not None
    ]
    return ModelList(data=data, count=len(data))


@router.get("/{brand}/{model}", summary="Get a device model", responses=problem_responses(404, 422))
def get_model(services: ServicesDep, viewer: ViewerDep, brand: RepoId, model: RepoId) -> ModelPublic:
    """One model as your devices see it: the shipped file, the shared map, your map."""
    found = _viewed(brand, model, _maps(services, viewer).get((brand, model), {}))
    if found is None:
        raise HTTPException(status_code=404, detail=f"no model {brand}/{model}")
    return found


@router.put("/{brand}/{model}", summary="Set your map of a model", responses=problem_responses(401, 403, 422))
def put_model_map(
    services: ServicesDep,
    viewer: WriterDep,
    brand: RepoId,
    model: RepoId,
    body: ModelMapBody,
    shared: Shared = False,
) -> ModelMapPublic:
    """Create or replace your map of a model (admins with ``shared=true``: the shared map)."""
    owner = _owner(viewer, shared)
    _check_decoder(services, viewer, body.decoder)
    fields = {p: r.model_dump() if r is not None else None for p, r in body.fields.items()}
    stored = services.registry.put_model_map(
        owner, brand, model, name=body.name, kind=body.kind, decoder=body.decoder, fields=fields
    )
    services.registry.audit(
        viewer.account_id, "model.put", f"model:{brand}/{model}", {"shared": shared, "fields": sorted(fields)}
    )
    return _map_public(stored)


@router.delete(
    "/{brand}/{model}",
    status_code=204,
    summary="Remove your map of a model",
    responses=problem_responses(401, 403, 404),
)
def delete_model_map(
    services: ServicesDep, viewer: WriterDep, brand: RepoId, model: RepoId, shared: Shared = False
) -> Response:
    """Remove your map (admins with ``shared=true``: the shared map); the shipped model stays."""
    if not services.registry.delete_model_map(_owner(viewer, shared), brand, model):
        raise HTTPException(
            status_code=404, detail=f"no {'shared' if shared else 'own'} map of {brand}/{model}"
        )
    services.registry.audit(viewer.account_id, "model.delete", f"model:{brand}/{model}", {"shared": shared})
    return Response(status_code=204)
