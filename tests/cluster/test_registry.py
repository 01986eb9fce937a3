"""The registry on a real Redis: stream records with tombstones, replica heartbeats, webhook delivery keys and
per-replica inboxes."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from bridge.cluster.registry import TOMBSTONE_S, Envelope, Registry, ReplicaInfo, StreamRecord
from bridge.rtms.enums import Product
from tests.waiting import until


def record(stream_id: str = "s1", **kwargs: object) -> StreamRecord:
    kwargs.setdefault("product", Product.MEETING)
    kwargs.setdefault("instance_id", f"inst-{stream_id}")
    kwargs.setdefault("server_urls", ("wss://rtms.example/1", "wss://rtms.example/2"))
    return StreamRecord(stream_id=stream_id, **kwargs)  # type: ignore[arg-type]


async def test_create_twice(registry: Registry) -> None:
    first = record()
    assert await registry.create(first) is True
    assert await registry.create(record(instance_id="another")) is False
    assert await registry.get("s1") == first  # the second create changed nothing
    assert await registry.stream_ids() == ["s1"]


async def test_remove_leaves_a_tombstone(registry: Registry, redis: Redis) -> None:
    assert await registry.create(record()) is True
    assert await registry.ended_recently("s1") is False
    await registry.remove("s1")
    assert await registry.get("s1") is None
    assert await registry.stream_ids() == []
    assert await registry.ended_recently("s1") is True
    assert TOMBSTONE_S - 10 < await redis.ttl(f"{registry.prefix}ended:s1") <= TOMBSTONE_S
    assert await registry.create(record()) is False  # a late re-delivered rtms_started
    assert await registry.get("s1") is None
    assert await registry.ended_recently("s2") is False
    await registry.remove("never-recorded")  # no error; a tombstone all the same
    assert await registry.ended_recently("never-recorded") is True


async def test_put_get_round_trip(registry: Registry) -> None:
    assert await registry.get("s1") is None
    live = record(product=Product.WEBINAR, id_key="webinar_uuid", updated_ms=1_700_000_000_000)
    await registry.put(live)
    got = await registry.get("s1")
    assert got == live
    assert got is not None and got.product is Product.WEBINAR and got.server_urls == live.server_urls
    stopping = live.model_copy(update={"state": "stopping", "stop_reason": 6, "updated_ms": 1_700_000_000_500})
    await registry.put(stopping)  # put overwrites, unlike create
    assert await registry.get("s1") == stopping
    await registry.put(record("s2", state="ended"))
    assert sorted(await registry.stream_ids()) == ["s1", "s2"]


def test_stream_record_validation() -> None:
    with pytest.raises(ValidationError):
        record("")
    with pytest.raises(ValidationError):
        record(state="paused")
    with pytest.raises(ValidationError):
        Envelope(type="claim", stream_id="s1", hops=-1)


async def test_heartbeat_then_expiry(registry: Registry, redis: Redis) -> None:
    a = ReplicaInfo(replica="replica-a", streams=3)
    b = ReplicaInfo(replica="replica-b", draining=True)
    await registry.heartbeat(a, ttl_s=0.2)
    await registry.heartbeat(b, ttl_s=5.0)
    assert await registry.replicas() == [a, b]
    await redis.pexpire(f"{registry.prefix}replica:replica-a", 1)  # replica-a stops beating: its TTL runs out
    await until(lambda: _gone(redis, f"{registry.prefix}replica:replica-a"), what="replica-a's heartbeat to expire")
    assert await registry.replicas() == [b]
    assert await redis.smembers(f"{registry.prefix}replicas") == {"replica-b"}  # the dead one left the set
    await registry.heartbeat(a, ttl_s=5.0)  # it came back
    assert [r.replica for r in await registry.replicas()] == ["replica-a", "replica-b"]
    await registry.leave("replica-a")
    assert await registry.replicas() == [b]
    assert await redis.smembers(f"{registry.prefix}replicas") == {"replica-b"}


async def test_no_replicas(registry: Registry) -> None:
    assert await registry.replicas() == []


async def test_mark_seen_and_forget_seen(registry: Registry) -> None:
    assert await registry.mark_seen([], 60) is True
    assert await registry.mark_seen(["a", "b"], 60) is True
    assert await registry.mark_seen(["b", "c"], 60) is False  # "b" was seen
    assert await registry.mark_seen(["c"], 60) is True  # the refused call above remembered nothing
    assert await registry.mark_seen(["a"], 60) is False
    await registry.forget_seen(["a", "b"])
    await registry.forget_seen([])
    assert await registry.mark_seen(["a", "b"], 60) is True
    assert await registry.mark_seen(["c"], 60) is False


async def test_mark_seen_keys_expire(registry: Registry, redis: Redis) -> None:
    assert await registry.mark_seen(["k"], 0.2) is True  # rounded up to Redis's smallest EX, one second
    assert 0 < await redis.ttl(f"{registry.prefix}seen:k") <= 1
    assert await registry.mark_seen(["j"], 90) is True
    assert 80 < await redis.ttl(f"{registry.prefix}seen:j") <= 90


async def test_send_reaches_a_subscribed_inbox(registry: Registry, redis: Redis) -> None:
    envelope = Envelope(type="webhook", stream_id="s1", body='{"event":"meeting.rtms_stopped"}', hops=1)
    pubsub = redis.pubsub()
    try:
        await pubsub.subscribe(registry.inbox("replica-a"))
        confirmed = await asyncio.wait_for(pubsub.get_message(timeout=1.0), 2)
        assert confirmed is not None and confirmed["type"] == "subscribe"
        assert await registry.send("replica-a", envelope) == 1
        assert await registry.send("replica-b", envelope) == 0  # nobody listens there
        message = await asyncio.wait_for(pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0), 2)
        assert message is not None and message["channel"] == registry.inbox("replica-a")
        assert Envelope.model_validate_json(message["data"]) == envelope
        await pubsub.unsubscribe(registry.inbox("replica-a"))
        left = await asyncio.wait_for(pubsub.get_message(timeout=1.0), 2)
        assert left is not None and left["type"] == "unsubscribe"
        assert await registry.send("replica-a", envelope) == 0
    finally:
        await pubsub.aclose()


async def test_send_without_subscriber(registry: Registry) -> None:
    assert await registry.send("replica-a", Envelope(type="claim", stream_id="s1")) == 0


async def test_place_spreads_a_burst_evenly(registry: Registry) -> None:
    # Nine streams starting at once, placed by replicas whose heartbeats still say 0: the counter spreads them.
    from collections import Counter

    from bridge.cluster.placement import rank

    chosen = await asyncio.gather(*(registry.place(rank(f"s{i}", ["r1", "r2", "r3"])) for i in range(9)))
    assert Counter(chosen) == {"r1": 3, "r2": 3, "r3": 3}
    assert await registry.place([]) is None


async def test_heartbeat_sets_the_true_load(registry: Registry) -> None:
    for _ in range(4):
        await registry.place(["r1", "r2"])
    await registry.heartbeat(ReplicaInfo(replica="r1", streams=0), ttl_s=5)
    await registry.heartbeat(ReplicaInfo(replica="r2", streams=7), ttl_s=5)
    assert await registry.place(["r2", "r1"]) == "r1"  # r1 really holds none, whatever was placed before
    await registry.leave("r2")
    assert await registry.place(["r2"]) == "r2"  # a load forgotten with its replica starts again from 0


async def test_update_only_from_the_given_states(registry: Registry) -> None:
    live = record()
    assert await registry.create(live)
    stopping = live.model_copy(update={"state": "stopping", "stop_reason": 1})
    assert await registry.update(stopping, when=("live",)) is True
    assert await registry.update(live.model_copy(update={"state": "ended"}), when=("live",)) is False
    assert await registry.get("s1") == stopping
    await registry.remove("s1")
    # A writer that read the record before it was removed cannot bring it back.
    assert await registry.update(stopping, when=("live", "stopping")) is False
    assert await registry.get("s1") is None


async def _gone(redis: Redis, key: str) -> bool:
    return not await redis.exists(key)
