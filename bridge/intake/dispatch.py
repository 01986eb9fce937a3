"""Per-stream delivery of meeting events: a bounded queue and one worker task that calls the consumer.

Socket readers only `put`; the consumer runs in the worker, so a slow consumer never delays a keep-alive answer
already read. When the queue is full the reader waits (back-pressure) rather than dropping a line: losing words
is worse than Zoom re-sending after a reconnect, which the stream deduplicates.

An event the consumer fails on (the store unreachable, a lock timeout) is delivered again, with full-jitter
backoff, until `retry_limit_s` (20 s) after the first failure; the stream's later events wait behind it, so order
is kept. Worst case, in one place: one event holds its stream's queue for `retry_limit_s`, then it is given up,
logged at ERROR and counted (`rtms_consumer_events_lost`), never dropped silently. A retry after a partial
success is harmless: the store keeps a line sent twice once (`line_key`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random

from bridge.intake.events import MeetingEvent, MeetingEventConsumer
from bridge.intake.metrics import IntakeMetrics
from bridge.logs import get_logger

log = get_logger(__name__)


class _Close:
    pass


_CLOSE = _Close()
RETRY_LIMIT_S = 20.0
RETRY_BASE_S = 0.1
RETRY_CAP_S = 5.0


class EventDispatcher:
    def __init__(self, stream_id: str, consumer: MeetingEventConsumer, metrics: IntakeMetrics,
                 *, maxsize: int, retry_limit_s: float = RETRY_LIMIT_S, rng: random.Random | None = None) -> None:
        self.stream_id = stream_id
        self.retry_limit_s = retry_limit_s
        self._rng = rng or random.Random()
        self._consumer = consumer
        self._metrics = metrics
        self._queue: asyncio.Queue[MeetingEvent | _Close] = asyncio.Queue(maxsize=maxsize)
        self._closed = False
        self._worker = asyncio.create_task(self._run(), name=f"rtms-dispatch-{stream_id}")

    async def put(self, event: MeetingEvent) -> None:
        if self._closed:
            log.warning("event after close dropped", extra={"stream_id": self.stream_id, "type": event.kind})
            return
        self._metrics.events.labels(event.kind).inc()
        if self._queue.full():
            self._metrics.queue_full.inc()
        await self._queue.put(event)

    async def close(self) -> None:
        """No more events: the worker delivers what is queued, then ends."""
        if not self._closed:
            self._closed = True
            await self._queue.put(_CLOSE)

    def close_nowait(self) -> None:
        """Close from a cancelled task: stop the worker after what it is doing, dropping what is queued."""
        self._closed = True
        self._worker.cancel()

    def purge(self) -> int:
        """Drop every queued, undelivered event (stop reason 8: revoked data must not be delivered)."""
        dropped = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return dropped
            if isinstance(item, _Close):  # keep the end marker
                self._queue.put_nowait(item)
                return dropped
            dropped += 1

    @property
    def done(self) -> bool:
        return self._worker.done()

    async def wait(self, limit_s: float | None = None) -> bool:
        """Wait for the worker to deliver everything; on timeout cancel it. True when all was delivered."""
        try:
            await asyncio.wait_for(asyncio.shield(self._worker), limit_s)
            return True
        except TimeoutError:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            log.warning("consumer did not finish in time", extra={"stream_id": self.stream_id,
                                                                  "undelivered": self._queue.qsize()})
            return False

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            if isinstance(item, _Close):
                return
            await self._deliver(item)

    async def _deliver(self, item: MeetingEvent) -> None:
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        attempt = 0
        while True:
            try:
                await self._consumer.handle(item)
                if attempt:
                    log.info("event delivered after a retry", extra={"stream_id": self.stream_id,
                                                                     "type": item.kind, "attempts": attempt + 1})
                return
            except Exception as exc:
                self._metrics.consumer_errors.inc()
                now = loop.time()
                deadline = now + self.retry_limit_s if deadline is None else deadline
                if now >= deadline:
                    self._metrics.events_lost.labels(item.kind).inc()
                    log.error("consumer kept failing on an event: given up", exc_info=True, extra={
                        "stream_id": self.stream_id, "type": item.kind, "attempts": attempt + 1,
                        "error": f"{type(exc).__name__}: {exc}"[:300]})
                    return
                wait = min(deadline - now, self._rng.uniform(0.0, min(RETRY_CAP_S, RETRY_BASE_S * 2.0 ** attempt)))
                log.warning("consumer failed on an event: retrying", exc_info=attempt == 0, extra={
                    "stream_id": self.stream_id, "type": item.kind, "attempt": attempt + 1,
                    "retry_in_s": round(wait, 2), "error": f"{type(exc).__name__}: {exc}"[:300]})
                attempt += 1
                await asyncio.sleep(wait)
