from __future__ import annotations

import asyncio

from bridge.intake.dispatch import EventDispatcher
from bridge.intake.events import MeetingEvent, SpeakerChanged
from bridge.intake.metrics import IntakeMetrics
from bridge.rtms.enums import Product
from tests.waiting import until


def speaker(n: int) -> SpeakerChanged:
    return SpeakerChanged(stream_id="s", instance_id="m", product=Product.MEETING, user_id=str(n), speaker="x",
                          timestamp_ms=n)


class Flaky:
    """Fails every third event; holds the first until the producer had to wait for room (the queue was full)."""

    def __init__(self, metrics: IntakeMetrics) -> None:
        self.seen: list[str] = []
        self.metrics: IntakeMetrics | None = metrics

    async def handle(self, event: MeetingEvent) -> None:
        assert isinstance(event, SpeakerChanged)
        if self.metrics is not None:
            metrics, self.metrics = self.metrics, None
            await until(lambda: (metrics.registry.get_sample_value("rtms_consumer_queue_full_total") or 0) > 0,
                        timeout_s=10, what="the producer to wait for room")
        if int(event.user_id) % 3 == 0:
            raise RuntimeError("consumer bug")
        self.seen.append(event.user_id)


async def test_in_order_and_an_event_that_keeps_failing_is_given_up_logged_and_counted() -> None:
    metrics = IntakeMetrics()
    consumer = Flaky(metrics)
    dispatcher = EventDispatcher("s", consumer, metrics, maxsize=2, retry_limit_s=0.2)
    for n in range(1, 11):
        await dispatcher.put(speaker(n))  # waits while the queue is full: nothing dropped
    await dispatcher.close()
    assert await dispatcher.wait(10)
    assert consumer.seen == [str(n) for n in range(1, 11) if n % 3]
    assert (metrics.registry.get_sample_value("rtms_consumer_errors_total") or 0) > 3  # each one retried
    assert metrics.registry.get_sample_value("rtms_consumer_events_lost_total", {"type": "speaker_changed"}) == 3
    assert metrics.registry.get_sample_value("rtms_events_total", {"type": "speaker_changed"}) == 10
    assert (metrics.registry.get_sample_value("rtms_consumer_queue_full_total") or 0) > 0


async def test_a_failure_that_passes_is_retried_in_order_nothing_lost() -> None:
    seen: list[str] = []
    failures = {"2": 3}  # the store is out for the first three tries of event 2

    class Outage:
        async def handle(self, event: MeetingEvent) -> None:
            assert isinstance(event, SpeakerChanged)
            if failures.get(event.user_id, 0) > 0:
                failures[event.user_id] -= 1
                raise OSError("database is locked")
            seen.append(event.user_id)

    metrics = IntakeMetrics()
    dispatcher = EventDispatcher("s", Outage(), metrics, maxsize=10, retry_limit_s=10)
    for n in range(1, 5):
        await dispatcher.put(speaker(n))
    await dispatcher.close()
    assert await dispatcher.wait(10)
    assert seen == ["1", "2", "3", "4"]
    assert metrics.registry.get_sample_value("rtms_consumer_errors_total") == 3
    assert metrics.registry.get_sample_value("rtms_consumer_events_lost_total", {"type": "speaker_changed"}) is None


async def test_purge_drops_undelivered_events() -> None:
    gate = asyncio.Event()
    holding = asyncio.Event()
    seen: list[MeetingEvent] = []

    class Blocked:
        async def handle(self, event: MeetingEvent) -> None:
            holding.set()
            await gate.wait()
            seen.append(event)

    dispatcher = EventDispatcher("s", Blocked(), IntakeMetrics(), maxsize=10)
    for n in range(5):
        await dispatcher.put(speaker(n))
    await holding.wait()  # the worker holds event 0
    assert dispatcher.purge() == 4
    await dispatcher.put(speaker(99))
    await dispatcher.close()
    gate.set()
    assert await dispatcher.wait(5)
    assert [e.user_id for e in seen if isinstance(e, SpeakerChanged)] == ["0", "99"]


async def test_wait_gives_up_on_a_stuck_consumer() -> None:
    class Stuck:
        async def handle(self, event: MeetingEvent) -> None:
            await asyncio.Event().wait()

    dispatcher = EventDispatcher("s", Stuck(), IntakeMetrics(), maxsize=10)
    await dispatcher.put(speaker(1))
    await dispatcher.close()
    assert await dispatcher.wait(0.05) is False
    assert dispatcher.done
