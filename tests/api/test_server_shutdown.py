"""Stopping the bridge while a dashboard holds a live event stream: the stream ends at once and the app's own
shutdown runs, instead of uvicorn waiting out its whole grace period and then cancelling the stream."""

from __future__ import annotations

import asyncio
import socket

import httpx
import uvicorn
from pydantic import SecretStr

from bridge.app import create_app
from bridge.server import BridgeServer
from tests.api.sse_client import SseReader
from tests.intake.conftest import make_settings
from tests.waiting import until

GRACE_S = 60


async def test_open_event_stream_does_not_hold_up_shutdown() -> None:
    app = create_app(make_settings(api_token=SecretStr("tok")))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = BridgeServer(uvicorn.Config(app, log_config=None, lifespan="on", access_log=False,
                                         timeout_graceful_shutdown=GRACE_S))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await until(lambda: server.started, timeout_s=30, what="the bridge to start")
    store = app.state.bridge.store
    await store.upsert_meeting("s1", instance_id="m1", product="meeting")
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        url = "/api/meetings/s1/events"
        async with client.stream("GET", url, headers={"authorization": "Bearer tok"}) as response:
            assert response.status_code == 200
            reader = SseReader(response)
            first = await reader.next_event()
            assert first is not None and first.event == "snapshot"
            server.should_exit = True
            started = loop.time()
            async with asyncio.timeout(GRACE_S / 2):  # far below the grace period uvicorn would otherwise wait out
                for _ in range(1000):
                    if await reader.next(GRACE_S / 2) is None:
                        break
                await task
    assert loop.time() - started < GRACE_S / 2
    assert app.state.bridge.bus.closed
