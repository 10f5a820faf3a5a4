"""API keys of the caller's account: list, create (named, scoped), revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from ..auth import ReaderDep, WriterDep, hash_key, new_key
from ..deps import RegistryDep
from ..errors import problem_responses
from ..presentation import key_public
from ..schemas_registry import KeyCreate, KeyCreated, KeyList, KeyPublic

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.get("", summary="List your keys", responses=problem_responses(401))
def list_keys(registry: RegistryDep, viewer: ReaderDep) -> KeyList:
    """Your account's keys, revoked ones included; never the secrets."""
    rows = registry.list_keys(viewer.account_id)
    return KeyList(data=[key_public(r) for r in rows], count=len(rows))


@router.post("", status_code=201, summary="Create a key", responses=problem_responses(401, 403))
def create_key(registry: RegistryDep, viewer: WriterDep, body: KeyCreate) -> KeyCreated:
    """A new key with at most the scopes of the key making it (which needs ``write``: a read-only
    key cannot mint keys); the secret is shown only now."""
    missing = set(body.scopes) - viewer.scopes
    if missing:
        raise HTTPException(status_code=403, detail=f"your key cannot grant {', '.join(sorted(missing))}")
    assert viewer.account_id is not None
    key = new_key()
    row = registry.create_key(
        viewer.account_id,
        name=body.name,
        key_hash=hash_key(key),
        prefix=key[:8],
        scopes=sorted(set(body.scopes)),
    )
    registry.audit(viewer.account_id, "key.create", f"key:{row.id}", {"name": body.name})
    return KeyCreated(**key_public(row).model_dump(), key=key)


@router.delete("/{key_id}", summary="Revoke a key", responses=problem_responses(401, 403, 404))
def revoke_key(
    registry: RegistryDep, viewer: WriterDep, key_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> KeyPublic:
    """Revoke one of your keys (admins: any key) with a ``write`` key; revoking twice is harmless."""
    row = registry.get_key(key_id)
    if row is None or not (viewer.is_admin or row.account_id == viewer.account_id):
        raise HTTPException(status_code=404, detail=f"no key {key_id}")
    revoked = registry.revoke_key(key_id)
    assert revoked is not None
    registry.audit(viewer.account_id, "key.revoke", f"key:{key_id}")
    return key_public(revoked)
