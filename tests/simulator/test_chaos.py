"""Every fault of rtms-protocol.md section 11, against a client that reconnects as Zoom documents: it must lose no
line and get none twice, and the report must count exactly what was written."""

from __future__ import annotations

import asyncio

from bridge.rtms.enums import EventType, StopReason, StreamState
from bridge.simulator import ChaosEvent, MeetingSpec, Simulator
from tests.simulator.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    WEBHOOK_SECRET,
    eventually,
    fast_config,
    make_transcript,
    run_meeting,
)
from tests.simulator.raw import signaling_handshake
from tests.simulator.rtms_client import ClientOptions, RtmsTestApp, StreamLog, event_types

LINES = 8


def chaos(*texts: str, lines: int = LINES, **fields: object) -> MeetingSpec:
    return MeetingSpec(transcript=make_transcript(lines), chaos=[ChaosEvent.parse(t) for t in texts], **fields)  # type: ignore[arg-type]


def assert_every_line_once(log: StreamLog, lines: int = LINES) -> None:
    assert log.texts == [u.text for u in make_transcript(lines).utterances]


async def test_media_drop_is_announced_and_buffered() -> None:
    report, log, _, _ = await run_meeting(chaos("drop_media@3"))
    assert_every_line_once(log)
    assert report.lines_sent == LINES and report.complete and report.chaos_applied == ["drop_media@3"]
    assert EventType.MEDIA_CONNECTION_INTERRUPTED in event_types(log)
    states = [(s.state, s.reason) for s in log.stream_states]
    assert (StreamState.INTERRUPTED, StopReason.DATA_CONNECTION_INTERRUPTED) in states
    assert states.index((StreamState.INTERRUPTED, 14)) < states.index((StreamState.ACTIVE, None), 1)
    assert ("media:8", 1006) in log.closes  # cut without a close frame
    assert report.reconnects == 1 and report.media_connections == 2 and log.joins == 1


async def test_audio_socket_drop_leaves_transcripts_alone() -> None:
    options = ClientOptions(CLIENT_ID, CLIENT_SECRET, media_types=(1, 8))
    report, log, _, _ = await run_meeting(chaos("drop_media@2:audio", audio=True), options=options)
    assert_every_line_once(log)
    assert ("media:1", 1006) in log.closes and ("media:8", 1006) not in log.closes
    assert report.audio_packets_sent == len(log.audio) and report.complete


async def test_signaling_drop_interrupts_everything() -> None:
    report, log, app, _ = await run_meeting(chaos("drop_signaling@4"))
    assert_every_line_once(log)
    assert len(app.receiver.of("meeting.rtms_interrupted")) == 1
    payload = app.receiver.of("meeting.rtms_interrupted")[0].json["payload"]
    assert set(payload) == {"meeting_uuid", "rtms_stream_id"}  # no server_urls: reuse the stored ones
    assert ("signaling", 1006) in log.closes and ("media:8", 1006) in log.closes
    assert log.joins == 2 and report.reconnects == 2 and report.complete


async def test_failover_sends_rtms_started_again_with_new_urls() -> None:
    async with (
        RtmsTestApp(WEBHOOK_SECRET, ClientOptions(CLIENT_ID, CLIENT_SECRET)) as app,
        Simulator(fast_config(app.url)) as sim,
    ):
        handle = await sim.start_meeting(chaos("failover@3"))
        first_url = handle.server_urls
        report = await handle.wait(timeout=15)
        client = await app.client(handle.rtms_stream_id)
        log = await client.wait(5)
        failover_url = sim.failover_signaling_url
    assert_every_line_once(log)
    started = [r.json["payload"] for r in app.receiver.of("meeting.rtms_started")]
    assert [p["server_urls"] for p in started] == [first_url, failover_url] and first_url != failover_url
    assert started[0]["rtms_stream_id"] == started[1]["rtms_stream_id"]
    assert client.failovers == 1 and report.complete
    assert not app.receiver.of("meeting.rtms_interrupted")


async def test_failed_over_server_answers_like_a_dead_one() -> None:
    """A client that insists on the old URL gets its socket cut, not a status: the old server is gone."""
    async with (
        RtmsTestApp(WEBHOOK_SECRET, ClientOptions(CLIENT_ID, CLIENT_SECRET)) as app,
        Simulator(fast_config(app.url, speed=5.0)) as sim,
    ):
        handle = await sim.start_meeting(chaos("failover@1", lines=10))
        client = await app.client(handle.rtms_stream_id)
        await eventually(lambda: client.failovers > 0)
        reply, ws = await signaling_handshake(sim.signaling_url, handle)
        assert reply is None and ws.close_code == 1006
        await handle.wait(timeout=15)
        log = await client.wait(5)
    assert_every_line_once(log, 10)


async def test_stop_with_a_chosen_reason() -> None:
    report, log, app, client = await run_meeting(chaos("stop@5:1"))
    assert log.texts == [u.text for u in make_transcript(LINES).utterances[:5]]
    assert report.lines_sent == 5 and report.stop_reason == StopReason.HOST_TRIGGERED
    assert log.stream_states[-1].state == StreamState.TERMINATED and log.stream_states[-1].reason == 1
    assert app.receiver.of("meeting.rtms_stopped")[0].json["payload"]["stop_reason"] == 1
    assert client.terminated_reason == 1


async def test_duplicate_webhook_is_the_same_delivery_again() -> None:
    report, log, app, _ = await run_meeting(chaos("duplicate_webhook@2"))
    assert_every_line_once(log)
    first, again = app.receiver.of("meeting.rtms_started")
    assert first.body == again.body
    assert first.headers["x-zm-trackingid"] == again.headers["x-zm-trackingid"]
    assert log.joins == 1 and not report.rejected_handshakes
    assert [w.event for w in report.webhooks].count("meeting.rtms_started") == 2


async def test_delayed_first_webhook() -> None:
    async with (
        RtmsTestApp(WEBHOOK_SECRET, ClientOptions(CLIENT_ID, CLIENT_SECRET)) as app,
        Simulator(fast_config(app.url)) as sim,
    ):
        loop = asyncio.get_running_loop()
        started_at = loop.time()
        handle = await sim.start_meeting(chaos("delay_webhook@0:0.4", lines=3))
        report = await handle.wait(timeout=10)
        log = await (await app.client(handle.rtms_stream_id)).wait(5)
    [started] = app.receiver.of("meeting.rtms_started")
    assert started.received_at - started_at >= 0.4
    assert_every_line_once(log, 3)
    assert report.chaos_applied == ["delay_webhook@0:0.4"]


async def test_delayed_webhook_later_in_the_stream() -> None:
    report, log, app, _ = await run_meeting(chaos("delay_webhook@3:0.3", "drop_signaling@3"))
    assert_every_line_once(log)
    third_line = [t for t, _, kind in log.timeline if kind == 17][2]  # the last line before the drop
    interrupted = app.receiver.of("meeting.rtms_interrupted")[0]
    assert interrupted.received_at - third_line >= 0.3
    assert report.complete


async def test_ignored_keepalives_interrupt_the_stream() -> None:
    report, log, app, _ = await run_meeting(
        chaos("ignore_keepalives_as_lost@2", lines=6), speed=10.0, keepalive_interval_s=0.04
    )
    assert_every_line_once(log, 6)
    assert len(app.receiver.of("meeting.rtms_interrupted")) == 1
    signaling_kas = [ka for socket, ka in log.keepalives if socket == "signaling"]
    assert len(signaling_kas) >= 3
    assert log.joins == 2 and report.complete


async def test_unanswered_reconnect_window_ends_the_stream() -> None:
    options = ClientOptions(CLIENT_ID, CLIENT_SECRET, reconnect=False)
    report, log, app, _ = await run_meeting(chaos("drop_media@2"), options=options, media_reconnect_window_s=0.3)
    assert report.stop_reason == StopReason.AWAIT_RECONNECTION_TIMEOUT and report.lines_sent == 2
    assert app.receiver.of("meeting.rtms_stopped")[0].json["payload"]["stop_reason"] == 19
    assert log.stream_states[-1].reason == 19  # signaling still up: it hears why


async def test_every_fault_in_one_meeting() -> None:
    spec = chaos(
        "drop_media@1",
        "duplicate_webhook@2",
        "drop_signaling@3",
        "failover@5",
        "delay_webhook@6:0.1",
        "ignore_keepalives_as_lost@7",
        "drop_media@9",
        lines=10,
    )
    report, log, _, client = await run_meeting(spec, speed=10.0, keepalive_interval_s=0.04, within_s=30)
    assert_every_line_once(log, 10)
    assert report.lines_sent == 10 and report.complete
    assert len(report.chaos_applied) == 7 and client.failovers == 1
