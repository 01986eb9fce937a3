"""Every stream the bridge holds, keyed by `rtms_stream_id`, and what each webhook does to them.

`handle(event)` is synchronous and does no network work: it starts, signals or ignores stream tasks and returns
an outcome label, so the webhook endpoint can answer Zoom at once. Rules:

* `*.rtms_started` for an unknown stream starts it (if its URL passes the SSRF guard and there is room); for a live
  stream it is a re-delivery when `server_urls` are the same, a fail-over (scenario 1) when they differ; for a
  stream that ended recently it is a late retry and is ignored.
* `*.rtms_interrupted` asks the stream to redo signaling and media (scenario 2).
* `*.rtms_stopped` ends the stream; stop reason 8 (revoked) also purges what is stored for it: the stream's own
  memory, undelivered events, and through `StreamRevoked` and the revoke hooks whatever consumers kept.
* `rtms.concurrency_*` and `rtms.start_failed` are logged and counted.

With replicas (`bridge.cluster`) the coordinator decides which replica holds a stream: it calls `adopt` with the
stream's stored spec (no webhook), `release` to hand a stream over, and hears every stream's end through `on_end`.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bridge.intake.dispatch import EventDispatcher
from bridge.intake.events import EndCause, MeetingEnded, MeetingEventConsumer, StreamRevoked
from bridge.intake.metrics import IntakeMetrics
from bridge.intake.reconnect import Backoff
from bridge.intake.ssrf import RefusedUrl, UrlGuard
from bridge.intake.stream import RtmsStream, StreamConfig, StreamSpec, make_ssl_context
from bridge.logs import get_logger
from bridge.rtms.client import ClientCredentials
from bridge.rtms.enums import MediaType, StopReason
from bridge.rtms.webhooks import (
    ConcurrencyLimited,
    ConcurrencyNearLimit,
    RtmsInterrupted,
    RtmsStarted,
    RtmsStopped,
    StartFailed,
    UrlValidation,
    WebhookEvent,
)
from bridge.settings import BridgeSettings

log = get_logger(__name__)

RevokeHook = Callable[[str], Awaitable[None]]
EndHook = Callable[[RtmsStream], None]
_MEDIA_FLAGS = {"audio": MediaType.AUDIO, "video": MediaType.VIDEO, "chat": MediaType.CHAT}
_ENDED_MEMORY = 10_000


def stream_config(settings: BridgeSettings) -> StreamConfig:
    media = MediaType.TRANSCRIPT
    for name in settings.media:
        media |= _MEDIA_FLAGS[name]
    return StreamConfig(
        credentials=ClientCredentials(settings.zoom_client_id, settings.zoom_client_secret.get_secret_value()),
        media=media,
        transcript_language=settings.transcript_language,
        backoff=Backoff(settings.backoff_base_s, settings.backoff_cap_s),
        signaling_window_s=settings.signaling_reconnect_window_s,
        media_window_s=settings.media_reconnect_window_s,
        watchdog_s=settings.watchdog_timeout_s,
        connect_timeout_s=settings.connect_timeout_s,
        drain_timeout_s=settings.drain_timeout_s,
        dedupe_size=settings.transcript_dedupe_size,
        ssl_context=make_ssl_context(str(settings.ca_bundle) if settings.ca_bundle else None),
    )


@dataclass
class _EndedStream:
    stream: RtmsStream
    at: float


class StreamManager:
    def __init__(self, settings: BridgeSettings, consumer: MeetingEventConsumer, metrics: IntakeMetrics,
                 *, guard: UrlGuard | None = None, config: StreamConfig | None = None) -> None:
        self.settings = settings
        self.consumer = consumer
        self.metrics = metrics
        self.guard = guard or UrlGuard.from_patterns(settings.allowed_hosts,
                                                     allow_insecure=settings.allow_insecure_ws)
        self.config = config or stream_config(settings)
        self.streams: dict[str, RtmsStream] = {}
        self.accepting = True
        self._ended: OrderedDict[str, _EndedStream] = OrderedDict()
        self._announced: dict[str, tuple[str, ...]] = {}  # server_urls as the last webhook gave them
        self._revoke_hooks: list[RevokeHook] = []
        self._end_hooks: list[EndHook] = []
        self._tasks: set[asyncio.Task[object]] = set()

    def on_revoke(self, hook: RevokeHook) -> None:
        """`hook(rtms_stream_id)` runs after a stream is revoked (stop reason 8): delete everything kept for it."""
        self._revoke_hooks.append(hook)

    def on_end(self, hook: EndHook) -> None:
        """`hook(stream)` runs (synchronously, must not block) when a stream's task has ended, for any cause."""
        self._end_hooks.append(hook)

    # -- webhooks ----------------------------------------------------------------------------------------------

    def handle(self, event: WebhookEvent) -> str:
        """Act on one verified webhook; returns the outcome label used in logs and metrics. Never blocks."""
        if isinstance(event, RtmsStarted):
            return self._started(event)
        if isinstance(event, RtmsStopped):
            return self._stopped(event)
        if isinstance(event, RtmsInterrupted):
            stream = self.streams.get(event.rtms_stream_id)
            if stream is None:
                return "unknown_stream"
            stream.interrupted(event.event_ts)
            return "interrupted"
        if isinstance(event, ConcurrencyNearLimit):
            log.warning("RTMS concurrency near the account limit",
                        extra={"number": event.concurrency_number, "limit": event.concurrency_limit,
                               "percentage": event.percentage, "held": len(self.streams)})
            return "concurrency_near_limit"
        if isinstance(event, ConcurrencyLimited):
            log.error("RTMS concurrency limit reached: Zoom starts no new streams",
                      extra={"number": event.concurrency_number, "held": len(self.streams)})
            return "concurrency_limited"
        if isinstance(event, StartFailed):
            log.error("Zoom could not start an RTMS stream", extra={"keys": sorted(event.payload)})
            return "start_failed"
        if isinstance(event, UrlValidation):
            return "url_validation"
        return "ignored"

    def _started(self, event: RtmsStarted) -> str:
        stream_id = event.rtms_stream_id
        urls = tuple(event.urls)
        live = self.streams.get(stream_id)
        if live is not None:
            if urls == self._announced.get(stream_id):
                log.info("duplicate rtms_started ignored", extra={"stream_id": stream_id})
                return "duplicate_started"
            allowed = self._allowed(urls, stream_id)
            if not allowed:
                return "refused_url"
            log.info("fail-over: new server for a live stream", extra={"stream_id": stream_id})
            self._announced[stream_id] = urls
            live.failover(allowed)
            return "failover"
        if stream_id in self._ended:
            log.info("rtms_started for a stream that already ended ignored", extra={"stream_id": stream_id})
            return "ended_stream"
        if not self.accepting:
            return "not_accepting"
        if len(self.streams) >= self.settings.max_streams:
            log.error("stream refused: max_streams reached",
                      extra={"stream_id": stream_id, "max_streams": self.settings.max_streams})
            return "at_capacity"
        allowed = self._allowed(urls, stream_id)
        if not allowed:
            return "refused_url"
        self._launch(StreamSpec(event.product, event.instance_id, stream_id, allowed, event.id_key), urls)
        return "started"

    def adopt(self, spec: StreamSpec, *, resumed: bool) -> str:
        """Hold a stream the cluster gave this replica, dialling its stored `server_urls`. `resumed`: another
        replica held it before, so Zoom knows the stream and a refusal is retried inside the reconnect window."""
        stream_id = spec.rtms_stream_id
        if stream_id in self.streams:
            return "already_held"
        if not self.accepting:
            return "not_accepting"
        allowed = self._allowed(spec.server_urls, stream_id)
        if not allowed:
            return "refused_url"
        self._ended.pop(stream_id, None)
        stream = self._launch(StreamSpec(spec.product, spec.instance_id, stream_id, allowed, spec.id_key),
                              spec.server_urls)
        stream.was_connected = resumed
        return "adopted"

    def _launch(self, spec: StreamSpec, announced: tuple[str, ...]) -> RtmsStream:
        stream_id = spec.rtms_stream_id
        dispatcher = EventDispatcher(stream_id, self.consumer, self.metrics, maxsize=self.settings.queue_size)
        stream = RtmsStream(spec, self.config, self.guard, dispatcher, self.metrics)
        self.streams[stream_id] = stream
        self._announced[stream_id] = announced
        self.metrics.active_streams.set(len(self.streams))
        task = stream.start()
        task.add_done_callback(functools.partial(self._on_task_done, stream))
        log.info("stream started", extra={"stream_id": stream_id, "product": spec.product.value})
        return stream

    async def release(self, stream_id: str, limit_s: float | None = None) -> bool:
        """Hand a stream over: close its sockets (code 1000, no STREAM_CLOSE_REQ, so Zoom keeps the stream for
        the next holder) and deliver its queued events, ending with `MeetingEnded(cause="handoff")`. False when
        this replica did not hold it."""
        stream = self.streams.get(stream_id)
        if stream is None or stream.task is None:
            return False
        await self._stop([stream], "handoff", self.settings.shutdown_timeout_s if limit_s is None else limit_s)
        return True

    def close_at_zoom(self, stream_id: str) -> bool:
        """The operator's explicit end: ask Zoom to close the stream (STREAM_CLOSE_REQ), then end it here with cause
        `closed` (final windows run). False when this process does not hold the stream's sockets."""
        stream = self.streams.get(stream_id)
        if stream is None:
            return False
        log.info("stream close requested by an operator", extra={"stream_id": stream_id})
        stream.close_at_zoom()
        return True

    def allowed(self, urls: tuple[str, ...], stream_id: str) -> tuple[str, ...]:
        """The URLs the SSRF guard lets the bridge dial; each refusal is logged and counted."""
        return self._allowed(urls, stream_id)

    async def revoke_stored(self, stream_id: str) -> None:
        """Stop reason 8 for a stream no socket of this process carries: run the revoke hooks (delete its data)."""
        await self._run_revoke_hooks(stream_id)

    def _allowed(self, urls: tuple[str, ...], stream_id: str) -> tuple[str, ...]:
        allowed: list[str] = []
        for url in urls:
            try:
                allowed.append(self.guard.check(url))
            except RefusedUrl as exc:
                self.metrics.refused_urls.labels(exc.reason).inc()
                log.warning("server URL refused, not dialled",
                            extra={"stream_id": stream_id, "reason": exc.reason, "error": str(exc)})
        return tuple(allowed)

    def _stopped(self, event: RtmsStopped) -> str:
        stream = self.streams.get(event.rtms_stream_id)
        revoked = event.stop_reason == StopReason.STREAM_REVOKED
        if stream is not None:
            stream.stop("stopped", event.stop_reason)
            return "stopped"
        ended = self._ended.get(event.rtms_stream_id)
        if ended is not None:
            if revoked and not ended.stream.revoked:
                self._spawn(self._revoke_ended(ended.stream))
                return "revoked"
            return "already_ended"
        if revoked:  # a stream this bridge no longer remembers: the hooks may still hold its data
            self._spawn(self._run_revoke_hooks(event.rtms_stream_id))
        return "unknown_stream"

    def _on_task_done(self, stream: RtmsStream, _task: asyncio.Task[MeetingEnded]) -> None:
        self._stream_done(stream)

    def _stream_done(self, stream: RtmsStream) -> None:
        stream.translator.forget()  # only the ids are kept (to spot late retries), not the stream's memory
        self.streams.pop(stream.stream_id, None)
        self._announced.pop(stream.stream_id, None)
        self.metrics.active_streams.set(len(self.streams))
        self._ended[stream.stream_id] = _EndedStream(stream, time.monotonic())
        while len(self._ended) > _ENDED_MEMORY:
            self._ended.popitem(last=False)
        if stream.revoked:
            self._spawn(self._run_revoke_hooks(stream.stream_id))
        for hook in self._end_hooks:
            try:
                hook(stream)
            except Exception:
                log.exception("stream end hook failed", extra={"stream_id": stream.stream_id})

    async def _revoke_ended(self, stream: RtmsStream) -> None:
        """Stop reason 8 after the stream already ended (stream state 4 came first): the consumer still hears it."""
        stream.revoked = True
        stream.translator.forget()
        await stream.dispatcher.wait(self.settings.shutdown_timeout_s)
        ref = stream.translator.ref
        try:
            await self.consumer.handle(StreamRevoked(stream_id=ref.stream_id, instance_id=ref.instance_id,
                                                     product=ref.product))
        except Exception:  # the revoke hooks below still delete what is stored (and retry until they can)
            self.metrics.consumer_errors.inc()
            log.exception("revoke not delivered to the consumer", extra={"stream_id": stream.stream_id})
        await self._run_revoke_hooks(stream.stream_id)

    async def _run_revoke_hooks(self, stream_id: str) -> None:
        log.info("stream revoked: purging its data", extra={"stream_id": stream_id})
        for hook in self._revoke_hooks:
            try:
                await hook(stream_id)
            except Exception:  # the purger's own hook records what it could not do and retries it
                self.metrics.consumer_errors.inc()
                log.exception("revoke hook failed", extra={"stream_id": stream_id})

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- lifecycle ---------------------------------------------------------------------------------------------

    async def wait_stream(self, stream_id: str, limit_s: float) -> RtmsStream:
        """Wait until a stream has ended and its consumer got every event (tests and tools)."""
        async with asyncio.timeout(limit_s):
            while True:
                stream = self.streams.get(stream_id)
                if stream is None and stream_id in self._ended:
                    stream = self._ended[stream_id].stream
                    await stream.dispatcher.wait()
                    return stream
                if stream is not None and stream.task is not None:
                    await asyncio.wait({stream.task})
                else:
                    await asyncio.sleep(0.02)

    def stream(self, stream_id: str) -> RtmsStream | None:
        live = self.streams.get(stream_id)
        if live is not None:
            return live
        ended = self._ended.get(stream_id)
        return ended.stream if ended is not None else None

    async def _stop(self, streams: list[RtmsStream], cause: EndCause, limit_s: float) -> None:
        """Stop `streams` (sockets closed with code 1000), cancel those still running after `limit_s`, and let their
        consumers get what is queued."""
        for stream in streams:
            stream.stop(cause)
        tasks: list[asyncio.Task[MeetingEnded]] = [s.task for s in streams if s.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=limit_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(s.dispatcher.wait(limit_s) for s in streams), return_exceptions=True)

    async def shutdown(self, limit_s: float | None = None) -> None:
        """Stop accepting, close every stream cleanly (close code 1000), deliver what is queued, leave no task."""
        self.accepting = False
        timeout = self.settings.shutdown_timeout_s if limit_s is None else limit_s
        streams = list(self.streams.values())
        await self._stop(streams, "shutdown", timeout)
        if self._tasks:
            _, pending_hooks = await asyncio.wait(set(self._tasks), timeout=timeout)
            for hook_task in pending_hooks:
                hook_task.cancel()
            await asyncio.gather(*pending_hooks, return_exceptions=True)
        log.info("intake shut down", extra={"streams": len(streams)})
