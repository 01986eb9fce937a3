"""Webhooks as Zoom sends them, checked by a real HTTP endpoint: signing (verified with the core's own check),
headers, compact bodies, the URL-validation challenge and its refusal, the 3 s limit and the retry schedule."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from bridge.rtms.signatures import url_validation_response, verify_webhook_signature
from bridge.simulator import MeetingSpec, Simulator, UrlValidationFailed
from bridge.simulator.webhook_sender import USER_AGENT, WebhookSender
from tests.simulator.conftest import CLIENT_ID, WEBHOOK_SECRET, fast_config, make_transcript
from tests.simulator.webhook_receiver import Request, Response, WebhookReceiver
from tests.waiting import until


def sender(client: httpx.AsyncClient, url: str, **options: object) -> WebhookSender:
    values: dict[str, object] = {
        "url": url,
        "secret_token": WEBHOOK_SECRET,
        "client_id": CLIENT_ID,
        "timeout_s": 0.5,
        "retry_schedule_s": (0.05, 0.1, 0.2),
    }
    values.update(options)
    return WebhookSender(client, **values)  # type: ignore[arg-type]


async def answer_validation(request: Request) -> Response:
    if request.event == "endpoint.url_validation":
        token = request.json["payload"]["plainToken"]
        return Response(200, json.dumps(url_validation_response(WEBHOOK_SECRET, token)).encode())
    return Response(200)


async def test_signed_like_zoom() -> None:
    async with WebhookReceiver(answer_validation) as receiver, Simulator(fast_config(receiver.url)) as sim:
        handle = await sim.start_meeting(MeetingSpec(transcript=make_transcript(1)))
        await until(lambda: any(r.event == "meeting.rtms_started" for r in receiver.requests),
                    what="the start webhook to arrive")
        handle.stop(2)
        await handle.wait(timeout=5)
    assert [r.event for r in receiver.requests] == [
        "endpoint.url_validation",
        "meeting.rtms_started",
        "meeting.rtms_stopped",
    ]
    for request in receiver.requests:
        h = request.headers
        timestamp = h["x-zm-request-timestamp"]
        assert timestamp.isdigit() and len(timestamp) == 10 and abs(int(timestamp) - time.time()) < 10  # seconds
        verify_webhook_signature(
            WEBHOOK_SECRET, timestamp=timestamp, signature=h["x-zm-signature"], body=request.body, now_s=time.time()
        )
        assert h["x-zm-signature"].startswith("v0=")
        assert h["x-zm-trackingid"] and h["clientid"] == CLIENT_ID and h["user-agent"] == USER_AGENT
        assert h["content-type"] == "application/json; charset=utf-8"
        body = request.json
        assert request.body == json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()  # compact
        assert isinstance(body["event_ts"], int) and body["event_ts"] > 10**12  # milliseconds
        assert request.method == "POST" and request.target == "/webhook"
    started = receiver.requests[1].json
    assert list(started) == ["event", "event_ts", "payload"] and "object" not in started["payload"]
    assert len({r.headers["x-zm-trackingid"] for r in receiver.requests}) == 3


async def test_wrong_validation_answer_is_refused() -> None:
    async def wrong(request: Request) -> Response:
        token = request.json["payload"].get("plainToken", "")
        return Response(200, json.dumps({"plainToken": token, "encryptedToken": "0" * 64}).encode())

    async with WebhookReceiver(wrong) as receiver, Simulator(fast_config(receiver.url)) as sim:
        with pytest.raises(UrlValidationFailed, match="encryptedToken"):
            await sim.start_meeting(MeetingSpec(transcript=make_transcript(1)))
    assert [r.event for r in receiver.requests] == ["endpoint.url_validation"]  # no event ever sent


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (Response(404), "HTTP 404"),
        (Response(200, b"not json"), "not JSON"),
        (Response(200, b'{"plainToken":"other","encryptedToken":"x"}'), "plainToken"),
        (Response(200, b"{}", delay_s=0.7), "no answer within"),
    ],
)
async def test_validation_refusals(response: Response, reason: str) -> None:
    async def answer(_: Request) -> Response:
        return response

    async with WebhookReceiver(answer) as receiver, httpx.AsyncClient(trust_env=False) as client:
        with pytest.raises(UrlValidationFailed, match=reason):
            await sender(client, receiver.url).validate()


async def test_validation_runs_once() -> None:
    async with WebhookReceiver(answer_validation) as receiver, httpx.AsyncClient(trust_env=False) as client:
        webhooks = sender(client, receiver.url)
        await asyncio.gather(*(webhooks.ensure_validated() for _ in range(5)))
        await webhooks.ensure_validated()
    assert len(receiver.requests) == 1


async def test_retry_after_a_500_on_the_schedule() -> None:
    statuses = [500, 200]

    async def flaky(_: Request) -> Response:
        return Response(statuses.pop(0))

    async with WebhookReceiver(flaky) as receiver, httpx.AsyncClient(trust_env=False) as client:
        webhooks = sender(client, receiver.url, retry_schedule_s=(0.2, 0.4, 0.8))
        delivery = webhooks.prepare("meeting.rtms_started", {"meeting_uuid": "u==", "rtms_stream_id": "s"})
        record = await webhooks.deliver(delivery)
    assert (record.event, record.status, record.attempts) == ("meeting.rtms_started", 200, 2)
    first, second = receiver.requests
    assert second.received_at - first.received_at >= 0.2
    assert first.body == second.body and first.headers["x-zm-trackingid"] == second.headers["x-zm-trackingid"]


async def test_too_slow_an_answer_counts_as_failed() -> None:
    delays = [0.6, 0.0]

    async def slow_then_fast(_: Request) -> Response:
        return Response(200, delay_s=delays.pop(0))

    async with WebhookReceiver(slow_then_fast) as receiver, httpx.AsyncClient(trust_env=False) as client:
        webhooks = sender(client, receiver.url, timeout_s=0.3)
        loop = asyncio.get_running_loop()
        began = loop.time()
        record = await webhooks.deliver(webhooks.prepare("meeting.rtms_stopped", {"stop_reason": 6}))
        took = loop.time() - began
    assert record.status == 200 and record.attempts == 2
    assert 0.3 + 0.05 <= took < 0.55  # gave up on the first after 0.3 s (not 0.6 s), retried 0.05 s later


async def test_gives_up_after_the_schedule() -> None:
    async def always_500(_: Request) -> Response:
        return Response(500)

    async with WebhookReceiver(always_500) as receiver, httpx.AsyncClient(trust_env=False) as client:
        record = await sender(client, receiver.url).deliver(sender(client, receiver.url).prepare("e", {}))
    assert record.status == 500 and record.attempts == 4 and not record.delivered
    assert len(receiver.requests) == 4


async def test_unreachable_endpoint() -> None:
    async with WebhookReceiver(answer_validation) as receiver:
        url = receiver.url
    async with httpx.AsyncClient(trust_env=False) as client:
        record = await sender(client, url, retry_schedule_s=(0.01,)).deliver(sender(client, url).prepare("e", {}))
    assert record.status is None and record.attempts == 2


async def test_failed_webhooks_show_in_the_report() -> None:
    async def refuse_stopped(request: Request) -> Response:
        if request.event == "meeting.rtms_stopped":
            return Response(503)
        return await answer_validation(request)

    async with (
        WebhookReceiver(refuse_stopped) as receiver,
        Simulator(fast_config(receiver.url, webhook_retry_schedule_s=(0.01, 0.01))) as sim,
    ):
        handle = await sim.start_meeting(MeetingSpec(transcript=make_transcript(1)))
        handle.stop(1)
        report = await handle.wait(timeout=5)
    assert [tuple(w) for w in report.webhooks] == [("meeting.rtms_started", 200, 1), ("meeting.rtms_stopped", 503, 3)]


@pytest.mark.parametrize("product", ["meeting", "webinar", "session"])
async def test_a_meeting_with_a_topic_is_named_before_its_stream_starts(product: str) -> None:
    """`{product}.started` carries the transcript's topic, keyed as the RTMS webhooks key the instance."""
    from bridge.rtms.enums import Product
    from bridge.rtms.webhooks import InstanceStarted, parse_webhook
    from bridge.simulator.transcripts import TranscriptMeta

    base = make_transcript(1)
    transcript = base.model_copy(update={"meta": TranscriptMeta(title="t", topic="Renewal: Acme")})
    async with WebhookReceiver(answer_validation) as receiver, Simulator(fast_config(receiver.url)) as sim:
        handle = await sim.start_meeting(MeetingSpec(transcript=transcript, product=Product(product)))
        handle.stop(6)
        report = await handle.wait(timeout=5)
    events = [r.event for r in receiver.requests]
    assert sorted(events[1:3]) == sorted([f"{product}.started", f"{product}.rtms_started"])
    named = parse_webhook(receiver.of(f"{product}.started")[0].body)
    assert isinstance(named, InstanceStarted)
    assert named.topic == "Renewal: Acme" and named.instance_id == handle.instance_id
    assert named.start_time_ms is not None and abs(named.start_time_ms / 1000 - time.time()) < 30
    assert (f"{product}.started", 200, 1) in [tuple(w) for w in report.webhooks]
