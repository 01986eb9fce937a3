"""The live event bus: per-meeting and all-meetings subscribers, bounded queues with a resync marker, close."""

from __future__ import annotations

import asyncio

from bridge.pipeline.bus import EventBus, LiveEvent
from tests.waiting import until


def event(stream_id: str, n: int) -> LiveEvent:
    return LiveEvent(type="line", stream_id=stream_id, data={"seq": n}, at_ms=n)


async def test_subscribers_get_their_meetings_events_in_order() -> None:
    bus = EventBus(queue_size=8)
    async with bus.subscribe("a") as only_a, bus.subscribe(None) as everything:
        for n in range(3):
            bus.publish("a", event("a", n))
            bus.publish("b", event("b", n))
        assert [(await only_a.get(1)).data["seq"] for _ in range(3)] == [0, 1, 2]  # type: ignore[union-attr]
        assert await only_a.get(0.05) is None
        got = [await everything.get(1) for _ in range(6)]
        assert [(e.stream_id, e.data["seq"]) for e in got if e] == [
            ("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert bus.subscribers == 0


async def test_a_slow_subscriber_loses_the_oldest_and_gets_one_resync() -> None:
    bus = EventBus(queue_size=4)
    async with bus.subscribe("a") as sub:
        for n in range(10):
            bus.publish("a", event("a", n))
        assert len(sub) == 5 and sub.dropped == 6 and bus.depth() == 5
        first = await sub.get(1)
        assert first is not None and first.type == "resync" and first.data == {"dropped": 6}
        rest = [await sub.get(1) for _ in range(4)]
        assert [e.data["seq"] for e in rest if e] == [6, 7, 8, 9]


async def test_close_ends_iteration() -> None:
    bus = EventBus()
    seen: list[LiveEvent] = []

    async def reader() -> None:
        async with bus.subscribe("a") as sub:
            async for ev in sub:
                seen.append(ev)

    task = asyncio.create_task(reader())
    await until(lambda: bus.subscribers > 0, what="the reader to subscribe")
    bus.publish("a", event("a", 1))
    bus.close()
    async with asyncio.timeout(2):
        await task
    assert [e.data["seq"] for e in seen] == [1]
    async with bus.subscribe("a") as late:
        assert await late.get(0.05) is None
