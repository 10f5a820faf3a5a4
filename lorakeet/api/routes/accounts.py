"""Accounts: sign-up (returns the first key once) and admin management."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response

from lorakeet.storage.registry import Account, AccountChanges

from .. import actions
from ..actions import erase_account
from ..auth import AdminDep, ReaderDep, Viewer, ViewerDep
from ..deps import ServicesDep
from ..errors import problem_responses
from ..presentation import account_public
from ..schemas_registry import (
    AccountCreate,
    AccountList,
    AccountPublic,
    AccountUpdate,
    SignupResponse,
)
from ..tenancy import settle_proof

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])

AccountId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post(
    "",
    status_code=201,
    summary="Sign up",
    responses=problem_responses(403, 409),
)
def sign_up(services: ServicesDep, viewer: ViewerDep, body: AccountCreate) -> SignupResponse:
    """Create an account and its first read/write key; the key is shown only in this response."""
    return actions.sign_up(services, viewer, body)


@router.get("", summary="List accounts (admin)", responses=problem_responses(401, 403))
def list_accounts(
    services: ServicesDep,
    viewer: AdminDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> AccountList:
    """Every account, by id."""
    rows = services.registry.list_accounts(limit=limit, offset=offset)
    return AccountList(data=[account_public(r) for r in rows], count=len(rows))


def _visible_account(services: ServicesDep, viewer: Viewer, account_id: int) -> Account:
    row = services.registry.get_account(account_id)
    if row is None or not (viewer.is_admin or viewer.account_id == account_id):
        raise HTTPException(status_code=404, detail=f"no account {account_id}")
    return row


@router.get("/{account_id}", summary="Get an account", responses=problem_responses(401, 404))
def get_account(services: ServicesDep, viewer: ReaderDep, account_id: AccountId) -> AccountPublic:
    """Your own account, or any account for admins."""
    return account_public(_visible_account(services, viewer, account_id))


@router.patch(
    "/{account_id}", summary="Change an account (admin)", responses=problem_responses(401, 403, 404)
)
def update_account(
    services: ServicesDep, viewer: AdminDep, account_id: AccountId, body: AccountUpdate
) -> AccountPublic:
    """Set the name, the admin flag, or the account's applications (each is assigned to it, as
    ``PUT /v1/applications/{id}/owner`` does)."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    row = services.registry.update_account(account_id, AccountChanges(**changes))
    if row is None:
        raise HTTPException(status_code=404, detail=f"no account {account_id}")
    services.registry.audit(
        viewer.account_id, "account.update", f"account:{account_id}", {"fields": sorted(changes)}
    )
    for app_id in changes.get("ttn_application_ids", ()):  # an admin's word: the account owns them
        app = services.registry.get_application(app_id)
        if app is None or app.owner_id != account_id:
            settle_proof(
                services,
                services.registry.prove_application(app_id, account_id, "admin"),
                by=viewer.account_id,
                how="admin",
            )
    return account_public(row)


@router.delete(
    "/{account_id}",
    status_code=204,
    summary="Erase an account (admin)",
    responses=problem_responses(401, 403, 404),
)
def delete_account(services: ServicesDep, viewer: AdminDep, account_id: AccountId) -> Response:
    """Erase an account with its keys, devices and their stored readings."""
    if services.registry.get_account(account_id) is None:
        raise HTTPException(status_code=404, detail=f"no account {account_id}")
    erase_account(services, account_id, by=viewer.account_id)
    return Response(status_code=204)
