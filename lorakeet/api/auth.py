"""Who is asking: bearer API keys, scopes, and the device visibility rules.

Keys look like ``lk_<43 url-safe chars>``. Only their SHA-256 is stored; a presented key is
hashed, looked up by hash and compared with ``hmac.compare_digest``. Keys are never logged.
Scopes nest: ``admin`` implies ``write`` implies ``read``; ``admin`` needs an admin account.
Found keys are cached in the process: a key revoked through this process stops working at
once, one revoked elsewhere within ``lorakeet.storage.registry.CACHE_TTL_S`` (1 s).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from lorakeet.storage.registry import Device, DeviceFilter

from .services import services_of

KEY_PREFIX = "lk_"
SCOPES = ("read", "write", "admin")
_IMPLIES = {"read": {"read"}, "write": {"read", "write"}, "admin": {"read", "write", "admin"}}


@dataclass(frozen=True, slots=True)
class Viewer:
    """The caller of one request; ``account_id`` None means anonymous."""

    account_id: int | None = None
    is_admin: bool = False
    scopes: frozenset[str] = frozenset()
    key_id: int | None = None

    @property
    def anonymous(self) -> bool:
        """True when no key was presented."""
        return self.account_id is None


ANONYMOUS = Viewer()


def new_key() -> str:
    """A fresh random API key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The hex SHA-256 of a key: what the registry stores."""
    return hashlib.sha256(key.encode()).hexdigest()


def expand_scopes(scopes: list[str] | tuple[str, ...] | frozenset[str], is_admin: bool) -> frozenset[str]:
    """Scopes a key grants, with implied ones; ``admin`` only for admin accounts."""
    out: set[str] = set()
    for s in scopes:
        if s == "admin" and not is_admin:
            continue
        out |= _IMPLIES.get(s, set())
    return frozenset(out)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def get_viewer(request: Request) -> Viewer:
    """The caller from ``Authorization: Bearer <key>``; anonymous without a header.

    Async so that a cached key costs no thread-pool hop; a cache miss reads the registry in
    the thread pool (see ``Registry.lookup_key`` for how soon a revocation takes effect).
    """
    cached: Viewer | None = getattr(request.state, "viewer", None)
    if cached is not None:
        return cached
    header = request.headers.get("authorization")
    if not header:
        request.state.viewer = ANONYMOUS
        return ANONYMOUS
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("use 'Authorization: Bearer <api key>'")
    if not token.startswith(KEY_PREFIX) or len(token) > 200:
        raise _unauthorized("invalid API key")
    digest = hash_key(token)
    registry = services_of(request).registry
    found = registry.cache.key(digest)
    if found is None:
        found = await run_in_threadpool(registry.lookup_key, digest)
    if found is None or not hmac.compare_digest(found.key_hash, digest):
        raise _unauthorized("invalid or revoked API key")
    viewer = Viewer(
        account_id=found.account_id,
        is_admin=found.is_admin and "admin" in found.scopes,
        scopes=expand_scopes(found.scopes, found.is_admin),
        key_id=found.key_id,
    )
    request.state.viewer = viewer
    return viewer


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


def require(scope: str) -> Callable[[Viewer], Awaitable[Viewer]]:
    """A dependency: the caller, who must hold ``scope`` (401 anonymous, 403 without it)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    async def dependency(viewer: ViewerDep) -> Viewer:
        if viewer.anonymous:
            raise _unauthorized("this route needs an API key")
        if scope not in viewer.scopes:
            raise HTTPException(status_code=403, detail=f"this route needs the {scope!r} scope")
        return viewer

    return dependency


ReaderDep = Annotated[Viewer, Depends(require("read"))]
WriterDep = Annotated[Viewer, Depends(require("write"))]
AdminDep = Annotated[Viewer, Depends(require("admin"))]


def can_read_data(viewer: Viewer, row: Device) -> bool:
    """A device's readings, uplinks and downlinks: as ``can_view_device``, but a pending device
    (registered in an application its owner has not proved) shows its data to admins only."""
    return viewer.is_admin or (not row.pending and can_view_device(viewer, row))


def can_view_device(viewer: Viewer, row: Device) -> bool:
    """Public devices to anyone (pending ones only to their owner); private ones to their owner and admins."""
    return (row.visibility == "public" and not row.pending) or can_edit_device(viewer, row)


def can_edit_device(viewer: Viewer, row: Device) -> bool:
    """Only the owner (with a key) or an admin changes a device."""
    if viewer.is_admin:
        return True
    return viewer.account_id is not None and row.owner_id == viewer.account_id


def viewer_filter(viewer: Viewer) -> DeviceFilter:
    """Devices the viewer may see."""
    return DeviceFilter(viewer_id=viewer.account_id, viewer_admin=viewer.is_admin)
