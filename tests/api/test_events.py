"""`/api/meetings/{id}/events` over real HTTP: the snapshot, live events from the bus, keep-alives, the end."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from bridge.api import StreamTiming
from bridge.api.sse import comment, event, retry
from bridge.pipeline.bus import LiveEvent
from bridge.store import LineRecord
from tests.api.conftest import (
    PLANNING,
    SALES,
    TOKEN,
    ApiServer,
    api_server,
    now_ms,
    objection,
    seed_planning,
    seed_sales,
    ticket,
    wait_until,
)
from tests.api.sse_client import Frame, SseReader


@contextlib.asynccontextmanager
async def events(api: ApiServer, stream_id: str = SALES) -> AsyncIterator[tuple[httpx.Response, SseReader]]:
    async with api.client(token=None) as client, client.stream(
            "GET", f"/api/meetings/{stream_id}/events", params={"token": TOKEN}) as response:
        assert response.status_code == 200
        yield response, SseReader(response)


async def expect(reader: SseReader, name: str) -> Frame:
    frame = await reader.next_event()
    assert frame is not None, f"stream ended before {name!r}"
    assert frame.event == name, (frame.event, frame.data[:200])
    return frame


def test_wire_format() -> None:
    assert event("line", '{"a":1}') == b'event: line\ndata: {"a":1}\n\n'
    # A payload cannot end the frame or add a field: every line is its own data line.
    assert event("x", "one\n\nevent: evil\r\ntwo") == b"event: x\ndata: one\ndata: \ndata: event: evil\ndata: two\n\n"
    assert event("x", "d", event_id="7") == b"event: x\nid: 7\ndata: d\n\n"
    assert comment("keep-alive") == b": keep-alive\n\n"
    assert retry(3000) == b"retry: 3000\n\n"
    for bad in ("a\nb", "a\rb", "a\0b"):
        with contextlib.suppress(ValueError):
            event(bad, "d")
            raise AssertionError(f"event name {bad!r} accepted")


async def test_snapshot_then_live_events(api: ApiServer) -> None:
    start = await seed_sales(api.store)
    async with events(api) as (response, reader):
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        first = await reader.next()
        assert first is not None and first.retry == 500
        snap = (await expect(reader, "snapshot")).json()
        assert snap["meeting"]["id"] == SALES and snap["meeting"]["figures"]["windows"] == 2
        assert [line["seq"] for line in snap["lines"]] == [1, 2, 3, 4]
        assert snap["summary"]["payload"]["text"].startswith("The buyer finds the price")
        assert sorted(i["key"] for i in snap["insights"]) == ["incumbent-contract", "price-budget"]
        assert snap["tickets"][0]["external"]["url"] == "https://github.com/acme/sales/issues/42"

        # A new line, as the pipeline stores and publishes it.
        line = LineRecord(seq=5, speaker="Sam Buyer", user_id="u-buyer", start_ms=start + 30_000,
                          end_ms=start + 33_000, text="Security review takes a quarter for us.",
                          received_at_ms=now_ms())
        assert await api.store.add_line(SALES, line)
        api.bus.publish(SALES, LiveEvent(type="line", stream_id=SALES, data=line.model_dump()))
        got = (await expect(reader, "line")).json()
        assert got["type"] == "line" and got["stream_id"] == SALES
        assert got["data"] == {"seq": 5, "speaker": "Sam Buyer", "user_id": "u-buyer", "start_ms": start + 30_000,
                               "end_ms": start + 33_000, "text": "Security review takes a quarter for us."}

        [record] = await api.store.save_insights(SALES, "objection_coach", None, "objections", [
            objection("security-review", "timing", line.text, line.start_ms, 0.8, "Start the review in parallel.")])
        api.bus.publish(SALES, LiveEvent(type="insight", stream_id=SALES, data=record.model_dump()))
        got = (await expect(reader, "insight")).json()["data"]
        assert got["key"] == "security-review" and got["payload"]["suggested_reply"] == "Start the review in parallel."
        assert "stream_id" not in got and "window_id" not in got  # the REST shape, not the store's record

        summary = await api.store.save_summary(SALES, "meeting_summary", None, {"text": "Now also security."})
        api.bus.publish(SALES, LiveEvent(type="summary", stream_id=SALES, data=summary.model_dump()))
        assert (await expect(reader, "summary")).json()["data"]["payload"] == {"text": "Now also security."}

        record_t, new = await api.store.upsert_ticket(
            SALES, ticket("security-docs", "Send security docs", line.start_ms,
                          url="https://tickets.example/T-9", status="dry_run"))
        api.bus.publish(SALES, LiveEvent(type="ticket", stream_id=SALES, data=record_t.model_dump() | {"new": new}))
        got = (await expect(reader, "ticket")).json()["data"]
        assert got["title"] == "Send security docs" and got["status"] == "dry_run"
        assert got["external"]["url"] == "https://tickets.example/T-9" and "payload" not in got

        window = {"id": 9, "flow": "objection_coach", "seq": 3, "status": "done", "latency_ms": 950.0}
        api.bus.publish(SALES, LiveEvent(type="window", stream_id=SALES, data=window))
        assert (await expect(reader, "window")).json()["data"] == window  # other types pass through as published

        # Another meeting's events do not reach this stream.
        api.bus.publish("other-stream", LiveEvent(type="line", stream_id="other-stream", data={"seq": 1}))
        api.bus.publish(SALES, LiveEvent(type="meeting", stream_id=SALES, data={"status": "reconnecting"}))
        got = (await expect(reader, "meeting")).json()
        assert got["stream_id"] == SALES and got["data"] == {"status": "reconnecting"}


async def test_keep_alive_comments_while_quiet(api: ApiServer) -> None:
    await seed_sales(api.store)
    async with events(api) as (_, reader):
        await expect(reader, "snapshot")
        loop = asyncio.get_running_loop()
        began = loop.time()
        frame = await reader.next(within_s=3)
        assert frame is not None and frame.comments == ["keep-alive"]
        assert 0.1 < loop.time() - began < 2.0  # heartbeat_s is 0.3 in these tests


async def test_bearer_header_works_too(api: ApiServer) -> None:
    await seed_sales(api.store)
    async with api.client() as client, client.stream("GET", f"/api/meetings/{SALES}/events") as response:
        assert response.status_code == 200
        await expect(SseReader(response), "snapshot")


async def test_ends_after_the_meeting_ends_and_goes_quiet(api: ApiServer) -> None:
    await seed_sales(api.store)
    async with events(api) as (_, reader):
        await expect(reader, "snapshot")
        await api.store.set_meeting_status(SALES, "ended", ended_at_ms=now_ms(), end_cause="meeting ended")
        api.bus.publish(SALES, LiveEvent(type="meeting", stream_id=SALES, data={"status": "ended"}))
        await expect(reader, "meeting")
        # The final flow runs still get through after the end, half-way into ended_idle_s (time is the thing here)...
        await asyncio.sleep(0.5)
        summary = await api.store.save_summary(SALES, "meeting_summary", None, {"text": "Final."})
        api.bus.publish(SALES, LiveEvent(type="summary", stream_id=SALES, data=summary.model_dump()))
        await expect(reader, "summary")
        # ...then quiet for ended_idle_s (1 s here) ends the stream with an `end` event.
        assert (await expect(reader, "end")).json() == {"reason": "ended"}
        assert await reader.next(within_s=2) is None
    await wait_until(lambda: api.bus.subscribers == 0)


async def test_an_ended_meeting_sends_its_snapshot_then_ends(api: ApiServer) -> None:
    await seed_planning(api.store)
    async with events(api, PLANNING) as (_, reader):
        snap = (await expect(reader, "snapshot")).json()
        assert snap["meeting"]["status"] == "ended" and snap["lines"] == [] and snap["summary"] is None
        assert (await expect(reader, "end")).json() == {"reason": "ended"}


async def test_deleted_meeting_ends_the_stream(api: ApiServer) -> None:
    await seed_sales(api.store)
    async with events(api) as (_, reader):
        await expect(reader, "snapshot")
        assert await api.store.delete_stream(SALES) > 0
        api.bus.publish(SALES, LiveEvent(type="meeting", stream_id=SALES, data={"deleted": True}))
        assert (await expect(reader, "meeting")).json()["data"] == {"deleted": True}
        assert (await expect(reader, "end")).json() == {"reason": "deleted"}


async def test_slow_client_gets_a_fresh_snapshot(api: ApiServer) -> None:
    """More events than the subscriber queue holds (64) between two reads: the bus says resync, the stream sends
    the store's state again instead of a hole."""
    await seed_sales(api.store)
    async with events(api) as (_, reader):
        await expect(reader, "snapshot")
        await wait_until(lambda: api.bus.subscribers == 1)
        for i in range(200):  # no await in between: the stream cannot drain its queue meanwhile
            api.bus.publish(SALES, LiveEvent(type="window", stream_id=SALES, data={"id": i}))
        snap = (await expect(reader, "snapshot")).json()
        assert len(snap["lines"]) == 4
        rest = [(await expect(reader, "window")).json()["data"]["id"] for _ in range(64)]
        assert rest == list(range(200 - 64, 200))  # the newest the queue kept


async def test_bus_close_ends_without_end_event(tmp_path: Path) -> None:
    """The bridge stopping is not the meeting ending: no `end`, so the browser reconnects to the next bridge."""
    async with api_server(tmp_path) as server:
        await seed_sales(server.store)
        async with events(server) as (_, reader):
            await expect(reader, "snapshot")
            server.bus.close()
            assert await reader.next_event(within_s=3) is None


async def test_client_going_away_unsubscribes(api: ApiServer) -> None:
    await seed_sales(api.store)
    async with events(api) as (_, reader):
        await expect(reader, "snapshot")
        assert api.bus.subscribers == 1
    await wait_until(lambda: api.bus.subscribers == 0)


async def test_long_streams_are_cut_for_a_reconnect(tmp_path: Path) -> None:
    timing = StreamTiming(heartbeat_s=0.2, ended_idle_s=10, max_stream_s=0.6, retry_ms=100)
    async with api_server(tmp_path, timing=timing) as server:
        await seed_sales(server.store)
        async with events(server) as (_, reader):
            await expect(reader, "snapshot")
            assert await reader.next_event(within_s=3) is None  # closed, without `end`
