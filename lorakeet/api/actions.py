"""What the API does on a user's behalf, shared by the JSON routes and the web forms: sign up,
register a device, set an application's webhook secret, erase an account. Each raises
HTTPException with the API's own status and message, so a form shows the same refusal as the
API would.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from fastapi import HTTPException

from lorakeet.decoders import DECODERS
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import ConflictError, DeviceChanges, DeviceFilter

from .auth import Viewer, hash_key, new_key
from .presentation import account_public, device_public, key_public
from .schemas import ApplicationSecretPublic, ApplicationSecretRequest
from .schemas_registry import AccountCreate, DeviceCreate, DevicePublic, SignupResponse
from .services import Services
from .tenancy import settle_proof

SIGNUP_SCOPES = ("read", "write")
SECRET_HEADER = "X-Lorakeet-Secret"  # noqa: S105 - a header name, not a secret


def sign_up(services: Services, viewer: Viewer, body: AccountCreate) -> SignupResponse:
    """Create an account and its first read/write key; the key is shown only in this response."""
    if not services.settings.api.open_signup and not viewer.is_admin:
        raise HTTPException(status_code=403, detail="sign-up is closed: ask an admin for an account")
    try:
        acc = services.registry.create_account(body.name, body.email)
    except ConflictError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    key = new_key()
    row = services.registry.create_key(
        acc.id, name="default", key_hash=hash_key(key), prefix=key[:8], scopes=SIGNUP_SCOPES
    )
    services.registry.audit(viewer.account_id or acc.id, "account.create", f"account:{acc.id}")
    return SignupResponse(account=account_public(acc), key=key, key_info=key_public(row))


def register_device(services: Services, viewer: Viewer, body: DeviceCreate) -> DevicePublic:
    """Register a device you own, in an application you own or were granted (admins: any).

    In an application nobody has proved yet, the device is *pending*: registered, but its data
    shows to no one until you prove the application (a first uplink with your ingest secret, a
    TTS API key, or an admin). In an application another account owns: 403. An auto-registered
    device must be claimed instead (409)."""
    check_decoder(services, viewer, body.decoder)
    key = DeviceKey(body.application_id, body.device_id)
    assert viewer.account_id is not None
    allowed = (
        True if viewer.is_admin else services.registry.may_register(key.application_id, viewer.account_id)
    )
    if allowed is False:
        raise HTTPException(
            status_code=403,
            detail=f"application {key.application_id!r} belongs to another account: ask its owner for a "
            "grant, or prove it is yours with a TTS API key (POST /v1/applications/{id}/claim)",
        )
    check_device_quota(services, viewer)
    fields = body.model_dump(exclude={"application_id", "device_id"})
    changes = device_changes(
        {**fields, "owner_id": viewer.account_id, "source": "registered", "pending": allowed is None}
    )
    try:
        row = services.registry.create_device(key, changes)
    except ConflictError:
        raise HTTPException(
            status_code=409, detail=f"device {key.uid!r} exists already; unowned devices can be claimed"
        ) from None
    if allowed is None:
        services.registry.add_claim(key.application_id, viewer.account_id)
    services.registry.audit(
        viewer.account_id,
        "device.create",
        f"device:{key.uid}",
        {"pending": True} if allowed is None else None,
    )
    return device_public(row, viewer)


def check_device_quota(services: Services, viewer: Viewer) -> None:
    """409 when the account has as many devices as ``api.max_devices_per_account`` (admins: no limit)."""
    limit = services.settings.api.max_devices_per_account
    if viewer.is_admin or viewer.account_id is None:
        return
    f = DeviceFilter(owner_id=viewer.account_id, include_pending=True)
    if services.registry.find_devices(f, limit=1)[1] >= limit:
        raise HTTPException(
            status_code=409,
            detail=f"your account has {limit} devices, the most this server allows per account",
        )


def set_application_secret(
    services: Services, viewer: Viewer, body: ApplicationSecretRequest
) -> ApplicationSecretPublic:
    """Create or replace the secret TTS sends for ``application_id`` (shown only now).

    For an application you own (or any, for admins) it is the application's secret at once.
    For an application nobody has proved it is your claim's secret (``pending``): the first
    uplink that arrives with it proves the application yours, and from then on it is the
    application's secret. For an application another account owns: 403."""
    app_id = body.application_id
    app = services.registry.get_application(app_id)
    owner = app.owner_id if app is not None else None
    secret = body.secret or secrets.token_urlsafe(32)
    pending = False
    if viewer.is_admin or (owner is not None and owner == viewer.account_id):
        services.registry.set_application_secret(app_id, hash_secret(secret), owner or viewer.account_id)
    elif owner is not None:
        raise HTTPException(
            status_code=403,
            detail=f"application {app_id!r} belongs to another account; a TTS API key of it proves "
            f"it yours (POST /v1/applications/{app_id}/claim)",
        )
    else:
        assert viewer.account_id is not None
        services.registry.add_claim(app_id, viewer.account_id, hash_secret(secret))
        pending = True
    services.registry.audit(
        viewer.account_id, "ingest.secret.set", f"application:{app_id}", {"pending": pending}
    )
    return ApplicationSecretPublic(application_id=app_id, secret=secret, pending=pending)


def prove_by_ingest(services: Services, app_id: str, account_id: int, digest: str) -> None:
    """A first uplink arrived with the account's claim secret: the application becomes its own
    (403 when another account owns it meanwhile); the claim's secret becomes the application's."""
    try:
        proof = services.registry.prove_application(app_id, account_id, "ingest")
    except ConflictError:
        raise HTTPException(
            status_code=403, detail=f"application {app_id!r} belongs to another account"
        ) from None
    services.registry.set_application_secret(app_id, digest, account_id)
    settle_proof(services, proof, by=account_id, how="ingest")


def check_decoder(services: Services, viewer: Viewer, decoder: str | None) -> None:
    """A built-in decoder name or ``js:<codec id>`` of a codec the viewer may use; else 422."""
    if decoder is None or decoder in DECODERS:
        return
    if decoder.startswith("js:") and decoder[3:].isdigit() and len(decoder) < 14:
        codec = services.registry.get_codec(int(decoder[3:]))
        if codec is not None and (
            codec.owner_id is None or codec.owner_id == viewer.account_id or viewer.is_admin
        ):
            return
        raise HTTPException(status_code=422, detail=f"no codec {decoder!r} you may use")
    raise HTTPException(
        status_code=422,
        detail=f"unknown decoder {decoder!r}: use one of {', '.join(sorted(DECODERS))} or js:<id>",
    )


def device_changes(fields: dict[str, Any]) -> DeviceChanges:
    """The changes a validated request body (``model_dump``) asks for; a location is two fields."""
    out = dict(fields)
    if "location" in out:
        loc = out.pop("location")
        out["latitude"] = loc["latitude"] if loc else None
        out["longitude"] = loc["longitude"] if loc else None
    return DeviceChanges(**out)


def hash_secret(secret: str) -> str:
    """The hex SHA-256 the registry keeps instead of the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def erase_account(services: Services, account_id: int, *, by: int | None) -> None:
    """Erase an account and purge its devices' readings and alert state from the store."""
    devices = services.registry.delete_account(account_id)
    services.purge_devices(devices)  # other accounts' rules on the erased devices go too
    services.registry.audit(by, "account.delete", f"account:{account_id}", {"devices": len(devices)})
