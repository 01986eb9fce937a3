"""Live events relayed between replicas over a real Redis: an event published on one replica's bus reaches the
subscribers of another's, once, and never comes back to its own."""

from __future__ import annotations

from redis.asyncio import Redis

from bridge.cluster.live import LiveRelay
from bridge.pipeline.bus import EventBus, LiveEvent
from tests.waiting import until


async def test_events_cross_replicas_once(redis: Redis, prefix: str) -> None:
    buses = [EventBus(), EventBus()]
    relays = [LiveRelay(redis, bus, prefix=prefix, replica=name) for bus, name in zip(buses, ("a", "b"), strict=True)]
    for relay in relays:
        await relay.start()
    try:
        async with buses[0].subscribe("s1") as mine, buses[1].subscribe("s1") as theirs, \
                buses[1].subscribe("s2") as other:
            await until(lambda: _subscribers(redis, relays[0].channel, 2), what="both relays to subscribe")
            buses[0].publish("s1", LiveEvent(type="line", stream_id="s1", data={"seq": 1}))
            got = await theirs.get(5.0)
            assert got is not None and got.type == "line" and got.data == {"seq": 1}
            first = await mine.get(1.0)
            assert first is not None and first.data == {"seq": 1}
            assert await mine.get(0.5) is None  # not echoed back to the replica that published it
            assert await theirs.get(0.3) is None  # once
            assert await other.get(0.1) is None  # only that meeting's subscribers
    finally:
        for relay in relays:
            await relay.close()


async def _subscribers(redis: Redis, channel: str, count: int) -> bool:
    [(_, subscribed)] = await redis.pubsub_numsub(channel)
    return int(subscribed) >= count
