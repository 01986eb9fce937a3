"""Replays end to end over real sockets: what a client receives, in which order, for every product and media mode."""

from __future__ import annotations

import base64
import json

import pytest

from bridge.rtms.enums import EventType, MediaType, Product, SessionState, StreamState
from bridge.rtms.messages import AudioParams, MediaParams
from bridge.simulator import MeetingSpec, Simulator
from tests.simulator.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    WEBHOOK_SECRET,
    eventually,
    fast_config,
    make_transcript,
    run_meeting,
)
from tests.simulator.rtms_client import ClientOptions, RtmsTestApp, event_types


async def test_every_line_once_in_order_with_events_and_states() -> None:
    transcript = make_transcript(6)
    report, log, app, _ = await run_meeting(MeetingSpec(transcript=transcript))

    assert log.texts == [u.text for u in transcript.utterances]
    assert report.lines_sent == report.lines_total == 6 and report.complete
    assert report.stop_reason == 6 and report.connections == 2 and report.reconnects == 0
    first = log.transcripts[0]
    u0 = transcript.utterances[0]
    assert first.user_id == u0.user_id and first.user_name == u0.speaker and first.language == 9
    assert isinstance(first.start_time, int) and isinstance(first.end_time, int) and isinstance(first.timestamp, int)
    assert first.end_time - first.start_time == u0.end_ms - u0.start_ms  # meeting time, not compressed
    assert log.transcripts[1].start_time - first.start_time == 1000
    assert first.timestamp == first.start_time

    kinds = event_types(log)
    assert kinds.count(EventType.FIRST_PACKET_TIMESTAMP) == 1
    assert kinds.count(EventType.PARTICIPANT_JOIN) == 3 and kinds.count(EventType.PARTICIPANT_LEAVE) == 1
    assert kinds.count(EventType.ACTIVE_SPEAKER_CHANGE) == 6
    assert kinds.index(EventType.PARTICIPANT_JOIN) < kinds.index(EventType.ACTIVE_SPEAKER_CHANGE)
    speakers = [e.user_id for e in log.events if e.event_type == EventType.ACTIVE_SPEAKER_CHANGE]
    assert speakers == [u.user_id for u in transcript.utterances]
    leave = next(e for e in log.events if e.event_type == EventType.PARTICIPANT_LEAVE)
    assert leave.participants is not None and {p.user_id for p in leave.participants} == {16778240, 16779264, 16780288}
    assert [(s.state, s.reason) for s in log.stream_states] == [(StreamState.ACTIVE, None), (StreamState.TERMINATED, 6)]
    assert [(s.state, s.reason, s.stop_reason) for s in log.session_states] == [
        (SessionState.STARTED, None, None),
        (SessionState.STOPPED, 6, 6),
    ]
    assert log.media_before_ready == 0

    assert [r.event for r in app.receiver.requests] == [
        "endpoint.url_validation",
        "meeting.rtms_started",
        "meeting.rtms_stopped",
    ]
    stopped = app.receiver.of("meeting.rtms_stopped")[0].json["payload"]
    assert stopped["stop_reason"] == 6 and stopped["rtms_stream_id"] == report.rtms_stream_id
    assert [(w.event, w.status, w.attempts) for w in report.webhooks] == [
        ("meeting.rtms_started", 200, 1),
        ("meeting.rtms_stopped", 200, 1),
    ]


async def test_last_line_leaves_time_before_termination() -> None:
    _, log, _, _ = await run_meeting(MeetingSpec(transcript=make_transcript(3)), end_gap_s=0.15)
    last_line = max(t for t, _, kind in log.timeline if kind == 17)
    terminated = next(t for t, _, kind in log.timeline if kind == 8 and t > last_line)
    assert terminated - last_line >= 0.14


async def test_replay_follows_speed() -> None:
    transcript = make_transcript(5, step_ms=1000)  # the last line is due at 4.9 s of meeting time
    _, log, _, _ = await run_meeting(MeetingSpec(transcript=transcript), speed=10.0)
    lines = [t for t, _, kind in log.timeline if kind == 17]
    assert 0.35 <= lines[-1] - lines[0] <= 0.8  # 4.0 s of meeting between first and last line at 10x


@pytest.mark.parametrize("product", list(Product))
async def test_every_product(product: Product) -> None:
    transcript = make_transcript(4)
    report, log, app, client = await run_meeting(MeetingSpec(transcript=transcript, product=product))
    prefix = "contact_center.voice_" if product is Product.CONTACT_CENTER else f"{product.value}."
    assert [r.event for r in app.receiver.requests][1:] == [f"{prefix}rtms_started", f"{prefix}rtms_stopped"]
    started = app.receiver.requests[1].json["payload"]
    assert started[product.id_key] == report.instance_id == client.instance_id
    assert started["rtms_stream_id"] == report.rtms_stream_id and started["server_urls"].startswith("ws://127.0.0.1:")
    if product is Product.SESSION:
        assert started["session_key"] and app.receiver.requests[2].json["payload"]["session_key"]
    if product in (Product.MEETING, Product.WEBINAR):
        assert started["operator_id"] and started["account_id"] and started["is_original_host"] is True
    if product in (Product.MEETING, Product.WEBINAR, Product.SESSION):
        assert started[product.id_key].endswith("==")
    assert client.id_key == product.id_key  # the client answered with the product's own key
    assert log.texts == [u.text for u in transcript.utterances] and report.complete
    if product is Product.CONTACT_CENTER:
        assert all(t.channel_id and t.user_id is None and t.user_name for t in log.transcripts)
    else:
        assert [t.user_id for t in log.transcripts] == [u.user_id for u in transcript.utterances]


async def test_a_webinar_joined_with_meeting_uuid_like_the_sdk() -> None:
    options = ClientOptions(CLIENT_ID, CLIENT_SECRET, id_key="meeting_uuid")
    report, log, _, _ = await run_meeting(
        MeetingSpec(transcript=make_transcript(3), product=Product.WEBINAR), options=options
    )
    assert report.complete and len(log.transcripts) == 3


async def test_contact_center_offers_voice_only() -> None:
    options = ClientOptions(CLIENT_ID, CLIENT_SECRET, media_types=(32,))
    _, log, _, _ = await run_meeting(
        MeetingSpec(transcript=make_transcript(2), product=Product.CONTACT_CENTER), options=options
    )
    assert log.signaling_replies[0].media_server is not None
    assert set(log.signaling_replies[0].media_server.server_urls) == {"audio", "transcript", "all"}


@pytest.mark.parametrize("media_mode", ["split", "unified"])
@pytest.mark.parametrize("media_types", [(1, 8), (32,), (9,)], ids=["per-medium", "all", "audio+transcript"])
async def test_split_and_unified_media(media_mode: str, media_types: tuple[int, ...]) -> None:
    options = ClientOptions(CLIENT_ID, CLIENT_SECRET, media_types=media_types)
    report, log, _, _ = await run_meeting(
        MeetingSpec(transcript=make_transcript(3), audio=True), options=options, media_mode=media_mode
    )
    urls = log.signaling_replies[0].media_server.server_urls  # type: ignore[union-attr]
    assert set(urls) == {"audio", "video", "deskshare", "transcript", "chat", "all"}
    if media_mode == "unified":
        assert len(set(urls.values())) == 1
    else:
        assert len(set(urls.values())) == 6 and urls["audio"].endswith("/audio")
    assert report.complete and len(log.transcripts) == 3
    assert log.audio and report.audio_packets_sent == len(log.audio)
    assert all(r.payload_encrypted is False for r in log.media_replies)


async def test_synthetic_audio_at_the_negotiated_rate() -> None:
    params = MediaParams(audio=AudioParams(send_rate=100, sample_rate=1))
    options = ClientOptions(CLIENT_ID, CLIENT_SECRET, media_types=(1, 8), media_params=params)
    transcript = make_transcript(3)
    report, log, _, _ = await run_meeting(MeetingSpec(transcript=transcript, audio=True), options=options)
    audio_reply = next(r for r in log.media_replies if r.media_params and r.media_params.audio)
    assert audio_reply.media_params.audio.send_rate == 100  # type: ignore[union-attr]
    assert len(log.audio) == transcript.duration_ms // 100  # 2.9 s of meeting in 100 ms packets
    assert all(a.user_id == 0 and a.user_name is None for a in log.audio)  # mixed stream
    assert all(len(base64.b64decode(a.data)) == a.length == 3200 for a in log.audio)  # 100 ms of 16 kHz L16 mono
    steps = {b.timestamp - a.timestamp for a, b in zip(log.audio, log.audio[1:], strict=False)}
    assert steps == {100}
    assert report.complete


async def test_multi_stream_audio_names_the_speaker() -> None:
    params = MediaParams(audio=AudioParams(data_opt=2, send_rate=200))
    options = ClientOptions(CLIENT_ID, CLIENT_SECRET, media_types=(1, 8), media_params=params)
    _, log, _, _ = await run_meeting(MeetingSpec(transcript=make_transcript(3), audio=True), options=options)
    assert log.audio and {a.user_id for a in log.audio} == {16778240, 16779264, 16780288}
    assert all(a.user_name for a in log.audio)


async def test_opus_is_granted_but_not_synthesized() -> None:
    params = MediaParams(audio=AudioParams(codec=4, sample_rate=3, channel=2))
    options = ClientOptions(CLIENT_ID, CLIENT_SECRET, media_types=(1, 8), media_params=params)
    report, log, _, _ = await run_meeting(MeetingSpec(transcript=make_transcript(2), audio=True), options=options)
    assert not log.audio and report.complete


async def test_lines_nobody_asked_for_are_let_go() -> None:
    options = ClientOptions(CLIENT_ID, CLIENT_SECRET, media_types=(1,))
    report, log, _, _ = await run_meeting(MeetingSpec(transcript=make_transcript(3)), options=options)
    assert report.lines_sent == 0 and report.lines_discarded == 3 and not log.transcripts


async def test_events_only_when_subscribed_if_required() -> None:
    quiet = ClientOptions(CLIENT_ID, CLIENT_SECRET)
    _, log, _, _ = await run_meeting(
        MeetingSpec(transcript=make_transcript(3)), options=quiet, require_event_subscription=True
    )
    assert set(event_types(log)) == {EventType.FIRST_PACKET_TIMESTAMP}
    speaker_only = ClientOptions(CLIENT_ID, CLIENT_SECRET, subscribe=(EventType.ACTIVE_SPEAKER_CHANGE,))
    _, log, _, _ = await run_meeting(
        MeetingSpec(transcript=make_transcript(3)), options=speaker_only, require_event_subscription=True
    )
    assert set(event_types(log)) == {EventType.FIRST_PACKET_TIMESTAMP, EventType.ACTIVE_SPEAKER_CHANGE}


async def test_styled_binary_frames_both_ways() -> None:
    options = ClientOptions(CLIENT_ID, CLIENT_SECRET, binary_styled=True)
    report, log, _, _ = await run_meeting(
        MeetingSpec(transcript=make_transcript(2)), options=options, frame_style="styled", frame_opcode="binary"
    )
    assert report.complete
    assert all(isinstance(f, bytes) and f.startswith(b"{\n\t") for f in log.raw_frames)


async def test_stream_close_request_ends_the_stream() -> None:
    async with (
        RtmsTestApp(WEBHOOK_SECRET, ClientOptions(CLIENT_ID, CLIENT_SECRET)) as app,
        Simulator(fast_config(app.url, speed=5.0)) as sim,
    ):
        handle = await sim.start_meeting(MeetingSpec(transcript=make_transcript(20)))
        client = await app.client(handle.rtms_stream_id)
        await eventually(lambda: bool(client.log.transcripts))
        await client.close_stream()
        report = await handle.wait(timeout=5)
        await client.wait(5)
    assert report.stop_reason == 20 and 0 < report.lines_sent < 20
    assert client.terminated_reason == 20
    assert app.receiver.of("meeting.rtms_stopped")[0].json["payload"]["stop_reason"] == 20


async def test_handle_stop_uses_the_given_reason() -> None:
    async with (
        RtmsTestApp(WEBHOOK_SECRET, ClientOptions(CLIENT_ID, CLIENT_SECRET)) as app,
        Simulator(fast_config(app.url, speed=2.0)) as sim,
    ):
        handle = await sim.start_meeting(MeetingSpec(transcript=make_transcript(20)))
        client = await app.client(handle.rtms_stream_id)
        await eventually(lambda: bool(client.log.transcripts))
        handle.stop(8)
        report = await handle.wait(timeout=5)
        log = await client.wait(5)
    assert report.stop_reason == 8 and log.stream_states[-1].reason == 8
    assert report.lines_sent == len(log.transcripts)


async def test_many_meetings_at_once() -> None:
    count = 12
    async with (
        RtmsTestApp(WEBHOOK_SECRET, ClientOptions(CLIENT_ID, CLIENT_SECRET)) as app,
        Simulator(fast_config(app.url)) as sim,
    ):
        specs = [
            MeetingSpec(transcript=make_transcript(5, title=f"m{n}"), product=list(Product)[n % 5])
            for n in range(count)
        ]
        reports = await sim.run_meetings(specs, timeout=20)
        logs = [await (await app.client(r.rtms_stream_id)).wait(5) for r in reports]
    assert len({r.rtms_stream_id for r in reports}) == count
    assert all(r.complete for r in reports)
    assert all(log.texts == [u.text for u in make_transcript(5).utterances] for log in logs)
    assert len(app.receiver.of("endpoint.url_validation")) == 1  # validated once, before the first event


async def test_report_is_json_serializable() -> None:
    report, _, _, _ = await run_meeting(MeetingSpec(transcript=make_transcript(1)))
    data = json.loads(report.model_dump_json())
    assert data["lines_sent"] == 1 and data["webhooks"][0] == ["meeting.rtms_started", 200, 1]


def test_default_scopes_per_product() -> None:
    assert (
        MeetingSpec(transcript=make_transcript(1), product=Product.PHONE).effective_scopes
        == MediaType.AUDIO | MediaType.TRANSCRIPT
    )
