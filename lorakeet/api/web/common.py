"""What every web page shares: templates, the key cookie, security headers, who is viewing."""

from __future__ import annotations

import hmac
from pathlib import Path

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..auth import ANONYMOUS, KEY_PREFIX, Viewer, expand_scopes, hash_key
from ..deps import Services
from . import svg

HERE = Path(__file__).resolve().parent


COOKIE = "lorakeet_key"


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


env = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(), auto_reload=False
)

env.globals["fill_bar"] = svg.fill_bar


def web_viewer(services: Services, key: str | None) -> Viewer:
    """The viewer behind a key from the cookie; anonymous when absent or invalid."""
    if not key or not key.startswith(KEY_PREFIX) or len(key) > 200:
        return ANONYMOUS
    digest = hash_key(key)
    found = services.registry.lookup_key(digest)
    if found is None or not hmac.compare_digest(found.key_hash, digest):
        return ANONYMOUS
    return Viewer(
        account_id=found.account_id,
        is_admin=found.is_admin and "admin" in found.scopes,
        scopes=expand_scopes(found.scopes, found.is_admin),
        key_id=found.key_id,
    )


def _viewer(request: Request, services: Services) -> Viewer:
    """The cookie's key, else a bearer key (scripts fetching the CSV), else anonymous."""
    key = request.cookies.get(COOKIE)
    if not key:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        key = token.strip() if scheme.lower() == "bearer" else None
    return web_viewer(services, key)
