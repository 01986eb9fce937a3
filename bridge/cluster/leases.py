"""Stream ownership as Redis leases with fencing tokens.

A lease is one key, `{prefix}lease:{stream_id}` = `{replica}:{token}`, set with `NX` and a TTL. The token comes from
`INCR {prefix}fence:{stream_id}`, so every new holder of a stream has a larger token than all before it; the store
refuses writes under an older one (`Store.claim_stream`). Acquire, renew and release are Lua scripts, each atomic on
the Redis server: a holder renews or releases only while the key still carries its own value, so a replica that was
paused past its TTL cannot extend or delete a lease another replica has taken since.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
return token
"""

_RENEW = """
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i + 1] then
    redis.call('PEXPIRE', key, ARGV[1])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

FENCE_MEMORY_MS = 7 * 24 * 3600 * 1000  # a stream's token counter outlives any meeting


@dataclass(frozen=True)
class Lease:
    stream_id: str
    replica: str
    token: int

    @property
    def value(self) -> str:
        return f"{self.replica}:{self.token}"


def parse_holder(value: str | None) -> tuple[str, int] | None:
    """(replica, token) of a lease value, None when there is no lease."""
    if not value:
        return None
    replica, _, token = value.rpartition(":")
    return (replica, int(token)) if replica and token.isascii() and token.isdigit() else None


class Leases:
    def __init__(self, redis: Redis, *, prefix: str, replica: str, ttl_s: float) -> None:
        self.redis = redis
        self.prefix = prefix
        self.replica = replica
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    def key(self, stream_id: str) -> str:
        return f"{self.prefix}lease:{stream_id}"

    async def acquire(self, stream_id: str) -> Lease | None:
        """The lease with a new token, or None while anyone (this replica included) holds it."""
        token = int(await self._acquire(keys=[self.key(stream_id), f"{self.prefix}fence:{stream_id}"],
                                        args=[self.replica, self.ttl_ms, FENCE_MEMORY_MS]))
        return Lease(stream_id, self.replica, token) if token else None

    async def renew(self, leases: Sequence[Lease]) -> list[bool]:
        """Extend each lease by the TTL; False for each one this replica no longer holds."""
        if not leases:
            return []
        result = await self._renew(keys=[self.key(lease.stream_id) for lease in leases],
                                   args=[self.ttl_ms, *(lease.value for lease in leases)])
        return [bool(flag) for flag in result]

    async def release(self, lease: Lease) -> bool:
        """Give the lease up at once (so another replica need not wait out the TTL); False if not held."""
        return bool(await self._release(keys=[self.key(lease.stream_id)], args=[lease.value]))

    async def holders(self, stream_ids: Sequence[str]) -> dict[str, tuple[str, int] | None]:
        """Who holds each stream now (None: nobody, the lease expired or was released)."""
        if not stream_ids:
            return {}
        values = await self.redis.mget([self.key(s) for s in stream_ids])
        return {s: parse_holder(v) for s, v in zip(stream_ids, values, strict=True)}
