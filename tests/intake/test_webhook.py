"""The webhook endpoint through httpx's ASGI transport: signatures, replays, dedupe, size, shape, SSRF."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bridge.app import create_app
from bridge.intake.manager import StreamManager
from bridge.rtms.enums import Product
from bridge.rtms.signatures import url_validation_token
from bridge.rtms.webhooks import stream_event_name, stream_payload
from tests.intake.conftest import WEBHOOK_SECRET, Collector, make_settings, signed
from tests.waiting import until

App = tuple[Any, httpx.AsyncClient]


@contextlib.asynccontextmanager
async def running(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, and a client reaching it in process."""
    async with app.router.lifespan_context(app), \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bridge") as client:
        yield client


def manager_of(app: Any) -> StreamManager:
    manager = app.state.bridge.manager
    assert isinstance(manager, StreamManager)
    return manager


def metric(app: Any, name: str, **labels: str) -> float:
    value = app.state.bridge.metrics.registry.get_sample_value(name, labels or None)
    return 0.0 if value is None else float(value)


@pytest.fixture
async def closed_port() -> AsyncIterator[int]:
    """A loopback port with nothing listening: dialling it fails at once, nothing leaves the machine."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    yield port


def started(stream_id: str, port: int, product: Product = Product.MEETING, **kw: Any) -> tuple[bytes, dict[str, str]]:
    payload = stream_payload(product, f"inst-{stream_id}", stream_id, server_urls=f"ws://127.0.0.1:{port}/s",
                             operator_id="op")
    return signed(stream_event_name(product, "started"), payload, **kw)


async def test_url_validation_is_answered_when_signed(bridge_app: App) -> None:
    _app, client = bridge_app
    body, headers = signed("endpoint.url_validation", {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"})
    response = await client.post("/webhook", content=body, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw",
                               "encryptedToken": url_validation_token(WEBHOOK_SECRET, "qgg8vlvZRS6UYooatFL8Aw")}


async def test_unsigned_validation_is_no_hmac_oracle(bridge_app: App) -> None:
    _app, client = bridge_app
    body = b'{"event":"endpoint.url_validation","payload":{"plainToken":"v0:1:{}"},"event_ts":1}'
    response = await client.post("/webhook", content=body)
    assert response.status_code == 401 and "encryptedToken" not in response.text


@pytest.mark.parametrize("tamper, label", [
    ("wrong_secret", "bad_signature"),
    ("body_changed", "bad_signature"),
    ("stale", "stale"),
    ("future", "stale"),
    ("missing_signature", "unsigned"),
    ("missing_timestamp", "unsigned"),
    ("ms_timestamp", "stale"),
])
async def test_forged_and_stale_webhooks_start_nothing(bridge_app: App, closed_port: int, tamper: str,
                                                       label: str) -> None:
    app, client = bridge_app
    now = int(time.time())
    kw: dict[str, Any] = {}
    if tamper == "wrong_secret":
        kw["secret"] = "guess"
    if tamper == "stale":
        kw["ts"] = now - 301
    if tamper == "future":
        kw["ts"] = now + 310  # truncating now to whole seconds must not bring it back inside the window
    if tamper == "ms_timestamp":
        kw["ts"] = now * 1000
    body, headers = started("s-forged", closed_port, **kw)
    if tamper == "body_changed":
        body = body.replace(b"127.0.0.1", b"127.0.0.9")
    if tamper == "missing_signature":
        del headers["x-zm-signature"]
    if tamper == "missing_timestamp":
        del headers["x-zm-request-timestamp"]
    response = await client.post("/webhook", content=body, headers=headers)
    assert response.status_code == 401
    assert manager_of(app).streams == {}
    assert metric(app, "rtms_webhooks_total", outcome=label) == 1
    print(f"{tamper}: 401, streams started=0")


async def test_a_replayed_request_is_refused(bridge_app: App, closed_port: int) -> None:
    app, client = bridge_app
    body, headers = started("s-replay", closed_port)
    first = await client.post("/webhook", content=body, headers=headers)
    again = await client.post("/webhook", content=body, headers=headers)
    assert (first.status_code, first.json()) == (200, {"status": "started"})
    assert again.status_code == 409
    assert list(manager_of(app).streams) == ["s-replay"]
    assert metric(app, "rtms_webhooks_total", outcome="replayed") == 1


async def test_redelivery_is_deduplicated(bridge_app: App, closed_port: int) -> None:
    app, client = bridge_app
    event_ts = int(time.time() * 1000)
    body, headers = started("s-dup", closed_port, event_ts=event_ts, tracking="trk-1")
    assert (await client.post("/webhook", content=body, headers=headers)).json() == {"status": "started"}
    # Zoom's retry: same body and tracking id, signed again with a later timestamp.
    body, headers = started("s-dup", closed_port, event_ts=event_ts, tracking="trk-1", ts=int(time.time()) + 2)
    response = await client.post("/webhook", content=body, headers=headers)
    assert (response.status_code, response.json()) == (200, {"status": "duplicate"})
    # Same event without a tracking id: (event, stream, event_ts) is enough.
    body, headers = started("s-dup", closed_port, event_ts=event_ts, ts=int(time.time()) + 3)
    headers.pop("x-zm-trackingid")
    assert (await client.post("/webhook", content=body, headers=headers)).json() == {"status": "duplicate"}
    # A new delivery of rtms_started with the same URLs (new event_ts): a duplicate, not a fail-over.
    body, headers = started("s-dup", closed_port)
    assert (await client.post("/webhook", content=body, headers=headers)).json() == {"status": "duplicate_started"}
    assert len(manager_of(app).streams) == 1


async def test_new_urls_for_a_live_stream_are_a_failover(bridge_app: App, closed_port: int) -> None:
    _app, client = bridge_app
    body, headers = started("s-fo", closed_port)
    await client.post("/webhook", content=body, headers=headers)
    payload = stream_payload(Product.MEETING, "inst-s-fo", "s-fo", server_urls=f"ws://127.0.0.1:{closed_port}/other")
    body, headers = signed("meeting.rtms_started", payload)
    assert (await client.post("/webhook", content=body, headers=headers)).json() == {"status": "failover"}


async def test_body_cap(bridge_app: App) -> None:
    app, client = bridge_app
    cap = app.state.bridge.settings.max_body_bytes
    big = b'{"event":"meeting.rtms_started","payload":{"x":"' + b"a" * cap + b'"}}'
    response = await client.post("/webhook", content=big)
    assert response.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no content-length: the cap holds while streaming
        for _ in range(cap // 1000 + 2):
            yield b"x" * 1000

    response = await client.post("/webhook", content=chunks())
    assert response.status_code == 413
    assert metric(app, "rtms_webhooks_total", outcome="too_large") == 2


async def test_malformed_and_unknown(bridge_app: App) -> None:
    _app, client = bridge_app
    body, headers = signed("meeting.rtms_started", {"meeting_uuid": "m"})  # no rtms_stream_id, no server_urls
    response = await client.post("/webhook", content=body, headers=headers)
    assert response.status_code == 400 and "rtms_stream_id" in response.json()["error"]
    bad = b"{not json"
    _, headers = signed("x", {})
    from bridge.rtms.signatures import webhook_signature
    headers["x-zm-signature"] = webhook_signature(WEBHOOK_SECRET, headers["x-zm-request-timestamp"], bad)
    assert (await client.post("/webhook", content=bad, headers=headers)).status_code == 400
    body, headers = signed("meeting.participant_joined", {"object": {}})
    response = await client.post("/webhook", content=body, headers=headers)
    assert (response.status_code, response.json()) == (200, {"status": "ignored"})


@pytest.mark.parametrize("product", list(Product))
async def test_every_event_family(bridge_app: App, closed_port: int, product: Product) -> None:
    app, client = bridge_app
    sid = f"s-{product.value}"
    body, headers = started(sid, closed_port, product)
    assert (await client.post("/webhook", content=body, headers=headers)).json() == {"status": "started"}
    stream = manager_of(app).streams[sid]
    assert stream.spec.product is product and stream.spec.id_key == product.id_key
    body, headers = signed(stream_event_name(product, "interrupted"), stream_payload(product, f"inst-{sid}", sid))
    assert (await client.post("/webhook", content=body, headers=headers)).json() == {"status": "interrupted"}
    body, headers = signed(stream_event_name(product, "stopped"),
                           stream_payload(product, f"inst-{sid}", sid, stop_reason=6))
    assert (await client.post("/webhook", content=body, headers=headers)).json() == {"status": "stopped"}
    ended = await manager_of(app).wait_stream(sid, 10)
    assert ended.ended is not None and ended.ended.cause == "stopped" and ended.ended.reason == 6


async def test_concurrency_and_start_failed_events(bridge_app: App) -> None:
    _app, client = bridge_app
    cases = [
        ("rtms.concurrency_near_limit", {"concurrency_limit": 2000, "concurrency_number": 1601, "percentage": 80},
         "concurrency_near_limit"),
        ("rtms.concurrency_limited", {"operator_id": "op", "concurrency_number": 2000, "meeting_uuid": "m"},
         "concurrency_limited"),
        ("rtms.start_failed", {"meeting_uuid": "m"}, "start_failed"),
    ]
    for event, payload, status in cases:
        body, headers = signed(event, payload)
        assert (await client.post("/webhook", content=body, headers=headers)).json() == {"status": status}


async def test_ssrf_guard_refuses_and_never_dials(collector: Collector) -> None:
    hits = 0

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal hits
        hits += 1
        writer.close()

    server = await asyncio.start_server(count, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    app = create_app(make_settings(allowed_hosts=["*.zoom.us"], allow_insecure_ws=False), collector)
    try:
        async with running(app) as client:
            for sid, url in [("s-ssrf-1", f"wss://127.0.0.1:{port}/"), ("s-ssrf-2", f"ws://127.0.0.1:{port}/"),
                             ("s-ssrf-3", f"wss://attacker.example:{port}/"),
                             ("s-ssrf-4", f"wss://rtms.zoom.us@127.0.0.1:{port}/")]:
                payload = stream_payload(Product.MEETING, "m", sid, server_urls=url)
                body, headers = signed("meeting.rtms_started", payload)
                response = await client.post("/webhook", content=body, headers=headers)
                assert (response.status_code, response.json()) == (200, {"status": "refused_url"})
            # each refusal happens in the handler, before any stream task exists: nothing is left that could dial
            assert manager_of(app).streams == {} and not manager_of(app)._tasks
            metrics = (await client.get("/metrics")).text
        assert manager_of(app).streams == {}
        assert hits == 0
        assert 'rtms_refused_urls_total{reason="host_not_allowed"} 2.0' in metrics
        assert 'rtms_refused_urls_total{reason="insecure_scheme"} 1.0' in metrics
        assert 'rtms_refused_urls_total{reason="credentials"} 1.0' in metrics
        print("refused=4 dialled=0")
    finally:
        server.close()
        await server.wait_closed()


async def test_ack_comes_before_any_network_work(collector: Collector) -> None:
    """A server that accepts TCP and never answers the upgrade: the webhook is answered at once anyway."""
    hold: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hold.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    app = create_app(make_settings(), collector)
    try:
        async with running(app) as client:
            body, headers = started("s-slow", port)
            t0 = time.perf_counter()
            response = await client.post("/webhook", content=body, headers=headers)
            elapsed = time.perf_counter() - t0
            assert response.status_code == 200 and elapsed < 2.0  # Zoom allows 3 s
            await until(lambda: bool(hold), timeout_s=10, what="the stream to dial in the background")
    finally:
        for writer in hold:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_health_ready_metrics(collector: Collector) -> None:
    app = create_app(make_settings(zoom_client_secret=""), collector)
    async with running(app) as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        ready = await client.get("/ready")
        assert ready.status_code == 503 and ready.json()["missing"] == ["ZOOM_CLIENT_SECRET"]
        text = (await client.get("/metrics")).text
        assert "rtms_active_streams 0.0" in text
    ok_app = create_app(make_settings(), collector)
    async with running(ok_app) as client:
        assert (await client.get("/ready")).status_code == 200
    # Two apps in one process keep separate registries.
    assert app.state.bridge.metrics.registry is not ok_app.state.bridge.metrics.registry


async def test_max_streams_and_shutdown(collector: Collector, closed_port: int) -> None:
    app = create_app(make_settings(max_streams=1), collector)
    async with running(app) as client:
        body, headers = started("s-cap-1", closed_port)
        assert (await client.post("/webhook", content=body, headers=headers)).json() == {"status": "started"}
        body, headers = started("s-cap-2", closed_port)
        assert (await client.post("/webhook", content=body, headers=headers)).json() == {"status": "at_capacity"}
        await manager_of(app).shutdown()
        body, headers = started("s-cap-3", closed_port)
        response = await client.post("/webhook", content=body, headers=headers)
        assert response.status_code == 503  # Zoom re-delivers later, to a bridge that is up
        assert (await client.get("/ready")).status_code == 503
    ended = manager_of(app).stream("s-cap-1")
    assert ended is not None and ended.ended is not None and ended.ended.cause == "shutdown"


@pytest.mark.parametrize("product", [Product.MEETING, Product.WEBINAR, Product.SESSION])
async def test_started_webhooks_name_the_meeting(bridge_app: App, product: Product) -> None:
    """`meeting.started` & co. start no stream: they store the topic and host for the API, keyed by instance."""
    from bridge.rtms.webhooks import instance_started_payload

    app, client = bridge_app
    payload = instance_started_payload(product, "inst+/x==", topic="Q3 pipeline review", host_id="HoStId",
                                       numeric_id=81234567890, account_id="acc",
                                       start_time="2026-12-04T16:00:00Z")
    body, headers = signed(f"{product.value}.started", payload)
    response = await client.post("/webhook", content=body, headers=headers)
    assert (response.status_code, response.json()) == (200, {"status": "named"})
    assert not manager_of(app).streams
    store = app.state.bridge.store

    async def stored() -> bool:  # under load the write may outlast the webhook's 1 s wait: it goes on behind
        return "inst+/x==" in await store.meeting_names(["inst+/x=="])

    await until(stored, timeout_s=20, what="the meeting name to be stored")
    name = (await store.meeting_names(["inst+/x=="]))["inst+/x=="]
    assert name.topic == "Q3 pipeline review" and name.product == product.value
    assert name.start_time_ms == 1_796_400_000_000
    assert name.host_id == (None if product is Product.SESSION else "HoStId")
    # Re-delivered with less in it (no topic): what is known stays.
    payload["object"].pop("topic", None)
    payload["object"].pop("session_name", None)
    body, headers = signed(f"{product.value}.started", payload)
    assert (await client.post("/webhook", content=body, headers=headers)).status_code == 200
    assert (await app.state.bridge.store.meeting_names(["inst+/x=="]))["inst+/x=="].topic == "Q3 pipeline review"
    # No object, or no uuid: 400 naming the field.
    body, headers = signed(f"{product.value}.started", {"account_id": "acc", "object": {"topic": "t"}})
    response = await client.post("/webhook", content=body, headers=headers)
    assert response.status_code == 400 and "payload.object." in response.json()["error"]
