"""What every replica must know about the streams and about each other, kept in Redis.

* `{prefix}streams`: a hash, stream id -> `StreamRecord` (JSON): what the `*.rtms_started` webhook said (product,
  ids, `server_urls`) and the stream's state: `live` (someone should hold its sockets), `stopping` (Zoom stopped it;
  its holder must end it), `ended` (its sockets are closed; its windows may still be running). A record goes away
  once the meeting is fully processed, leaving a tombstone (`{prefix}ended:{id}`, two hours) so a late re-delivered
  `*.rtms_started` does not start it again.
* `{prefix}replica:{id}`: a replica's heartbeat (`ReplicaInfo`, with a TTL), listed in the set `{prefix}replicas`;
  `{prefix}loads`: streams per replica, set to the true count at each heartbeat and raised by one at each placement
  in between, so a burst of new streams spreads evenly before the next heartbeat.
* `{prefix}seen:{key}`: webhook delivery keys, so a re-delivery reaching another replica is recognised.
* Pub/sub: `{prefix}inbox:{replica}` carries `Envelope`s to one replica; `{prefix}orphans` tells every replica a
  stream has no holder (taken over at once instead of at the next sweep).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Sequence
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis

from bridge.rtms.enums import Product

StreamState = Literal["live", "stopping", "ended"]
TOMBSTONE_S = 7200

_CREATE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
return redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
"""

_UPDATE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local state = cjson.decode(raw)['state']
for i = 3, #ARGV do
  if state == ARGV[i] then
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
    return 1
  end
end
return 0
"""

_PLACE = """
local best, best_load = nil, nil
for _, replica in ipairs(ARGV) do
  local load = tonumber(redis.call('HGET', KEYS[1], replica) or '0')
  if best == nil or load < best_load then best, best_load = replica, load end
end
if best then redis.call('HINCRBY', KEYS[1], best, 1) end
return best
"""

_MARK_SEEN = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then return 0 end
end
for _, key in ipairs(KEYS) do redis.call('SET', key, '1', 'EX', ARGV[1]) end
return 1
"""


_T = TypeVar("_T")


async def _done(value: Awaitable[_T] | _T) -> _T:
    """redis-py types hash and set commands as sync-or-async; on the asyncio client they are awaitables."""
    return await value if inspect.isawaitable(value) else value


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class StreamRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    stream_id: str = Field(min_length=1)
    product: Product
    instance_id: str
    server_urls: tuple[str, ...]
    id_key: str = "meeting_uuid"
    state: StreamState = "live"
    stop_reason: int | None = None
    updated_ms: int = Field(default_factory=now_ms)


class ReplicaInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    replica: str
    streams: int = 0
    draining: bool = False
    at_ms: int = Field(default_factory=now_ms)


class Envelope(BaseModel):
    """A message to one replica: a verified webhook body for the stream it holds, or a stream to take."""

    model_config = ConfigDict(frozen=True)

    type: Literal["webhook", "claim"]
    stream_id: str
    body: str | None = None
    hops: int = Field(default=0, ge=0)


class Registry:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self.streams_key = f"{prefix}streams"
        self.orphans_channel = f"{prefix}orphans"
        self._mark_seen = redis.register_script(_MARK_SEEN)
        self._create = redis.register_script(_CREATE)
        self._place = redis.register_script(_PLACE)
        self._update = redis.register_script(_UPDATE)
        self.loads_key = f"{prefix}loads"

    def inbox(self, replica: str) -> str:
        return f"{self.prefix}inbox:{replica}"

    # streams --------------------------------------------------------------------------------------------------

    async def create(self, record: StreamRecord) -> bool:
        """Record a new stream; False when it is already recorded or ended recently (tombstone)."""
        return bool(await self._create(keys=[self.streams_key, f"{self.prefix}ended:{record.stream_id}"],
                                       args=[record.stream_id, record.model_dump_json()]))

    async def get(self, stream_id: str) -> StreamRecord | None:
        raw = await _done(self.redis.hget(self.streams_key, stream_id))
        return StreamRecord.model_validate_json(raw) if raw else None

    async def put(self, record: StreamRecord) -> None:
        await _done(self.redis.hset(self.streams_key, record.stream_id, record.model_dump_json()))

    async def update(self, record: StreamRecord, *, when: tuple[StreamState, ...]) -> bool:
        """Replace a recorded stream only while its state is one of `when`; False (nothing written) when it is
        in another state or no longer recorded, so a late writer cannot bring back a finished stream."""
        return bool(await self._update(keys=[self.streams_key],
                                       args=[record.stream_id, record.model_dump_json(), *when]))

    async def ended_recently(self, stream_id: str) -> bool:
        return bool(await self.redis.exists(f"{self.prefix}ended:{stream_id}"))

    async def remove(self, stream_id: str) -> None:
        """The meeting is fully processed: forget it, keeping a tombstone against late re-deliveries."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(f"{self.prefix}ended:{stream_id}", "1", ex=TOMBSTONE_S)
            pipe.hdel(self.streams_key, stream_id)
            await pipe.execute()

    async def stream_ids(self) -> list[str]:
        return [str(s) for s in await _done(self.redis.hkeys(self.streams_key))]

    # replicas -------------------------------------------------------------------------------------------------

    async def heartbeat(self, info: ReplicaInfo, ttl_s: float) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(f"{self.prefix}replica:{info.replica}", info.model_dump_json(), px=max(1, int(ttl_s * 1000)))
            pipe.sadd(f"{self.prefix}replicas", info.replica)
            pipe.hset(self.loads_key, info.replica, str(info.streams))
            await pipe.execute()

    async def place(self, ranked: Sequence[str]) -> str | None:
        """The least-loaded of `ranked` (ties: the earlier), its load raised by one; atomic, so replicas placing
        streams at the same moment do not all pick the same one."""
        if not ranked:
            return None
        chosen = await self._place(keys=[self.loads_key], args=list(ranked))
        return str(chosen) if chosen else None

    async def leave(self, replica: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(f"{self.prefix}replica:{replica}")
            pipe.srem(f"{self.prefix}replicas", replica)
            pipe.hdel(self.loads_key, replica)
            await pipe.execute()

    async def replicas(self) -> list[ReplicaInfo]:
        """Replicas whose heartbeat is current; ones that stopped beating are dropped from the set."""
        names = sorted(str(n) for n in await _done(self.redis.smembers(f"{self.prefix}replicas")))
        if not names:
            return []
        values = await self.redis.mget([f"{self.prefix}replica:{n}" for n in names])
        alive: list[ReplicaInfo] = []
        gone: list[str] = []
        for name, value in zip(names, values, strict=True):
            if value:
                alive.append(ReplicaInfo.model_validate_json(value))
            else:
                gone.append(name)
        if gone:
            await _done(self.redis.srem(f"{self.prefix}replicas", *gone))
        return alive

    # messages and webhook keys --------------------------------------------------------------------------------

    async def send(self, replica: str, envelope: Envelope) -> int:
        """Publish to one replica's inbox; returns how many subscribers got it (0: it is not listening)."""
        return int(await self.redis.publish(self.inbox(replica), envelope.model_dump_json()))

    async def announce_orphan(self, stream_id: str) -> None:
        await self.redis.publish(self.orphans_channel, stream_id)

    async def mark_seen(self, keys: Sequence[str], ttl_s: float) -> bool:
        """Remember webhook delivery keys for every replica; False when one was already remembered."""
        if not keys:
            return True
        full = [f"{self.prefix}seen:{k}" for k in keys]
        return bool(await self._mark_seen(keys=full, args=[max(1, int(ttl_s))]))

    async def forget_seen(self, keys: Sequence[str]) -> None:
        if keys:
            await self.redis.delete(*(f"{self.prefix}seen:{k}" for k in keys))
