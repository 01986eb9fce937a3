"""One process is a cluster of one: a bridge without Redis keeps what it must know about its streams in its store
(the embedded SQLite file or PostgreSQL), so a crash or a restart loses no live meeting.

* Accepting a stream writes its join spec (server URLs, ids, product) to the store before Zoom gets its 200; if
  that write fails the webhook fails too and Zoom delivers it again.
* On start, every meeting the store says is not over is taken up through the replicas' resume path
  (`bridge.cluster.resume.take_stream`): fence raised, unfinished windows sent again, unwindowed lines windowed,
  the stored `server_urls` dialled as a resumed stream inside Zoom's reconnect window. A meeting that cannot be
  dialled again (no join spec stored, its URL now refused) is ended at once with cause `unresumable` and its final
  windows run; one Zoom no longer knows ends with `gave_up` when the window passes. None is left `live`.
* A stop or interrupted webhook for a stream this process does not hold is resolved from the store: an interrupted
  live stream is resumed, a stopped one is ended (final windows run), a revoked one purged; `unknown_stream` only
  when the store does not know the stream either.
* A graceful shutdown (SIGTERM) closes the sockets without STREAM_CLOSE_REQ and stores what waits as windows,
  leaving the meetings live for the next process. Ending a stream at Zoom is a separate operator action
  (`StreamManager.close_at_zoom`, `POST /api/streams/{id}/close`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from bridge.cluster.resume import take_stream
from bridge.intake.events import EndCause, MeetingEnded
from bridge.intake.manager import StreamManager
from bridge.intake.metrics import IntakeMetrics
from bridge.intake.stream import RtmsStream, StreamSpec
from bridge.intake.webhook import SeenKeys
from bridge.logs import get_logger
from bridge.pipeline.bus import now_ms
from bridge.pipeline.consumer import Pipeline
from bridge.rtms.enums import Product, StopReason
from bridge.rtms.webhooks import RtmsInterrupted, RtmsStarted, RtmsStopped, WebhookEvent
from bridge.settings import BridgeSettings
from bridge.store import Fenced, JoinSpec, Store

log = get_logger(__name__)

_ACCEPTED = ("started", "failover", "duplicate_started")
_HELD = ("adopted", "already_held")


class Solo:
    def __init__(self, settings: BridgeSettings, manager: StreamManager, pipeline: Pipeline | None, store: Store,
                 metrics: IntakeMetrics) -> None:
        self.settings = settings
        self.manager = manager
        self.pipeline = pipeline
        self.store = store
        self.metrics = metrics
        self._seen = SeenKeys()
        self._resolving: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        manager.on_end(self._stream_ended)

    # -- lifecycle -----------------------------------------------------------------------------------------------

    async def start(self) -> set[str]:
        """Take up every meeting the store says is not over. Returns their stream ids (resumed or ended)."""
        taken: set[str] = set()
        resumed = ended = 0
        for spec in await self.store.unfinished_meetings():
            if spec.stream_id in self.manager.streams:
                continue
            taken.add(spec.stream_id)
            if await self._resume_or_end(spec):
                resumed += 1
            else:
                ended += 1
        if taken:
            log.info("meetings taken up from the store", extra={"resumed": resumed, "ended": ended})
        return taken

    async def close(self) -> None:
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.settings.shutdown_timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    # -- the webhook router's side (`bridge.intake.webhook.Cluster`) ---------------------------------------------

    async def first_delivery(self, keys: list[str], ttl_s: float) -> bool:
        now = asyncio.get_running_loop().time()
        if any(self._seen.seen(key, now) for key in keys):
            return False
        for key in keys:
            self._seen.add(key, now, ttl_s)
        return True

    async def forget_delivery(self, keys: list[str]) -> None:
        now = asyncio.get_running_loop().time()
        for key in keys:
            self._seen.add(key, now, 0.0)  # expires at once

    async def handle(self, event: WebhookEvent, body: bytes) -> str:
        if isinstance(event, (RtmsStarted, RtmsInterrupted, RtmsStopped)) and not self.manager.accepting \
                and event.rtms_stream_id not in self.manager.streams:
            return "not_accepting"  # shutting down: Zoom delivers it again, to the next process
        if isinstance(event, RtmsStarted):
            return await self._started(event)
        if isinstance(event, RtmsInterrupted) and event.rtms_stream_id not in self.manager.streams:
            return await self._interrupted_unheld(event)
        if isinstance(event, RtmsStopped) and self.manager.stream(event.rtms_stream_id) is None:
            return await self._stopped_unheld(event)
        return self.manager.handle(event)

    async def _started(self, event: RtmsStarted) -> str:
        stream_id = event.rtms_stream_id
        if self.manager.stream(stream_id) is None:
            known = await self.store.join_spec(stream_id)
            if known is not None and known.status == "ended":
                log.info("rtms_started for a stream that already ended ignored", extra={"stream_id": stream_id})
                return "ended_stream"
        result = self.manager.handle(event)
        if result in _ACCEPTED:
            try:
                await self.store.save_join_spec(stream_id, instance_id=event.instance_id, product=event.product.value,
                                                server_urls=list(event.urls), id_key=event.id_key)
            except Exception:
                # Not resumable after a crash until stored: fail the webhook so that Zoom delivers it again.
                self.metrics.store_errors.labels("join_spec").inc()
                log.exception("join spec not stored: the webhook fails so that Zoom re-delivers it",
                              extra={"stream_id": stream_id})
                raise
        return result

    async def _interrupted_unheld(self, event: RtmsInterrupted) -> str:
        spec = await self.store.join_spec(event.rtms_stream_id)
        if spec is None:
            return self.manager.handle(event)  # unknown here and in the store
        if spec.status == "ended":
            return "ended_stream"
        self._spawn(self._resolve(spec, self._resume_or_end(spec)))
        return "interrupted_resumed"

    async def _stopped_unheld(self, event: RtmsStopped) -> str:
        stream_id = event.rtms_stream_id
        spec = await self.store.join_spec(stream_id)
        revoked = event.stop_reason == StopReason.STREAM_REVOKED
        if spec is None:
            return self.manager.handle(event)  # unknown here and in the store (a revoke still runs its hooks)
        if revoked:
            self._spawn(self._resolve(spec, self.manager.revoke_stored(stream_id)))
            return "revoked"
        if spec.status == "ended":
            return "already_ended"
        self._spawn(self._resolve(spec, self._end_stored(
            spec, "stopped", event.stop_reason, "stopped while this process did not hold the stream")))
        return "stopped_unheld"

    # -- resuming and ending from the store ---------------------------------------------------------------------

    async def _resume_or_end(self, spec: JoinSpec) -> bool:
        """Resume `spec`'s stream; when it cannot be dialled again, end the meeting with cause `unresumable`.
        True when resumed."""
        stream_id = spec.stream_id
        if not spec.server_urls:
            await self._end_stored(spec, "unresumable", None, "no join spec stored: the stream cannot be dialled")
            return False
        stream = StreamSpec(Product(spec.product), spec.instance_id, stream_id, spec.server_urls, spec.id_key)
        try:
            result = await take_stream(self.manager, self.pipeline, stream, spec.fence + 1, dial=True, resumed=True)
        except Fenced:
            log.warning("another bridge holds the stream in this store: not resumed", extra={"stream_id": stream_id})
            return False
        if result in _HELD:
            log.info("stream resumed from the store", extra={"stream_id": stream_id, "fence": spec.fence + 1})
            return True
        if result == "not_accepting":  # shutting down: the meeting stays live for the next process
            return False
        await self._end_stored(spec, "unresumable", None, f"could not be dialled again ({result})", adopted=True)
        return False

    async def _end_stored(self, spec: JoinSpec, cause: EndCause, reason: int | None, detail: str, *,
                          adopted: bool = False) -> None:
        """End a meeting no socket of this process carries, from what the store holds: its unfinished windows sent
        again, its unwindowed lines windowed, its final windows run, its status `ended` with `cause`."""
        stream_id = spec.stream_id
        if self.pipeline is not None:
            if not adopted:
                await self.pipeline.adopt(stream_id, spec.fence + 1, instance_id=spec.instance_id,
                                          product=spec.product)
            await self.pipeline.handle(MeetingEnded(stream_id=stream_id, instance_id=spec.instance_id,
                                                    product=Product(spec.product), cause=cause, reason=reason,
                                                    detail=detail))
        else:
            await self.store.set_meeting_status(stream_id, "ended", ended_at_ms=now_ms(), end_cause=cause)
        log.warning("meeting ended from the store", extra={"stream_id": stream_id, "cause": cause, "detail": detail})

    async def _resolve(self, spec: JoinSpec, work: Coroutine[Any, Any, Any]) -> None:
        """One resolution at a time per stream (a webhook delivered twice acts once)."""
        if spec.stream_id in self._resolving:
            work.close()
            return
        self._resolving.add(spec.stream_id)
        try:
            await work
        finally:
            self._resolving.discard(spec.stream_id)

    # -- ends ------------------------------------------------------------------------------------------------------

    def _stream_ended(self, stream: RtmsStream) -> None:
        """Without a pipeline nothing else marks a meeting ended in the store: do it here (else the next start
        would dial it again)."""
        ended = stream.ended
        if self.pipeline is not None or ended is None or ended.cause in ("shutdown", "handoff"):
            return
        self._spawn(self._mark_ended(stream.stream_id, ended.cause))

    async def _mark_ended(self, stream_id: str, cause: str) -> None:
        try:
            await self.store.set_meeting_status(stream_id, "ended", ended_at_ms=now_ms(), end_cause=cause)
        except LookupError:
            pass  # never stored (no join spec written) or deleted (revoked)
        except Exception:
            self.metrics.store_errors.labels("meeting_status").inc()
            log.exception("meeting end not stored: the next start ends it again", extra={"stream_id": stream_id})

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.metrics.store_errors.labels("resolve").inc()
            log.error("resolving a stream from the store failed", exc_info=task.exception())
