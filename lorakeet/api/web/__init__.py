"""The crews' web page (server-rendered HTML, SVG charts, committed CSS/JS; no CDN)."""

from __future__ import annotations

from fastapi import FastAPI

from . import crews, hobbyist
from .pages import router, static_app


def install(app: FastAPI) -> None:
    """Add the pages and their static files to ``app``."""
    app.include_router(hobbyist.router)  # first: /web/devices/new is not a device id
    app.include_router(crews.router)  # before /web/devices/{device}: fixed paths first
    app.include_router(router)
    app.mount("/web/static", static_app(), name="web-static")


__all__ = ["install", "router"]
