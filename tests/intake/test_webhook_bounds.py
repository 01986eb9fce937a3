"""Numbers and slowness an unauthenticated sender controls never reach a 500: a 5,000-digit timestamp header, a
signed body with a 5,000-digit or 25-digit number, a body dribbled byte by byte (over a real socket)."""

from __future__ import annotations

import asyncio
import time

import pytest

from bridge.rtms.signatures import webhook_signature
from tests.intake.conftest import WEBHOOK_SECRET, Collector, make_settings
from tests.intake.live import serve_bridge
from tests.intake.test_webhook import App, metric


def _signed_raw(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {"content-type": "application/json", "x-zm-request-timestamp": stamp,
            "x-zm-signature": webhook_signature(WEBHOOK_SECRET, stamp, body)}


@pytest.mark.parametrize("stamp", ["9" * 5000, "1" * 16, "0" * 4999 + "1" + "0" * 10])
async def test_a_huge_timestamp_header_is_a_401_naming_it(bridge_app: App, stamp: str) -> None:
    app, client = bridge_app
    body = b'{"event":"endpoint.url_validation","payload":{"plainToken":"abc"}}'
    headers = {"x-zm-request-timestamp": stamp, "x-zm-signature": "v0=" + "0" * 64}
    response = await client.post("/webhook", content=body, headers=headers)
    assert response.status_code == 401
    assert "x-zm-request-timestamp" in response.json()["error"]
    assert metric(app, "rtms_webhooks_total", outcome="stale") == 1


@pytest.mark.parametrize(("body", "field"), [
    (b'{"event":"meeting.rtms_started","event_ts":' + b"9" * 5000 + b',"payload":{}}', "event_ts"),
    (b'{"event":"meeting.rtms_stopped","payload":{"meeting_uuid":"m","rtms_stream_id":"s","stop_reason":'
     + b"1" * 25 + b"}}", "payload.stop_reason"),
    (b'{"event":"meeting.rtms_started","payload":{"list":[1,2,-' + b"7" * 5000 + b"]}}", "payload.list[2]"),
    (b'{"event":"rtms.concurrency_near_limit","payload":{"concurrency_number":' + b"8" * 30 + b"}}",
     "payload.concurrency_number"),
])
async def test_a_signed_body_with_a_huge_number_is_a_400_naming_the_field(bridge_app: App, body: bytes,
                                                                          field: str) -> None:
    _app, client = bridge_app
    response = await client.post("/webhook", content=body, headers=_signed_raw(body))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert field in error and "out of range" in error


async def test_largest_int64_numbers_are_still_accepted(bridge_app: App) -> None:
    _app, client = bridge_app
    body = (b'{"event":"rtms.concurrency_near_limit","event_ts":9223372036854775807,'
            b'"payload":{"concurrency_number":-9223372036854775808}}')
    response = await client.post("/webhook", content=body, headers=_signed_raw(body))
    assert response.status_code == 200, response.text


async def test_a_dribbled_body_gets_408_and_the_connection_closed(collector: Collector) -> None:
    settings = make_settings(body_timeout_s=0.5)
    async with serve_bridge(settings, collector) as live:
        port = int(live.url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"POST /webhook HTTP/1.1\r\nhost: bridge\r\ncontent-type: application/json\r\n"
                         b"content-length: 1000\r\n\r\n{\"event\":")
            await writer.drain()
            started = time.monotonic()
            async with asyncio.timeout(10):
                head = await reader.readuntil(b"\r\n\r\n")
                rest = await reader.read()  # the server closes: EOF after the body
            elapsed = time.monotonic() - started
        finally:
            writer.close()
        assert head.startswith(b"HTTP/1.1 408"), head
        assert b"connection: close" in head.lower()
        assert b"body not received within 0.5 s" in rest
        assert elapsed >= 0.4, elapsed  # not before the timeout; the read above is bounded at 10 s
        assert live.metric("rtms_webhooks_total", outcome="body_timeout") == 1
        # The server is still healthy.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /health HTTP/1.1\r\nhost: bridge\r\nconnection: close\r\n\r\n")
        async with asyncio.timeout(5):
            assert (await reader.read()).startswith(b"HTTP/1.1 200")
        writer.close()
