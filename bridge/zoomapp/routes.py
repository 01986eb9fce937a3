"""`/zoomapp/*`: the in-meeting Zoom App panel.

    GET  /zoomapp/                 the Home URL: X-Zoom-App-Context -> the panel with a session for that meeting;
                                   a missing, unparseable, forged or expired context -> 4xx page, no data
    POST /zoomapp/session          {"context": <getAppContext() value>} -> {session, expires_at_ms} (web client,
                                   which sends no header)
    POST /zoomapp/session/renew    Bearer session -> a fresh one (the page renews before expiry)
    GET  /zoomapp/api/events       Bearer session -> that meeting's objections, summary, tickets (SSE)
    GET  /zoomapp/static/{name}    the page's script, style and the bundled Zoom Apps SDK

The context is opened with the client secret of the Marketplace app (the RTMS app's `ZOOM_CLIENT_SECRET` unless
`BRIDGE_ZOOMAPP_CLIENT_SECRET` names another); no secret -> 503. A session is only ever good for the meeting its
context named: nothing here takes a meeting id from the request.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from bridge.api.auth import bearer_from_header
from bridge.api.stream import StreamTiming
from bridge.logs import get_logger
from bridge.pipeline.bus import EventBus
from bridge.store import Store
from bridge.zoomapp.context import MAX_CONTEXT_CHARS, ContextError, Problem, decrypt_context
from bridge.zoomapp.session import PanelSession, SessionError, SessionKeys, user_digest
from bridge.zoomapp.stream import panel_events

__all__ = ["ASSETS", "zoomapp_router"]

log = get_logger(__name__)

# URL name -> (file under static/, media type): only these are served.
ASSETS: dict[str, tuple[str, str]] = {
    "panel.js": ("panel.js", "text/javascript; charset=utf-8"),
    "panel.css": ("panel.css", "text/css; charset=utf-8"),
    "zoom-appssdk.js": ("vendor/zoom-appssdk-0.16.41.es.js", "text/javascript; charset=utf-8"),
    "zoom-appssdk-LICENSE.txt": ("vendor/zoom-appssdk-LICENSE.md", "text/plain; charset=utf-8"),
}

STATUS: dict[Problem, int] = {
    Problem.MISSING: 401,
    Problem.EXPIRED: 401,
    Problem.UNPARSEABLE: 400,
    Problem.FORGED: 403,
    Problem.NO_MEETING: 403,
}

MESSAGES: dict[Problem, str] = {
    Problem.MISSING: "Open this app from the Apps panel of a Zoom meeting: the page got no Zoom App context.",
    Problem.EXPIRED: "The Zoom App context has expired. Close the app and open it again from the meeting.",
    Problem.UNPARSEABLE: "The Zoom App context could not be read.",
    Problem.FORGED: "The Zoom App context was not issued for this app (check the client secret the bridge uses).",
    Problem.NO_MEETING: "This panel works inside a meeting: open it from the Apps panel of a Zoom meeting.",
}

NO_STORE = {"Cache-Control": "no-store"}


class SessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    context: str = Field(min_length=1, max_length=MAX_CONTEXT_CHARS)


class SessionOut(BaseModel):
    session: str
    expires_at_ms: int


def _now_ms() -> int:
    return int(time.time() * 1000)


def _load() -> tuple[str, dict[str, bytes]]:
    folder = resources.files(__package__ or "bridge.zoomapp").joinpath("static")
    page = folder.joinpath("panel.html").read_text(encoding="utf-8")
    return page, {name: folder.joinpath(path).read_bytes() for name, (path, _) in ASSETS.items()}


def zoomapp_router(get_secret: Callable[[], str], get_store: Callable[[], Store], get_bus: Callable[[], EventBus],
                   *, timing: StreamTiming | None = None, clock: Callable[[], int] = _now_ms,
                   session_ttl_s: float = 900.0) -> APIRouter:
    """The panel's routes; `get_secret()` is the Zoom App's client secret ("" when none is configured)."""
    template, files = _load()
    stream_timing = timing or StreamTiming()
    router = APIRouter(prefix="/zoomapp", include_in_schema=False)

    def keys() -> SessionKeys:
        secret = get_secret()
        if not secret:
            raise HTTPException(503, detail="no Zoom App client secret configured (ZOOM_CLIENT_SECRET)",
                                headers=NO_STORE)
        return SessionKeys(secret, ttl_s=session_ttl_s)

    def page(status: int, state: str, message: str, session: str = "", expires: int = 0) -> Response:
        body = (template.replace("{{state}}", html.escape(state)).replace("{{message}}", html.escape(message))
                .replace("{{session}}", html.escape(session)).replace("{{expires}}", str(expires)))
        return Response(body, status_code=status, media_type="text/html; charset=utf-8", headers=NO_STORE)

    def open_session(value: str | None) -> tuple[str, int]:
        """A session for the meeting a context names; raises ContextError."""
        k = keys()
        now = clock()
        context = decrypt_context(value, k.secret, now_ms=now)
        if not context.mid:  # decrypt_context already requires one; kept explicit for the type
            raise ContextError(Problem.NO_MEETING, "the app was opened outside a meeting")
        return k.issue(context.mid, user_digest(context.uid), now_ms=now, origin_ms=min(context.ts, now))

    def session_of(request: Request) -> PanelSession:
        k = keys()
        try:
            return k.verify(bearer_from_header(request.headers.get("authorization")), now_ms=clock())
        except SessionError as exc:
            raise HTTPException(401, detail=str(exc), headers={**NO_STORE, "WWW-Authenticate": "Bearer"}) from None

    async def home(x_zoom_app_context: Annotated[str | None, Header()] = None) -> Response:
        if not get_secret():
            return page(503, "unconfigured", "The bridge has no Zoom App client secret (set ZOOM_CLIENT_SECRET).")
        try:
            token, expires = open_session(x_zoom_app_context)
        except ContextError as exc:
            log.info("zoom app context refused", extra={"problem": exc.problem.value})
            return page(STATUS[exc.problem], exc.problem.value, MESSAGES[exc.problem])
        return page(200, "ok", "Connecting...", token, expires)

    router.add_api_route("/", home, methods=["GET"])
    router.add_api_route("", home, methods=["GET"])

    @router.post("/session", response_model=SessionOut)
    async def session_from_context(body: SessionRequest) -> Response:
        try:
            token, expires = open_session(body.context)
        except ContextError as exc:
            log.info("zoom app context refused", extra={"problem": exc.problem.value})
            return JSONResponse({"error": exc.problem.value, "detail": MESSAGES[exc.problem]},
                                status_code=STATUS[exc.problem], headers=NO_STORE)
        return JSONResponse(SessionOut(session=token, expires_at_ms=expires).model_dump(), headers=NO_STORE)

    @router.post("/session/renew", response_model=SessionOut)
    async def renew(request: Request) -> Response:
        current = session_of(request)
        try:
            token, expires = keys().renew(current, now_ms=clock())
        except SessionError as exc:
            raise HTTPException(401, detail=str(exc), headers=NO_STORE) from None
        return JSONResponse(SessionOut(session=token, expires_at_ms=expires).model_dump(), headers=NO_STORE)

    @router.get("/api/events", response_class=StreamingResponse)
    async def events(request: Request) -> StreamingResponse:
        session = session_of(request)
        body = panel_events(get_store(), get_bus(), session.mid, stream_timing,
                            session_left_s=(session.exp_ms - clock()) / 1000)
        return StreamingResponse(body, media_type="text/event-stream",
                                 headers={**NO_STORE, "X-Accel-Buffering": "no"})

    @router.get("/static/{name}")
    async def static(name: str) -> Response:
        if name not in files:
            raise HTTPException(404, detail=f"no panel file {name!r}")
        return Response(files[name], media_type=ASSETS[name][1], headers={"Cache-Control": "no-cache"})

    return router
