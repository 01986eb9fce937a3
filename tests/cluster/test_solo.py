"""A bridge without Redis is a cluster of one: it stores each stream's join spec, takes up at start what its store
says is live, and answers webhooks for streams it does not hold from the store. In process (the app's lifespan,
httpx's ASGI transport), a real SQLite file, signed webhooks; the stream's server is a loopback port with nothing
listening (dialling fails at once, nothing leaves the machine)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.app import create_app
from bridge.rtms.enums import Product, StopReason
from bridge.rtms.webhooks import stream_event_name, stream_payload
from bridge.simulator import MeetingSpec
from bridge.simulator.transcripts import load_transcript
from bridge.store import Store
from tests.intake.conftest import Collector, make_settings, signed
from tests.intake.live import bridge_and_simulator
from tests.waiting import until

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def closed_port() -> int:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()
    return port


@contextlib.asynccontextmanager
async def running(db: Path, **settings: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient, Store]]:
    app = create_app(make_settings(database_url=f"sqlite+aiosqlite:///{db}", api_token="t0ken", **settings),
                     Collector())
    async with app.router.lifespan_context(app), \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bridge") as client:
        yield app, client, app.state.bridge.store


def webhook(kind: str, stream_id: str, **fields: Any) -> tuple[bytes, dict[str, str]]:
    payload = stream_payload(Product.MEETING, f"inst-{stream_id}", stream_id, **fields)
    return signed(stream_event_name(Product.MEETING, kind), payload)


async def post(client: httpx.AsyncClient, kind: str, stream_id: str, **fields: Any) -> str:
    body, headers = webhook(kind, stream_id, **fields)
    response = await client.post("/webhook", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


async def eventually(check: Callable[[], Awaitable[bool]], limit_s: float = 20.0) -> None:
    await until(check, timeout_s=limit_s, what="the condition")


async def ended_with(store: Store, stream_id: str, cause: str) -> bool:
    meeting = await store.get_meeting(stream_id)
    return meeting is not None and meeting.status == "ended" and meeting.end_cause == cause


async def test_a_meeting_that_cannot_be_resumed_is_ended_at_start_never_left_live(tmp_path: Path) -> None:
    db = tmp_path / "bridge.db"
    store = await Store.open(f"sqlite+aiosqlite:///{db}")
    try:
        await store.upsert_meeting("no-spec", instance_id="i1", product="meeting")  # stored before revision 0003
        await store.save_join_spec("refused", instance_id="i2", product="meeting",
                                   server_urls=["ws://203.0.113.9/s"])  # a host no longer allowed
        await store.save_join_spec("over", instance_id="i3", product="meeting", server_urls=["ws://127.0.0.1:1/s"])
        await store.set_meeting_status("over", "ended", end_cause="stopped")
    finally:
        await store.close()
    async with running(db) as (app, client, store):
        assert await ended_with(store, "no-spec", "unresumable")
        assert await ended_with(store, "refused", "unresumable")
        assert await ended_with(store, "over", "stopped")
        assert app.state.bridge.manager.streams == {}
        # The store knows these streams: no webhook about them is answered `unknown_stream`.
        assert await post(client, "interrupted", "over") == "ended_stream"
        assert await post(client, "stopped", "over", stop_reason=int(StopReason.MEETING_ENDED)) == "already_ended"
        assert await post(client, "started", "over", server_urls="ws://127.0.0.1:1/s") == "ended_stream"
        assert await post(client, "interrupted", "never-seen") == "unknown_stream"


async def test_join_spec_is_stored_and_a_stream_zoom_forgot_ends_gave_up(tmp_path: Path, closed_port: int) -> None:
    url = f"ws://127.0.0.1:{closed_port}/s"
    async with running(tmp_path / "bridge.db", signaling_reconnect_window_s=1.0) as (_, client, store):
        assert await post(client, "started", "s1", server_urls=url) == "started"
        spec = await store.join_spec("s1")
        assert spec is not None and spec.server_urls == (url,) and spec.status == "live"
        # Nothing answers at that URL: once the reconnect window has passed the meeting ends with the cause.
        await eventually(lambda: ended_with(store, "s1", "gave_up"))


async def test_webhooks_for_streams_not_held_are_resolved_from_the_store(tmp_path: Path, closed_port: int) -> None:
    url = f"ws://127.0.0.1:{closed_port}/s"
    async with running(tmp_path / "bridge.db", signaling_reconnect_window_s=1.0) as (app, client, store):
        manager = app.state.bridge.manager
        # Live in the store, held by no socket here (written after this process took up its store at start).
        for stream_id in ("stopped-1", "interrupted-1"):
            await store.save_join_spec(stream_id, instance_id=f"inst-{stream_id}", product="meeting",
                                       server_urls=[url])
        assert await post(client, "stopped", "stopped-1", stop_reason=int(StopReason.MEETING_ENDED)) \
            == "stopped_unheld"
        await eventually(lambda: ended_with(store, "stopped-1", "stopped"))
        assert "stopped-1" not in manager.streams

        assert await post(client, "interrupted", "interrupted-1") == "interrupted_resumed"

        async def dialled() -> bool:
            return manager.stream("interrupted-1") is not None

        await eventually(dialled)
        # Resumed as a stream Zoom knows (refusals retried in the window); nobody answers: ended, not left live.
        await eventually(lambda: ended_with(store, "interrupted-1", "gave_up"))


async def test_closing_a_stream_at_zoom_is_an_explicit_operator_call(tmp_path: Path, closed_port: int) -> None:
    async with running(tmp_path / "bridge.db") as (_, client, store):
        response = await client.post("/api/streams/nope/close", headers={"authorization": "Bearer t0ken"})
        assert response.status_code == 404
        response = await client.post("/api/streams/nope/close")
        assert response.status_code == 401
        assert await post(client, "started", "s2", server_urls=f"ws://127.0.0.1:{closed_port}/s") == "started"
        response = await client.post("/api/streams/s2/close", headers={"authorization": "Bearer t0ken"})
        assert response.status_code == 202 and response.json()["status"] == "closing"
        await eventually(lambda: ended_with(store, "s2", "closed"))


async def test_close_at_zoom_sends_the_close_request_and_zoom_ends_the_stream() -> None:
    transcript = load_transcript("sales").sliced(5 * 60_000)
    collector = Collector()
    async with bridge_and_simulator(make_settings(api_token="t0ken"), collector, speed=20.0) as (live, sim):
        handle = await sim.start_meeting(MeetingSpec(transcript=transcript))

        async def some_lines() -> bool:
            return len(collector.of(handle.rtms_stream_id, "utterance")) >= 3

        await eventually(some_lines)
        async with httpx.AsyncClient(base_url=live.url) as client:
            response = await client.post(f"/api/streams/{handle.rtms_stream_id}/close",
                                         headers={"authorization": "Bearer t0ken"})
        assert response.status_code == 202
        report = await handle.wait(timeout=30)
        stream = await live.manager.wait_stream(handle.rtms_stream_id, 10)
    assert report.stop_reason == StopReason.RECEIVER_REQUEST_CLOSE
    assert report.lines_sent < report.lines_total  # ended by the request, not by the meeting's end
    assert stream.ended is not None and stream.ended.cause == "closed"
