"""The bridge's FastAPI app, built by `create_app(settings)`: no globals, one set of parts per app.

The lifespan builds the parts that need a running loop and closes them on shutdown (uvicorn runs it on
SIGTERM/SIGINT): the store (`database_url`, migrated on open), the pipeline (sends the windows a previous process
left unfinished), then the stream manager. On shutdown every stream is closed with code 1000 and its queued events
delivered to the pipeline (which stores what is waiting as windows for the next start) before the pipeline stops
and the store closes. `app.state.bridge` holds the parts: `store`, `bus` and `pipeline` are set while the app runs.

Without `redis_url` the app is a cluster of one (`bridge.cluster.solo`): each accepted stream's join spec is
stored, and at start every meeting the store says is live is resumed through the replicas' resume path (or ended
with a clear cause); windows left unfinished by ended meetings are resent. A graceful shutdown leaves the meetings
live for the next process (sockets closed without STREAM_CLOSE_REQ); `POST /api/streams/{id}/close` (bearer
`api_token`) is the operator's explicit end at Zoom.

With `redis_url` set the app is one replica of several (`bridge.cluster`): webhooks go through its coordinator,
windows left unfinished are resent per stream as streams are taken over (not all at start), and shutdown drains:
every stream is handed to the other replicas before the pipeline stops.

With `langflow_url` set the pipeline is the consumer: it stores meetings, participants and lines, windows them and
runs the flows (the store and the bus are built either way: the API reads them). A `consumer` passed in gets every
event after the pipeline.
The API and dashboard routers (`bridge.api`) are included when that package is present, and the Zoom App panel
(`bridge.zoomapp`) at /zoomapp/.
"""

from __future__ import annotations

import importlib
import ipaddress
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, Response

from bridge.api.auth import token_guard
from bridge.cluster.solo import Solo
from bridge.intake.events import MeetingEvent, MeetingEventConsumer
from bridge.intake.manager import StreamManager
from bridge.intake.metrics import CONTENT_TYPE_LATEST, IntakeMetrics
from bridge.intake.webhook import webhook_router
from bridge.langflow_purge import LangflowPurgeClient
from bridge.logs import get_logger
from bridge.pipeline.bus import EventBus
from bridge.pipeline.config import load_flows_config
from bridge.pipeline.consumer import Pipeline
from bridge.pipeline.langflow_runner import LangflowRunner
from bridge.pipeline.metrics import PipelineMetrics
from bridge.rtms.enums import StopReason
from bridge.settings import BridgeSettings
from bridge.store import Store
from bridge.store.purge import PurgeMetrics, Purger
from bridge.teamchat import ChatClient, ChatDeliverer
from bridge.teamchat.delivery import ChatTargets

log = get_logger(__name__)


class LoggingConsumer:
    """The consumer when none is attached: logs each event's kind and stream at DEBUG (never the text)."""

    async def handle(self, event: MeetingEvent) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("meeting event", extra={"type": event.kind, "stream_id": event.stream_id})


class Consumers:
    """The manager's consumer: the pipeline (once the lifespan built it), then the consumer passed to create_app."""

    def __init__(self, extra: MeetingEventConsumer | None) -> None:
        self.pipeline: Pipeline | None = None
        self.extra = extra

    async def handle(self, event: MeetingEvent) -> None:
        try:
            if self.pipeline is not None:
                await self.pipeline.handle(event)
            elif self.extra is None:
                await _LOGGING.handle(event)
        finally:
            if self.extra is not None:
                await self.extra.handle(event)


_LOGGING = LoggingConsumer()


@dataclass
class BridgeState:
    settings: BridgeSettings
    metrics: IntakeMetrics
    manager: StreamManager
    bus: EventBus
    pipeline_metrics: PipelineMetrics
    store: Store | None = None
    pipeline: Pipeline | None = None
    coordinator: Any = None  # bridge.cluster.coordinator.Coordinator while a replica runs
    solo: Solo | None = None  # while a bridge without Redis runs
    purger: Purger | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def get_store(self) -> Store:
        if self.store is None:
            raise RuntimeError("the store is not open (the app is not running)")
        return self.store

    def get_bus(self) -> EventBus:
        return self.bus


def model_label(settings: BridgeSettings) -> str:
    """`offline` when a tweak points a model at loopback (the rule-based test model), else the setting or
    `langflow`; `none` when no Langflow is configured."""
    if settings.model_label:
        return settings.model_label
    if not settings.langflow_url:
        return "none"
    for values in settings.langflow_tweaks.values():
        host = urlsplit(str(values.get("base_url", ""))).hostname or ""
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return "offline"
    return "langflow"


def create_app(settings: BridgeSettings, consumer: MeetingEventConsumer | None = None) -> FastAPI:
    metrics = IntakeMetrics()
    consumers = Consumers(consumer)
    manager = StreamManager(settings, consumers, metrics)
    flows = load_flows_config(settings.flows_config) if settings.langflow_url else None  # bad file: fail now
    state = BridgeState(settings=settings, metrics=metrics, manager=manager, bus=EventBus(),
                        pipeline_metrics=PipelineMetrics(metrics.registry))
    purge_metrics = PurgeMetrics(metrics.registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await Store.open(settings.database_url)
        coordinator = None
        solo: Solo | None = None
        pipeline = None
        if flows is not None:
            runner = LangflowRunner(settings.langflow_url, settings.langflow_api_key.get_secret_value(),
                                    flows.runner)
            pipeline = Pipeline(store, state.bus, flows, runner, max_concurrent_runs=settings.max_concurrent_runs,
                                extra_tweaks=settings.langflow_tweaks, metrics=state.pipeline_metrics)

        async def delete_stream(stream_id: str) -> None:
            """A revoke or a deauthorized account: stop the stream if this process holds it, cancel its runs,
            delete its rows (the store records the pending purge of its copies)."""
            live = manager.streams.get(stream_id)
            if live is not None:
                live.stop("stopped", int(StopReason.STREAM_REVOKED))
            if pipeline is not None:
                await pipeline.purge(stream_id)
            else:
                await store.delete_stream(stream_id)

        purger = Purger(
            store, delete_stream=delete_stream, metrics=purge_metrics, flows=sorted(flows.flows) if flows else (),
            langflow=LangflowPurgeClient(settings.langflow_url, settings.langflow_api_key.get_secret_value(),
                                         database_file=settings.langflow_database_file)
            if settings.langflow_url else None,
            # a run cancelled at the revoke may go on in Langflow for its whole timeout: purge again after it
            settle_s=max((f.timeout_s for f in flows.flows.values()), default=0.0) + 30.0 if flows else 0.0)
        manager.on_revoke(purger.revoked)
        state.store, state.pipeline, consumers.pipeline, state.purger = store, pipeline, pipeline, purger
        chat: _Chat | None = None
        purger.start()
        try:
            if settings.chat_enabled:
                chat = await _start_chat(settings, store, state.bus)
            resent = await pipeline.start(resend=False) if pipeline is not None else 0
            if not settings.redis_url:
                solo = Solo(settings, manager, pipeline, store, metrics)
                manager.accepting = True
                taken = await solo.start()
                if pipeline is not None:
                    resent = await pipeline.resend_unfinished(exclude=taken)
                state.solo = solo
            else:
                from redis.asyncio import Redis

                from bridge.cluster.coordinator import Coordinator

                coordinator = Coordinator(settings, manager, pipeline,
                                          Redis.from_url(settings.redis_url, decode_responses=True), metrics,
                                          bus=state.bus)
                await coordinator.start()
                state.coordinator = coordinator
            manager.accepting = True
            log.info("bridge ready", extra={"webhook_path": settings.webhook_path,
                                            "allowed_hosts": settings.allowed_hosts,
                                            "insecure_ws": settings.allow_insecure_ws,
                                            "langflow": bool(settings.langflow_url),
                                            "flows": sorted(flows.flows) if flows else [],
                                            "windows_resent": resent})
            yield
        finally:
            try:
                if coordinator is not None:
                    await coordinator.drain()
                await manager.shutdown()
            finally:
                if coordinator is not None:
                    state.coordinator = None
                    await coordinator.close()
                if solo is not None:
                    state.solo = None
                    await solo.close()
                consumers.pipeline = None
                if pipeline is not None:
                    await pipeline.close()
                if chat is not None:
                    await chat.close()
                state.bus.close()
                state.purger = None
                await purger.close()  # what is still pending stays in the store for the next start
                await store.close()
                state.pipeline = None
                state.store = None

    app = FastAPI(title="rtms-langflow bridge", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.bridge = state
    manager.accepting = False  # until the lifespan starts
    app.include_router(webhook_router(settings, manager, metrics, cluster=lambda: state.coordinator or state.solo,
                                      store=lambda: state.store, purger=lambda: state.purger))
    for router in _read_routers(state):
        app.include_router(router)
    _add_zoomapp(app, state)

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
        body: dict[str, Any] = {"status": "ready", "streams": len(manager.streams)}
        if state.coordinator is not None:
            body["replica"] = state.coordinator.replica
            if state.coordinator.draining:
                return JSONResponse({**body, "status": "draining"}, status_code=503)
        return JSONResponse(body)

    @app.post("/api/streams/{stream_id}/close", include_in_schema=False,
              dependencies=[Depends(token_guard(settings.api_token))])
    async def close_stream(stream_id: str) -> JSONResponse:
        """The operator's explicit end of a stream at Zoom (a restart or deploy never ends one)."""
        if manager.close_at_zoom(stream_id):
            return JSONResponse({"status": "closing", "stream_id": stream_id}, status_code=202)
        return JSONResponse({"error": "this bridge holds no stream with that id"}, status_code=404)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return app


def _add_zoomapp(app: FastAPI, state: BridgeState) -> None:
    """The in-meeting Zoom App panel at /zoomapp/ (`bridge.zoomapp`), with the headers Zoom requires."""
    from bridge.zoomapp import ZoomAppHeaders, zoomapp_router

    settings = state.settings

    def secret() -> str:
        return (settings.zoomapp_client_secret.get_secret_value()
                or settings.zoom_client_secret.get_secret_value())

    app.add_middleware(ZoomAppHeaders)
    app.include_router(zoomapp_router(secret, state.get_store, state.get_bus))


@dataclass
class _Chat:
    """The Team Chat deliverer and the HTTP client it owns."""

    deliverer: ChatDeliverer
    http: httpx.AsyncClient

    async def close(self) -> None:
        try:
            await self.deliverer.close()
        finally:
            await self.http.aclose()


async def _start_chat(settings: BridgeSettings, store: Store, bus: EventBus) -> _Chat:
    http = httpx.AsyncClient(timeout=httpx.Timeout(10.0), follow_redirects=False)
    client = ChatClient(
        http, api_url=settings.chat_api_url, oauth_url=settings.chat_oauth_url,
        client_id=settings.chat_client_id or settings.zoom_client_id,
        client_secret=(settings.chat_client_secret.get_secret_value()
                       or settings.zoom_client_secret.get_secret_value()),
        allowed_hosts=settings.chat_allowed_hosts, max_attempts=settings.chat_max_attempts,
        max_wait_s=settings.chat_max_wait_s)
    targets = ChatTargets(robot_jid=settings.chat_robot_jid, account_id=settings.chat_account_id,
                          objections_to=settings.chat_objections_to, summary_to=settings.chat_summary_to)
    deliverer = ChatDeliverer(store, bus, client, targets, poll_s=settings.chat_poll_s,
                              summary_wait_s=settings.chat_summary_wait_s, lookback_s=settings.chat_lookback_s)
    await deliverer.start()
    return _Chat(deliverer, http)


def _read_routers(state: BridgeState) -> list[Any]:
    """The API and dashboard routers, when `bridge.api` is installed (it is optional while it is being built)."""
    try:
        api = importlib.import_module("bridge.api")
    except ImportError as exc:
        log.warning("API not available", extra={"error": str(exc)})
        return []
    settings = state.settings
    routers = [api.api_router(state.get_store, state.get_bus, settings.api_token,
                              info=lambda: {"model": model_label(settings),
                                            **({"replay": True} if state.extra.get("replay") else {})})]
    if hasattr(api, "dashboard_router"):
        routers.append(api.dashboard_router())
    return routers
