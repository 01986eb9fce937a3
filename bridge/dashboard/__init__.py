"""The dashboard: a static page (HTML, CSS, JS in `static/`, shipped inside the `bridge` package) served at `/`.

No build step and nothing fetched from elsewhere, so the content security policy allows only this origin. The page
holds no data itself: it reads `/api/*` with the token given in the URL fragment (`/#token=...`, never sent to a
server; kept in the tab's sessionStorage).
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

__all__ = ["ASSETS", "SECURITY_HEADERS", "dashboard_router"]

# name -> media type: only these files are served.
ASSETS: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


def _load() -> dict[str, bytes]:
    folder = resources.files(__package__ or "bridge.dashboard").joinpath("static")
    return {name: folder.joinpath(name).read_bytes() for name in ASSETS}


def dashboard_router() -> APIRouter:
    """`GET /` (the page) and `GET /static/{name}` (its assets); files are read once, when the router is built."""
    files = _load()
    router = APIRouter(include_in_schema=False)

    def asset(name: str) -> Response:
        return Response(files[name], media_type=ASSETS[name], headers=SECURITY_HEADERS)

    @router.get("/")
    async def index() -> Response:
        return asset("index.html")

    @router.get("/static/{name}")
    async def static(name: str) -> Response:
        if name not in files or name == "index.html":
            raise HTTPException(404, detail=f"no dashboard file {name!r}")
        return asset(name)

    return router
