"""What a test of several bridge replicas needs from the simulator: webhooks spread over replica URLs as a load
balancer would (passing over one that is down), and transcript lines re-delivered after a client's abrupt loss."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from bridge.cli import main
from bridge.rtms.signatures import url_validation_response
from bridge.simulator import ChaosEvent, MeetingSpec, Simulator, SimulatorConfig, UrlValidationFailed, command
from bridge.simulator.webhook_sender import WebhookSender
from tests.simulator.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    WEBHOOK_SECRET,
    eventually,
    fast_config,
    make_transcript,
    run_meeting,
)
from tests.simulator.rtms_client import ClientOptions, RtmsTestApp, StreamLog
from tests.simulator.webhook_receiver import Request, Response, WebhookReceiver


async def validating(request: Request) -> Response:
    if request.event == "endpoint.url_validation":
        token = request.json["payload"]["plainToken"]
        return Response(200, json.dumps(url_validation_response(WEBHOOK_SECRET, token)).encode())
    return Response(200)


@contextlib.asynccontextmanager
async def closed_url() -> AsyncIterator[str]:
    """A loopback URL nobody listens on (a replica that is down): connections to it are refused."""
    async with WebhookReceiver(validating) as receiver:
        url = receiver.url
    yield url


@contextlib.asynccontextmanager
async def resetting_url() -> AsyncIterator[str]:
    """A loopback URL whose server resets every connection once the request arrives, before answering."""

    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.transport.abort()

    server = await asyncio.start_server(reset, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/webhook"
    finally:
        server.close()
        await server.wait_closed()


def sender(client: httpx.AsyncClient, urls: list[str], **options: object) -> WebhookSender:
    values: dict[str, object] = {
        "url": urls[0],
        "extra_urls": urls[1:],
        "secret_token": WEBHOOK_SECRET,
        "client_id": CLIENT_ID,
        "timeout_s": 0.3,
        "retry_schedule_s": (0.05, 0.1),
    }
    values.update(options)
    return WebhookSender(client, **values)  # type: ignore[arg-type]


# -- configuration and command line ---------------------------------------------------------------------------------


def test_webhook_urls_are_the_main_one_then_the_extra_ones() -> None:
    config = fast_config("http://127.0.0.1:1/a", extra_webhook_urls=("http://127.0.0.1:2/b", "https://replica/c"))
    assert config.webhook_urls == ("http://127.0.0.1:1/a", "http://127.0.0.1:2/b", "https://replica/c")
    assert fast_config("http://127.0.0.1:1/a").webhook_urls == ("http://127.0.0.1:1/a",)
    assert fast_config("http://127.0.0.1:1/a").redeliver_s == 0.0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("extra_webhook_urls", ("http://ok/", "ftp://replica/"), "http:// or https://"),
        ("redeliver_s", -0.1, "greater than or equal to 0"),
    ],
)
def test_new_settings_are_validated(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        fast_config("http://127.0.0.1:1/webhook", **{field: value})


def test_command_line_takes_several_webhook_urls_and_a_redelivery_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOOM_WEBHOOK_SECRET_TOKEN", WEBHOOK_SECRET)
    monkeypatch.setenv("ZOOM_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("ZOOM_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.chdir(tmp_path)  # no .env here
    seen: list[SimulatorConfig] = []

    async def fake_simulate(config: SimulatorConfig, specs: list[MeetingSpec]) -> list[object]:
        seen.append(config)
        return []

    monkeypatch.setattr(command, "_simulate", fake_simulate)
    urls = ["http://127.0.0.1:9/a", "http://127.0.0.1:10/b", "http://127.0.0.1:11/c"]
    args = ["simulate", *(arg for url in urls for arg in ("--webhook-url", url)), "--redeliver-after-loss", "2.5"]
    assert main([*args, "--log-level", "ERROR"]) == 0
    [config] = seen
    assert config.webhook_url == urls[0] and config.webhook_urls == tuple(urls) and config.redeliver_s == 2.5


def test_command_line_refuses_a_negative_redelivery_window(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["simulate", "--webhook-url", "http://x/", "--redeliver-after-loss", "-1"])
    assert exited.value.code == 2 and "must be >= 0" in capsys.readouterr().err


# -- several webhook URLs -------------------------------------------------------------------------------------------


async def test_deliveries_alternate_over_live_urls_and_each_is_validated() -> None:
    async with (
        WebhookReceiver(validating) as first,
        WebhookReceiver(validating) as second,
        httpx.AsyncClient(trust_env=False) as client,
    ):
        webhooks = sender(client, [first.url, second.url])
        await webhooks.ensure_validated()
        records = [await webhooks.deliver(webhooks.prepare(f"event.{n}", {})) for n in range(4)]
    assert [r.event for r in first.requests] == ["endpoint.url_validation", "event.0", "event.2"]
    assert [r.event for r in second.requests] == ["endpoint.url_validation", "event.1", "event.3"]
    assert all(r.delivered and r.attempts == 1 for r in records)


async def test_a_replica_that_is_down_is_passed_over_in_a_whole_meeting() -> None:
    async with (
        closed_url() as down,
        RtmsTestApp(WEBHOOK_SECRET, ClientOptions(CLIENT_ID, CLIENT_SECRET)) as app,
        Simulator(fast_config(down, extra_webhook_urls=(app.url,), validate_url_first=False)) as sim,
    ):
        handles = await sim.start_meetings(MeetingSpec(transcript=make_transcript(3)) for _ in range(2))
        reports = [await handle.wait(timeout=15) for handle in handles]
        logs = [await (await app.client(handle.rtms_stream_id)).wait(5) for handle in handles]
    assert all(r.complete for r in reports)
    assert all(tuple(w)[1:] == (200, 1) for r in reports for w in r.webhooks)  # each on its first attempt
    assert sorted(r.event for r in app.receiver.requests) == ["meeting.rtms_started"] * 2 + ["meeting.rtms_stopped"] * 2
    assert all(log.texts == [u.text for u in make_transcript(3).utterances] for log in logs)


async def test_a_connection_reset_before_the_answer_is_passed_over() -> None:
    async with (
        resetting_url() as resetting,
        WebhookReceiver(validating) as live,
        httpx.AsyncClient(trust_env=False) as client,
    ):
        webhooks = sender(client, [resetting, live.url])
        records = [await webhooks.deliver(webhooks.prepare(f"event.{n}", {})) for n in range(2)]
    assert [(r.status, r.attempts) for r in records] == [(200, 1), (200, 1)]
    assert [r.event for r in live.requests] == ["event.0", "event.1"]


@pytest.mark.parametrize("stall", ["connect timeout", "no connection in time"])
async def test_a_replica_that_cannot_be_connected_in_time_is_passed_over(stall: str) -> None:
    """In-process transport (no socket): a blackholed replica either times out in httpx's connect phase or is
    still connecting when the attempt's time is up; both count as down, not as a failed attempt."""

    async def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "live":
            return httpx.Response(200)
        if stall == "connect timeout":
            raise httpx.ConnectTimeout("timed out", request=request)
        await asyncio.Event().wait()  # never sends the request: the attempt's timeout ends it
        raise AssertionError("unreachable")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as client:
        webhooks = sender(client, ["http://blackholed/webhook", "http://live/webhook"])
        record = await webhooks.deliver(webhooks.prepare("event", {}))
    assert (record.status, record.attempts) == (200, 1)


async def test_when_no_replica_is_up_zoom_retries_as_usual() -> None:
    async with closed_url() as one, closed_url() as two, httpx.AsyncClient(trust_env=False) as client:
        webhooks = sender(client, [one, two])
        record = await webhooks.deliver(webhooks.prepare("event", {}))
    assert record.status is None and record.attempts == 3


@pytest.mark.parametrize("answer", [Response(500), Response(200, delay_s=0.6)], ids=["refused", "too slow"])
async def test_an_answer_that_is_not_a_2xx_in_time_fails_the_attempt(answer: Response) -> None:
    """A replica that took the request is not passed over: the retry, on Zoom's schedule, goes to the next one."""

    async def bad(_: Request) -> Response:
        return answer

    async with (
        WebhookReceiver(bad) as failing,
        WebhookReceiver(validating) as live,
        httpx.AsyncClient(trust_env=False) as client,
    ):
        webhooks = sender(client, [failing.url, live.url])
        record = await webhooks.deliver(webhooks.prepare("event", {}))
    assert (record.status, record.attempts) == (200, 2)
    assert len(failing.requests) == 1 and len(live.requests) == 1
    assert failing.requests[0].body == live.requests[0].body


async def test_every_replica_must_answer_the_url_validation() -> None:
    async with (
        closed_url() as down,
        WebhookReceiver(validating) as live,
        Simulator(fast_config(live.url, extra_webhook_urls=(down,))) as sim,
    ):
        with pytest.raises(UrlValidationFailed, match="unreachable") as failed:
            await sim.start_meeting(MeetingSpec(transcript=make_transcript(1)))
    assert failed.value.url == down
    assert [r.event for r in live.requests] == ["endpoint.url_validation"]  # no event ever sent


# -- re-delivery after an abrupt loss -------------------------------------------------------------------------------


def texts(lines: int) -> list[str]:
    return [u.text for u in make_transcript(lines).utterances]


def assert_repeats_are_byte_identical(log: StreamLog) -> None:
    frames: defaultdict[str, set[bytes]] = defaultdict(set)
    for frame in log.raw_frames:
        raw = frame.encode() if isinstance(frame, str) else frame
        message = json.loads(raw)
        if message.get("msg_type") == 17:
            frames[message["content"]["data"]].add(raw)
    assert frames and all(len(variants) == 1 for variants in frames.values())


@pytest.mark.parametrize(("redeliver_s", "expected"), [(0.0, [0, 1, 2]), (0.4, [0, 1, 1, 2])])
async def test_the_recent_tail_is_written_again_after_an_abrupt_loss(redeliver_s: float, expected: list[int]) -> None:
    """Lines come 0.8 s apart; the socket dies just after line 1: only line 1 is within a 0.4 s window."""
    async with (
        RtmsTestApp(WEBHOOK_SECRET, ClientOptions(CLIENT_ID, CLIENT_SECRET)) as app,
        Simulator(fast_config(app.url, speed=1.25, redeliver_s=redeliver_s)) as sim,
    ):
        handle = await sim.start_meeting(MeetingSpec(transcript=make_transcript(3)))
        client = await app.client(handle.rtms_stream_id)
        await eventually(lambda: len(client.log.transcripts) >= 2, within_s=10)
        client.crash(media_only=True)
        report = await handle.wait(timeout=15)
        log = await client.wait(5)
    assert log.texts == [texts(3)[i] for i in expected]
    assert report.lines_sent == report.lines_total == 3 and report.complete
    assert report.lines_redelivered == len(expected) - 3 and report.media_connections == 2
    assert_repeats_are_byte_identical(log)


async def test_a_client_crash_gets_every_line_in_the_window_again() -> None:
    async with (
        RtmsTestApp(WEBHOOK_SECRET, ClientOptions(CLIENT_ID, CLIENT_SECRET)) as app,
        Simulator(fast_config(app.url, speed=10.0, redeliver_s=30.0)) as sim,
    ):
        handle = await sim.start_meeting(MeetingSpec(transcript=make_transcript(6)))
        client = await app.client(handle.rtms_stream_id)
        await eventually(lambda: len(client.log.transcripts) >= 3, within_s=10)
        client.crash()
        report = await handle.wait(timeout=15)
        log = await client.wait(5)
    before = len(log.texts) - 6
    assert before >= 3 and log.texts == texts(6)[:before] + texts(6)  # all again, from the first line on
    assert report.lines_sent == 6 and report.complete and report.lines_redelivered >= before
    assert log.joins == 2
    assert_repeats_are_byte_identical(log)


async def test_lines_come_again_after_a_chaos_drop_too() -> None:
    spec = MeetingSpec(transcript=make_transcript(5), chaos=[ChaosEvent.parse("drop_media@3")])
    report, log, _, _ = await run_meeting(spec, redeliver_s=30.0)
    assert log.texts == texts(5)[:3] + texts(5)
    assert report.lines_sent == 5 and report.lines_redelivered == 3 and report.complete
    assert_repeats_are_byte_identical(log)
