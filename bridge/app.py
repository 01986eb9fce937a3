"""The bridge's FastAPI app, built by `create_app(settings)`: no globals, one set of parts per app.

The lifespan builds the parts that need a running loop (the stream manager) and closes them on shutdown
(uvicorn runs it on SIGTERM/SIGINT): every stream is closed with code 1000 and its queued events delivered before
the process exits. Later parts (pipeline, store, dashboard) hang off `app.state.bridge` and the same lifespan.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from bridge.intake.events import MeetingEvent, MeetingEventConsumer
from bridge.intake.manager import StreamManager
from bridge.intake.metrics import CONTENT_TYPE_LATEST, IntakeMetrics
from bridge.intake.webhook import webhook_router
from bridge.logs import get_logger
from bridge.settings import BridgeSettings

log = get_logger(__name__)


class LoggingConsumer:
    """The consumer when none is attached: logs each event's kind and stream at DEBUG (never the text)."""

    async def handle(self, event: MeetingEvent) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("meeting event", extra={"type": event.kind, "stream_id": event.stream_id})


@dataclass
class BridgeState:
    settings: BridgeSettings
    metrics: IntakeMetrics
    manager: StreamManager


def create_app(settings: BridgeSettings, consumer: MeetingEventConsumer | None = None) -> FastAPI:
    metrics = IntakeMetrics()
    manager = StreamManager(settings, consumer or LoggingConsumer(), metrics)
    state = BridgeState(settings=settings, metrics=metrics, manager=manager)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        manager.accepting = True
        log.info("bridge ready", extra={"webhook_path": settings.webhook_path,
                                        "allowed_hosts": settings.allowed_hosts,
                                        "insecure_ws": settings.allow_insecure_ws})
        try:
            yield
        finally:
            await manager.shutdown()

    app = FastAPI(title="rtms-langflow bridge", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.bridge = state
    manager.accepting = False  # until the lifespan starts
    app.include_router(webhook_router(settings, manager, metrics))

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        missing = settings.missing()
        if missing:
            return JSONResponse({"status": "not_ready", "missing": missing}, status_code=503)
        if not manager.accepting:
            return JSONResponse({"status": "not_ready", "reason": "not accepting streams"}, status_code=503)
        return JSONResponse({"status": "ready", "streams": len(manager.streams)})

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return app
