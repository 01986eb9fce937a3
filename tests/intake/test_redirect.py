"""A server that answers the WebSocket upgrade with a redirect does not lead the bridge anywhere the guard did not
check: the redirect is refused, counted, and the target is never dialled."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from bridge.intake.manager import StreamManager
from bridge.intake.metrics import IntakeMetrics
from bridge.rtms.enums import Product
from bridge.rtms.webhooks import encode_webhook, parse_webhook, stream_payload
from tests.intake.conftest import Collector, make_settings


async def test_redirects_are_refused() -> None:
    hits = 0

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal hits
        hits += 1
        writer.close()

    target = await asyncio.start_server(count, "127.0.0.1", 0)
    target_port = target.sockets[0].getsockname()[1]

    def redirect(connection: ServerConnection, request: Request) -> Response:
        response = connection.respond(302, "moved\n")
        response.headers["Location"] = f"ws://127.0.0.1:{target_port}/elsewhere"
        return response

    async def never(ws: Any) -> None:
        raise AssertionError("the upgrade is always redirected")

    async with serve(never, "127.0.0.1", 0, process_request=redirect) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        metrics = IntakeMetrics()
        manager = StreamManager(make_settings(), Collector(), metrics)
        payload = stream_payload(Product.MEETING, "m", "s-redirect", server_urls=f"ws://127.0.0.1:{port}/")
        event = parse_webhook(encode_webhook("meeting.rtms_started", payload, int(time.time() * 1000)))
        assert manager.handle(event) == "started"
        stream = await manager.wait_stream("s-redirect", 10)
        await manager.shutdown()
    target.close()
    await target.wait_closed()
    assert stream.ended is not None and stream.ended.cause == "refused"
    assert metrics.registry.get_sample_value("rtms_refused_urls_total", {"reason": "redirect"}) == 1
    assert hits == 0
