"""The live event bus: what the pipeline publishes as a meeting goes on, for the API's Server-Sent Events.

    bus.publish(stream_id, LiveEvent(type="line", stream_id=stream_id, data={...}, at_ms=now_ms()))
    async with bus.subscribe(stream_id) as sub:      # or subscribe(None) for every meeting
        async for event in sub:                       # ends when the bus closes
            ...

`publish` never blocks and never fails: each subscriber has a bounded queue, and a subscriber too slow to keep up
loses its oldest events and gets one `{"type": "resync"}` marker in their place, so it knows to re-read the store
(the store, not the bus, is the record; the bus only says what changed). With replicas, `bridge.cluster.live`
taps `publish` to relay each event over Redis and hands the other replicas' events to `deliver`, so a dashboard on
any replica follows every meeting.

Event types and their `data`:
* `line`: a transcript line as stored (`seq, speaker, user_id, start_ms, end_ms, text`).
* `window`: a window's status changed (`id, flow, seq, status, trigger, first_line_seq, last_line_seq, attempts,
  latency_ms, error`).
* `insight`: a new or changed objection (the store's insight record).
* `summary`: the meeting's rolling summary was replaced (the store's insight record).
* `ticket`: a new or changed ticket (the store's ticket record, plus `new: bool`).
* `meeting`: the meeting's status or participants changed (`status`, optional `end_cause`, `participant`), or it
  was deleted (`deleted: true`, stop reason 8).
* `resync`: events were dropped for this subscriber.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EventBus", "LiveEvent", "LiveEventType", "Subscription", "now_ms"]

LiveEventType = Literal["line", "insight", "summary", "ticket", "meeting", "window", "resync"]


def now_ms() -> int:
    return int(time.time() * 1000)


class LiveEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: LiveEventType
    stream_id: str
    data: dict[str, Any] = Field(default_factory=dict)
    at_ms: int = Field(default_factory=now_ms)


class Subscription:
    """One subscriber's bounded queue; iterate it with `async for`. Iteration ends when the bus closes."""

    def __init__(self, stream_id: str | None, size: int) -> None:
        self.stream_id = stream_id
        self.size = size
        self.dropped = 0
        self._queue: collections.deque[LiveEvent] = collections.deque()
        self._wakeup = asyncio.Event()
        self._closed = False
        self._resync_pending = False

    def _offer(self, event: LiveEvent) -> None:
        if self._closed:
            return
        if len(self._queue) >= self.size:
            # Too slow: drop the oldest; one resync marker (delivered before what is left) stands for all of them.
            self._queue.popleft()
            self.dropped += 1
            self._resync_pending = True
        self._queue.append(event)
        self._wakeup.set()

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()

    def __len__(self) -> int:
        return len(self._queue) + self._resync_pending

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> LiveEvent:
        while not self._queue and not self._resync_pending:
            if self._closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        if self._resync_pending:
            self._resync_pending = False
            return LiveEvent(type="resync", stream_id=self.stream_id or "", data={"dropped": self.dropped})
        return self._queue.popleft()

    async def get(self, timeout_s: float) -> LiveEvent | None:
        """The next event, or None after `timeout_s` (lets an SSE handler send keep-alive comments)."""
        try:
            async with asyncio.timeout(timeout_s):
                return await self.__anext__()
        except (TimeoutError, StopAsyncIteration):
            return None


class EventBus:
    def __init__(self, queue_size: int = 512) -> None:
        if queue_size < 2:
            raise ValueError("queue_size must be at least 2")
        self.queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self._taps: list[Callable[[str, LiveEvent], None]] = []
        self.published = 0
        self.closed = False

    def tap(self, hook: Callable[[str, LiveEvent], None]) -> None:
        """`hook(stream_id, event)` sees every event published here (not those `deliver`ed); it must not block."""
        self._taps.append(hook)

    def publish(self, stream_id: str, event: LiveEvent) -> None:
        """Hand `event` to every subscriber of `stream_id` and of all meetings, and to the taps; never blocks."""
        self.published += 1
        for hook in self._taps:
            hook(stream_id, event)
        self.deliver(stream_id, event)

    def deliver(self, stream_id: str, event: LiveEvent) -> None:
        """Hand `event` to this process's subscribers only (an event another replica published)."""
        for sub in list(self._subscribers):
            if sub.stream_id is None or sub.stream_id == stream_id:
                sub._offer(event)

    @contextlib.asynccontextmanager
    async def subscribe(self, stream_id: str | None = None) -> AsyncIterator[Subscription]:
        sub = Subscription(stream_id, self.queue_size)
        if self.closed:
            sub.close()
        self._subscribers.add(sub)
        try:
            yield sub
        finally:
            self._subscribers.discard(sub)
            sub.close()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def depth(self) -> int:
        """Events waiting in the fullest subscriber queue (a metric)."""
        return max((len(s) for s in self._subscribers), default=0)

    def close(self) -> None:
        """End every subscription (the app is stopping); later subscriptions end at once."""
        self.closed = True
        for sub in list(self._subscribers):
            sub.close()
