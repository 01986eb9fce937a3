"""Live events across replicas: each replica relays what its pipeline publishes to one Redis channel and hands
what the others relayed to its own subscribers, so the dashboard on any replica follows every meeting.

Best effort, like the bus itself: the store is the record. Events wait in a bounded queue for the relay task;
when Redis is slow they are dropped (counted) rather than slowing the pipeline, and subscribers re-read the store
on their next `resync` or reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bridge.logs import get_logger
from bridge.pipeline.bus import EventBus, LiveEvent

log = get_logger(__name__)

QUEUE_SIZE = 10_000


class LiveRelay:
    def __init__(self, redis: Redis, bus: EventBus, *, prefix: str, replica: str) -> None:
        self.redis = redis
        self.bus = bus
        self.channel = f"{prefix}live"
        self.replica = replica
        self.dropped = 0
        self._queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self._tasks: list[asyncio.Task[None]] = []
        self._pubsub: Any = None
        bus.tap(self._outgoing)

    async def start(self) -> None:
        self._pubsub = self.redis.pubsub()
        await self._pubsub.subscribe(self.channel)
        self._tasks = [asyncio.create_task(self._send(), name="live-relay-send"),
                       asyncio.create_task(self._receive(), name="live-relay-receive")]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()

    def _outgoing(self, stream_id: str, event: LiveEvent) -> None:
        try:
            self._queue.put_nowait(json.dumps({"from": self.replica, "event": event.model_dump(mode="json")}))
        except asyncio.QueueFull:
            self.dropped += 1

    async def _send(self) -> None:
        while True:
            message = await self._queue.get()
            try:
                await self.redis.publish(self.channel, message)
            except (RedisError, OSError) as exc:
                self.dropped += 1
                log.warning("live event not relayed", extra={"error": str(exc)})
                await asyncio.sleep(0.5)

    async def _receive(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except (RedisError, OSError) as exc:
                log.warning("live relay read failed", extra={"error": str(exc)})
                await asyncio.sleep(1.0)
                continue
            if message is None:
                continue
            try:
                body = json.loads(message["data"])
                if body.get("from") == self.replica:
                    continue
                event = LiveEvent.model_validate(body["event"])
            except (ValueError, KeyError, TypeError, ValidationError) as exc:
                log.warning("bad live event dropped", extra={"error": str(exc)[:200]})
                continue
            self.bus.deliver(event.stream_id, event)
