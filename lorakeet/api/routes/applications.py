"""Applications: who owns a network application, claims on it, and the accounts its owner lets in.

An account proves an application by a first uplink with its ingest secret (``POST
/v1/ingest/ttn/secrets`` then the webhook), by an API key of the application that The Things
Stack confirms (``POST .../claim`` with ``tts_api_key``), or by an admin's assignment
(``PUT .../owner``). Until then its claim is pending and its devices there show no data.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from lorakeet.storage.registry import Application, ConflictError

from ..auth import AdminDep, ReaderDep, Viewer, WriterDep
from ..deps import Services, ServicesDep
from ..errors import problem_responses
from ..schemas_apps import AccountRef, ApplicationList, ApplicationPublic, ClaimRequest, Role
from ..tenancy import TtsUnavailable, settle_proof, tts_key_proves

router = APIRouter(prefix="/v1/applications", tags=["applications"])

AppId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")]
AccountId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _role(viewer: Viewer, app: Application) -> Role | None:
    if viewer.account_id is not None and app.owner_id == viewer.account_id:
        return "owner"
    if viewer.account_id in app.grants:
        return "granted"
    if viewer.account_id in app.claims:
        return "claimant"
    return "admin" if viewer.is_admin else None


def _public(viewer: Viewer, app: Application) -> ApplicationPublic:
    role = _role(viewer, app)
    assert role is not None
    return ApplicationPublic(
        application_id=app.application_id,
        owner_id=app.owner_id if role in ("owner", "admin", "granted") else None,
        proof=app.proof or None if role in ("owner", "admin", "granted") else None,
        proved_at=app.proved_at if role in ("owner", "admin", "granted") else None,
        role=role,
        pending=role == "claimant",
        grants=list(app.grants) if role in ("owner", "admin") else [],
    )


def _seen(services: Services, viewer: Viewer, application_id: str) -> Application:
    app = services.registry.get_application(application_id)
    if app is None or _role(viewer, app) is None:
        raise HTTPException(status_code=404, detail=f"no application {application_id!r} of yours")
    return app


def _managed(services: Services, viewer: Viewer, application_id: str) -> Application:
    app = _seen(services, viewer, application_id)
    if not (viewer.is_admin or app.owner_id == viewer.account_id):
        raise HTTPException(status_code=403, detail="only the application's owner or an admin manages grants")
    return app


@router.get("", summary="Your applications", responses=problem_responses(401))
def list_applications(
    services: ServicesDep,
    viewer: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> ApplicationList:
    """Applications you own, were granted or claim; admins: every owned application."""
    assert viewer.account_id is not None
    if viewer.is_admin:
        apps = services.registry.list_applications(limit=limit, offset=offset)
    else:
        apps = services.registry.applications_of(viewer.account_id)[offset : offset + limit]
    data = [_public(viewer, a) for a in apps if _role(viewer, a) is not None]
    return ApplicationList(data=data, count=len(data))


@router.get("/{application_id}", summary="Get an application", responses=problem_responses(401, 404))
def get_application(services: ServicesDep, viewer: ReaderDep, application_id: AppId) -> ApplicationPublic:
    """An application you own, were granted or claim (admins: any)."""
    return _public(viewer, _seen(services, viewer, application_id))


@router.post(
    "/{application_id}/claim",
    summary="Claim an application",
    responses={202: {"model": ApplicationPublic}, **problem_responses(401, 403, 409, 422, 502)},
)
async def claim_application(
    services: ServicesDep, viewer: WriterDep, application_id: AppId, body: ClaimRequest, response: Response
) -> ApplicationPublic:
    """With ``tts_api_key``: prove the application yours at once, if The Things Stack confirms the
    key has rights on it (this takes it from an account that proved it only by ingest). Without:
    a pending claim (202), proved later by a first uplink with your ingest secret or by an admin."""
    assert viewer.account_id is not None
    registry = services.registry
    app = await run_in_threadpool(registry.get_application, application_id)
    if app is not None and app.owner_id == viewer.account_id:
        return _public(viewer, app)
    if body.tts_api_key is None:
        if app is not None and app.owner_id is not None:
            raise HTTPException(
                status_code=409,
                detail=f"application {application_id!r} belongs to another account; a TTS API key of it "
                "proves it yours",
            )
        await run_in_threadpool(registry.add_claim, application_id, viewer.account_id)
        registry.audit(viewer.account_id, "application.claim", f"application:{application_id}")
        response.status_code = 202
        return _public(viewer, _seen(services, viewer, application_id))
    try:
        ok = await run_in_threadpool(
            tts_key_proves, services.settings.api.tts_url, application_id, body.tts_api_key
        )
    except TtsUnavailable as exc:
        status = 422 if not services.settings.api.tts_url else 502
        raise HTTPException(status_code=status, detail=str(exc)) from None
    if not ok:
        registry.audit(viewer.account_id, "application.claim.refused", f"application:{application_id}")
        raise HTTPException(
            status_code=403,
            detail=f"The Things Stack does not confirm this key for application {application_id!r}",
        )
    try:
        proof = await run_in_threadpool(
            registry.prove_application, application_id, viewer.account_id, "tts_key"
        )
    except ConflictError as exc:
        raise HTTPException(status_code=409, detail=f"{exc} (assigned by an admin)") from None
    await run_in_threadpool(settle_proof, services, proof, by=viewer.account_id, how="tts_key")
    return _public(viewer, proof.application)


@router.put(
    "/{application_id}/owner",
    summary="Assign an application (admin)",
    responses=problem_responses(401, 403, 404),
)
def assign_application(
    services: ServicesDep, viewer: AdminDep, application_id: AppId, body: AccountRef
) -> ApplicationPublic:
    """Make an account the application's owner: its pending devices there become normal, others'
    pass to it, and an owner who proved it only by ingest loses it with its devices there."""
    if services.registry.get_account(body.account_id) is None:
        raise HTTPException(status_code=404, detail=f"no account {body.account_id}")
    try:
        proof = services.registry.prove_application(application_id, body.account_id, "admin")
    except ConflictError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    settle_proof(services, proof, by=viewer.account_id, how="admin")
    return _public(viewer, proof.application)


@router.post(
    "/{application_id}/grants",
    status_code=201,
    summary="Let an account register devices in your application",
    responses=problem_responses(401, 403, 404),
)
def grant(
    services: ServicesDep, viewer: WriterDep, application_id: AppId, body: AccountRef
) -> ApplicationPublic:
    """The account may register devices in the application; its pending devices there become normal."""
    app = _managed(services, viewer, application_id)
    if app.owner_id is None:
        raise HTTPException(status_code=403, detail="prove the application before granting it")
    if services.registry.get_account(body.account_id) is None:
        raise HTTPException(status_code=404, detail=f"no account {body.account_id}")
    services.registry.grant(application_id, body.account_id, by=viewer.account_id)
    services.registry.audit(
        viewer.account_id,
        "application.grant",
        f"application:{application_id}",
        {"account_id": body.account_id},
    )
    return _public(viewer, _seen(services, viewer, application_id))


@router.delete(
    "/{application_id}/grants/{account_id}",
    status_code=204,
    summary="Withdraw a grant",
    responses=problem_responses(401, 403, 404),
)
def revoke_grant(
    services: ServicesDep, viewer: WriterDep, application_id: AppId, account_id: AccountId
) -> Response:
    """The account's devices in the application pass to the owner, stripped of what it wrote."""
    _managed(services, viewer, application_id)
    if not services.registry.revoke_grant(application_id, account_id):
        raise HTTPException(
            status_code=404, detail=f"account {account_id} has no grant on {application_id!r}"
        )
    services.registry.audit(
        viewer.account_id,
        "application.grant.revoke",
        f"application:{application_id}",
        {"account_id": account_id},
    )
    return Response(status_code=204)
