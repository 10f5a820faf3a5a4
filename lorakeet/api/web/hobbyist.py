"""Hobbyists' pages: sign up, register a device, connect its TTN application, see it arrive.

The pages call the same actions as the JSON API (``sign_up``, ``register_device``,
``set_application_secret``), so the rules are the same: a refused request shows the API's own message
next to the form. Forms are protected against cross-site posting three ways: the key
cookie is ``SameSite=Strict``, every form carries a token that must match a per-browser
cookie, and a present ``Origin`` header must name this site.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from lorakeet.decoders import DECODERS
from lorakeet.decoders.models import catalog
from lorakeet.storage.records import DeviceKey
from lorakeet.timefmt import format_rfc3339_ns

from ..actions import SECRET_HEADER, register_device, set_application_secret, sign_up
from ..auth import Viewer, can_view_device
from ..deps import Services, ServicesDep
from ..schemas import ApplicationSecretRequest
from ..schemas_registry import AccountCreate, DeviceCreate
from .common import COOKIE, SECURITY_HEADERS, _viewer, env

router = APIRouter(include_in_schema=False)

CSRF_COOKIE = "lorakeet_form"
MAX_FORM_BYTES = 8192
LICENCES = ("CC-BY-4.0", "CC0-1.0", "ODbL-1.0", "CC-BY-SA-4.0")


def _token(request: Request) -> tuple[str, bool]:
    """The browser's form token, and whether it is new (then it must be set as a cookie)."""
    have = request.cookies.get(CSRF_COOKIE, "")
    if 20 <= len(have) <= 100 and have.isascii():
        return have, False
    return secrets.token_urlsafe(24), True


def _render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    token, new = _token(request)
    services: Services = request.app.state.services
    viewer = context.pop("viewer", None) or _viewer(request, services)
    html = env.get_template(template).render(viewer=viewer, form_token=token, **context)
    r = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if new:
        r.set_cookie(
            CSRF_COOKIE,
            token,
            path="/web",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    return r


async def _form(request: Request) -> dict[str, str]:
    """The posted form, after the cross-site checks; 403 or 413 otherwise."""
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        if urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower():
            raise HTTPException(status_code=403, detail="form posted from another site")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(status_code=413, detail="form too large")
    fields = {k: v[0].strip() for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), fields.get("form_token", "").encode()):
        raise HTTPException(status_code=403, detail="the form expired; reload the page and send it again")
    return fields


def _problem(exc: HTTPException | ValidationError) -> str:
    if isinstance(exc, HTTPException):
        return str(exc.detail)
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in exc.errors())


def _need_key(viewer: Viewer, to: str) -> Response | None:
    if viewer.anonymous or "write" not in viewer.scopes:
        return RedirectResponse(f"/web/signup?next={to}", status_code=303, headers=SECURITY_HEADERS)
    return None


# -- sign up ---------------------------------------------------------------------------------------


@router.get("/web/signup", response_class=HTMLResponse)
def signup_page(request: Request) -> Response:
    """The sign-up form."""
    return _render(request, "signup.html", values={})


@router.post("/web/signup", response_class=HTMLResponse)
async def signup_post(request: Request, services: ServicesDep) -> Response:
    """Create the account, show its key once and keep it in this browser."""
    fields = await _form(request)
    try:
        body = AccountCreate(name=fields.get("name", ""), email=fields.get("email", ""))
        made = sign_up(services, _viewer(request, services), body)
    except (HTTPException, ValidationError) as exc:
        status = exc.status_code if isinstance(exc, HTTPException) else 422
        return _render(request, "signup.html", status, values=fields, error=_problem(exc))
    r = _render(request, "signed_up.html", status=201, key=made.key, account=made.account)
    r.set_cookie(
        COOKIE,
        made.key,
        max_age=30 * 86_400,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return r


# -- register a device -----------------------------------------------------------------------------


def _models() -> list[dict[str, str]]:
    return [
        {
            "id": f"{m.brand_id}/{m.model_id}",
            "label": f"{m.brand_id} · {m.name or m.model_id}",
            "kind": m.kind,
            "decoder": m.decoder,
        }
        for m in catalog().all()
    ]


def _register_form(request: Request, viewer: Viewer, status: int = 200, **context: Any) -> HTMLResponse:
    return _render(
        request,
        "register.html",
        status,
        viewer=viewer,
        models=_models(),
        decoders=sorted(DECODERS),
        licences=LICENCES,
        **context,
    )


@router.get("/web/devices/new", response_class=HTMLResponse)
def register_page(request: Request, services: ServicesDep) -> Response:
    """The device registration form (needs a key that may write)."""
    viewer = _viewer(request, services)
    return _need_key(viewer, "/web/devices/new") or _register_form(
        request, viewer, values={"visibility": "public"}
    )


def device_create(fields: dict[str, str]) -> DeviceCreate:
    """The API's registration body from the form; ValidationError says what to fix."""
    model = next((m for m in catalog().all() if f"{m.brand_id}/{m.model_id}" == fields.get("model")), None)
    decoder = fields.get("decoder") or (model.decoder if model is not None else None)
    body: dict[str, Any] = {
        "application_id": fields.get("application_id", ""),
        "device_id": fields.get("device_id", ""),
        "name": fields.get("name") or None,
        "kind": fields.get("kind") or (model.kind if model is not None else "other"),
        "decoder": decoder if decoder in DECODERS or (decoder or "").startswith("js:") else None,
        "visibility": fields.get("visibility", "private"),
        "licence": fields.get("licence") or None,
    }
    if model is not None:  # the device's model: its field map applies to the device's uplinks
        body["brand_id"], body["model_id"] = model.brand_id, model.model_id
    lat, lon = fields.get("latitude", ""), fields.get("longitude", "")
    if lat or lon:
        body["location"] = {"latitude": _number(lat, "latitude"), "longitude": _number(lon, "longitude")}
    return DeviceCreate.model_validate(body)


def _number(text: str, name: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text  # validation names the field


@router.post("/web/devices/new", response_class=HTMLResponse)
async def register_post(request: Request, services: ServicesDep) -> Response:
    """Register through the API's own rules, then go to the device's connect page."""
    fields = await _form(request)
    viewer = _viewer(request, services)
    if (redirect := _need_key(viewer, "/web/devices/new")) is not None:
        return redirect
    try:
        made = register_device(services, viewer, device_create(fields))
    except (HTTPException, ValidationError) as exc:
        status = exc.status_code if isinstance(exc, HTTPException) else 422
        return _register_form(request, viewer, status, values=fields, error=_problem(exc))
    return RedirectResponse(f"/web/devices/{made.id}/connect", status_code=303, headers=SECURITY_HEADERS)


# -- connect and watch -----------------------------------------------------------------------------


def _visible_key(request: Request, services: Services, device: str) -> tuple[Viewer, DeviceKey]:
    viewer = _viewer(request, services)
    try:
        key = DeviceKey.from_uid(device)
    except ValueError:
        raise HTTPException(status_code=404, detail=f"no device {device!r}") from None
    row = services.registry.lookup_device(key)
    if row is None or not can_view_device(viewer, row):
        raise HTTPException(status_code=404, detail=f"no device {device!r}")
    return viewer, key


@router.get("/web/devices/{device}/connect", response_class=HTMLResponse)
def connect_page(request: Request, services: ServicesDep, device: str) -> Response:
    """The TTN webhook settings for the device's application, and its first uplinks."""
    viewer, key = _visible_key(request, services, device)
    return _render(
        request,
        "connect.html",
        viewer=viewer,
        device=key.uid,
        application_id=key.application_id,
        webhook_url=str(request.base_url).rstrip("/") + "/v1/ingest/ttn",
        secret_header=SECRET_HEADER,
        uplinks=_uplinks(services, key),
    )


@router.post("/web/devices/{device}/secret", response_class=HTMLResponse)
async def secret_post(request: Request, services: ServicesDep, device: str) -> Response:
    """Create (or replace) the application's webhook secret through the API's rules; shown once."""
    await _form(request)
    viewer, key = _visible_key(request, services, device)
    if (redirect := _need_key(viewer, f"/web/devices/{key.uid}/connect")) is not None:
        return redirect
    context: dict[str, Any] = {
        "device": key.uid,
        "application_id": key.application_id,
        "webhook_url": str(request.base_url).rstrip("/") + "/v1/ingest/ttn",
        "secret_header": SECRET_HEADER,
        "uplinks": _uplinks(services, key),
    }
    try:
        made = set_application_secret(
            services, viewer, ApplicationSecretRequest(application_id=key.application_id)
        )
    except HTTPException as exc:
        return _render(
            request, "connect.html", exc.status_code, viewer=viewer, error=_problem(exc), **context
        )
    return _render(request, "connect.html", viewer=viewer, secret=made.secret, **context)


def _uplinks(services: Services, key: DeviceKey) -> list[dict[str, Any]]:
    row = services.registry.lookup_device(key)
    if row is None or row.pending:  # registered in an unproved application: no data yet
        return []
    views = services.store.uplinks(key, 0, 2**62, 10)
    return [
        {
            "time": format_rfc3339_ns(u.received_at_ns),
            "f_cnt": u.f_cnt,
            "f_port": u.f_port,
            "rssi": u.rssi,
            "decoder": u.decoder,
            "error": u.decode_error or "",
        }
        for u in views
    ]


@router.get("/web/devices/{device}/uplinks.json")
def uplinks_json(request: Request, services: ServicesDep, device: str) -> Response:
    """The device's ten latest uplinks, for the connect page's live list."""
    _, key = _visible_key(request, services, device)
    return JSONResponse({"device": key.uid, "uplinks": _uplinks(services, key)}, headers=SECURITY_HEADERS)
