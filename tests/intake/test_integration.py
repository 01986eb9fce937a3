"""The bridge (uvicorn on loopback) against the simulator: every product, every chaos scenario, no line lost or
delivered twice. Each test prints `sent=N received=M`."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bridge.intake.events import MeetingEnded, MeetingEvent, ParticipantJoined, SpeakerChanged, StreamRevoked
from bridge.rtms.enums import Product
from bridge.rtms.webhooks import stream_payload
from bridge.simulator import ChaosEvent, MeetingSpec
from bridge.simulator.transcripts import Transcript, load_transcript
from tests.intake.conftest import Collector, make_settings, signed
from tests.intake.live import LiveBridge, bridge_and_simulator, check_delivery
from tests.waiting import until

pytestmark = pytest.mark.timeout(120)


def short(name: str = "sales", minutes: float = 5.0) -> Transcript:
    return load_transcript(name).sliced(int(minutes * 60_000))


@pytest.mark.parametrize("product", list(Product))
async def test_happy_path_per_product(collector: Collector, product: Product) -> None:
    transcript = short()
    async with bridge_and_simulator(make_settings(), collector) as (live, sim):
        handle = await sim.start_meeting(MeetingSpec(transcript=transcript, product=product))
        report = await handle.wait(timeout=60)
        stream = await live.manager.wait_stream(handle.rtms_stream_id, 10)
    lines = check_delivery(collector, report, [u.text for u in transcript.utterances])
    assert report.lines_sent == report.lines_total == len(transcript.utterances)
    assert all(w.delivered for w in report.webhooks), report.webhooks
    assert report.rejected_handshakes == [] and report.errors == []
    assert report.reconnects == 0
    assert stream.ended is not None and stream.ended.cause in ("terminated", "stopped") and stream.ended.reason == 6
    # Speakers and times come through; every line is the product's own.
    assert [u.speaker for u in lines] == [u.speaker for u in transcript.utterances]
    assert all(u.product is product and u.instance_id == handle.instance_id for u in lines)
    assert all(u.end_ms >= u.start_ms > 0 for u in lines)
    events = collector.of(handle.rtms_stream_id)
    assert isinstance(events[-1], MeetingEnded)
    joined = {e.user_id for e in events if isinstance(e, ParticipantJoined)}
    assert len(joined) == len(transcript.speakers)
    assert any(isinstance(e, SpeakerChanged) for e in events)


CHAOS = [
    ("drop_media", ChaosEvent(kind="drop_media", at_line=12), "media"),
    ("drop_signaling", ChaosEvent(kind="drop_signaling", at_line=12), "signaling"),
    ("failover", ChaosEvent(kind="failover", at_line=12), "failover"),
    ("duplicate_webhook", ChaosEvent(kind="duplicate_webhook", at_line=12), None),
    ("delay_webhook_first", ChaosEvent(kind="delay_webhook", at_line=0, delay_s=1.0), None),
    ("delay_webhook_mid", ChaosEvent(kind="delay_webhook", at_line=12, delay_s=1.0), None),
    ("ignore_keepalives_as_lost", ChaosEvent(kind="ignore_keepalives_as_lost", at_line=12), "signaling"),
]


@pytest.mark.parametrize("name, chaos, scenario", CHAOS, ids=[c[0] for c in CHAOS])
async def test_chaos_loses_no_line_and_repeats_none(collector: Collector, name: str, chaos: ChaosEvent,
                                                    scenario: str | None) -> None:
    transcript = short()
    sim_options: dict[str, float] = {}
    speed = 200.0
    if name == "ignore_keepalives_as_lost":
        sim_options = {"keepalive_interval_s": 0.1}
        speed = 100.0  # long enough after the fault for three keep-alives to go unanswered
    async with bridge_and_simulator(make_settings(), collector, speed=speed, **sim_options) as (live, sim):
        handle = await sim.start_meeting(MeetingSpec(transcript=transcript, chaos=[chaos]))
        report = await handle.wait(timeout=90)
        stream = await live.manager.wait_stream(handle.rtms_stream_id, 15)
        reconnects = {s: live.metric("rtms_reconnects_total", scenario=s) for s in ("media", "signaling", "failover")}
        duplicates = sum(live.metric("rtms_webhooks_total", outcome=o) for o in ("duplicate", "duplicate_started"))
    print(f"{name}: chaos={report.chaos_applied} webhooks={report.webhooks} bridge reconnects={reconnects}")
    check_delivery(collector, report, [u.text for u in transcript.utterances])
    assert report.lines_sent == report.lines_total, "the simulator could not deliver every line"
    assert report.chaos_applied == [str(chaos)]
    assert report.errors == []
    assert stream.ended is not None and stream.ended.reason == 6
    if scenario is not None:
        assert report.reconnects >= 1
        assert reconnects[scenario] >= 1
        others = {s: n for s, n in reconnects.items() if s != scenario}
        assert not any(others.values()), f"only scenario {scenario} expected, got {reconnects}"
    else:
        assert report.reconnects == 0 and not any(reconnects.values())
    if name == "duplicate_webhook":
        assert duplicates == 1, "the re-delivered rtms_started is recognised, not acted on"
    assert live.manager.streams == {}


@pytest.mark.parametrize("reason", [1, 8])
async def test_chaos_stop(collector: Collector, reason: int) -> None:
    transcript = short()
    revoked: list[str] = []
    async with bridge_and_simulator(make_settings(), collector) as (live, sim):

        async def purge(stream_id: str) -> None:
            revoked.append(stream_id)

        live.manager.on_revoke(purge)
        handle = await sim.start_meeting(MeetingSpec(transcript=transcript,
                                                     chaos=[ChaosEvent(kind="stop", at_line=12, stop_reason=reason)]))
        report = await handle.wait(timeout=60)
        stream = await live.manager.wait_stream(handle.rtms_stream_id, 15)
        await live.manager.shutdown()  # lets revoke hooks finish
    assert report.lines_sent == 12 and report.stop_reason == reason
    assert stream.ended is not None and stream.ended.reason == reason
    events = collector.of(handle.rtms_stream_id)
    if reason == 8:
        lines = collector.of(handle.rtms_stream_id, "utterance")
        print(f"sent={report.lines_sent} received={len(lines)} (revoked: undelivered lines are dropped)")
        assert isinstance(events[-1], StreamRevoked) and isinstance(events[-2], MeetingEnded)
        assert revoked == [handle.rtms_stream_id]
        assert stream.translator.roster == {} and len(stream.translator._seen) == 0
    else:
        check_delivery(collector, report, [u.text for u in transcript.utterances])
        assert isinstance(events[-1], MeetingEnded) and revoked == []


@pytest.mark.heavy
async def test_two_hundred_concurrent_meetings(collector: Collector) -> None:
    transcript = short(minutes=2.0)
    products = list(Product)
    specs = [MeetingSpec(transcript=transcript, product=products[n % len(products)]) for n in range(200)]
    settings = make_settings(max_streams=250, connect_timeout_s=10.0, signaling_reconnect_window_s=60.0)
    # Every meeting lasts ~20 s after it starts and all start within ~2 s (a few more when a loaded machine makes a
    # webhook miss Zoom's 3 s and be re-delivered), so all of them overlap.
    async with bridge_and_simulator(settings, collector, speed=6.0, keepalive_interval_s=5.0,
                                    signaling_reconnect_window_s=60.0) as (live, sim):
        peak = 0.0
        gauge = live.manager.metrics.active_streams
        set_gauge = gauge.set

        def record(value: float) -> None:  # every change of the held-streams gauge, not samples of it
            nonlocal peak
            peak = max(peak, value)
            set_gauge(value)

        gauge.set = record  # type: ignore[method-assign]
        handles = []
        for spec in specs:  # one after another, each as soon as the last webhook was answered
            handles.append(await sim.start_meeting(spec))
        async with asyncio.timeout(240):
            reports = list(await asyncio.gather(*(h.wait() for h in handles)))
        for report in reports:  # a bound, not a pace: on a loaded machine a late re-delivered webhook ends late
            await live.manager.wait_stream(report.rtms_stream_id, 120)
        started = live.metric("rtms_webhooks_total", outcome="started")
    sent = sum(r.lines_sent for r in reports)
    received = sum(len(collector.of(r.rtms_stream_id, "utterance")) for r in reports)
    retried = sum(1 for r in reports for w in r.webhooks if w.attempts > 1)
    print(f"meetings={len(reports)} sent={sent} received={received} started={started:g} "
          f"peak concurrent streams={peak:g} webhooks retried={retried}")
    assert len({r.rtms_stream_id for r in reports}) == 200 and started == 200
    assert peak >= 180, "the meetings overlap in one bridge process"
    assert sent == received == 200 * len(transcript.utterances)
    for report in reports:
        lines = collector.of(report.rtms_stream_id, "utterance")
        assert len(lines) == report.lines_sent and report.errors == [], report.name
        assert [u.text for u in lines] == [u.text for u in transcript.utterances]  # type: ignore[union-attr]
        assert all(w.delivered for w in report.webhooks)


async def test_keepalives_are_answered_on_both_sockets(collector: Collector) -> None:
    transcript = short(minutes=1.0)
    settings = make_settings(watchdog_timeout_s=1.0)
    async with bridge_and_simulator(settings, collector, speed=20.0, keepalive_interval_s=0.1) as (live, sim):
        handle = await sim.start_meeting(MeetingSpec(transcript=transcript))
        report = await handle.wait(timeout=60)
        await live.manager.wait_stream(handle.rtms_stream_id, 10)
        answered = {s: live.metric("rtms_keepalives_answered_total", socket=s) for s in ("signaling", "media")}
        reconnects = sum(live.metric("rtms_reconnects_total", scenario=s) for s in ("media", "signaling"))
    print(f"keep-alives sent={report.keepalives_sent} answered={report.keepalives_answered} bridge={answered}")
    check_delivery(collector, report, [u.text for u in transcript.utterances])
    assert answered["signaling"] > 0 and answered["media"] > 0
    assert report.keepalives_sent > 0 and report.keepalives_answered >= report.keepalives_sent - 2
    assert reconnects == 0 and report.reconnects == 0


async def test_watchdog_redials_a_silent_socket(collector: Collector) -> None:
    """Zoom silent (no keep-alives at all) for longer than the watchdog: the bridge redials and loses nothing."""
    transcript = short(minutes=1.0)
    settings = make_settings(watchdog_timeout_s=0.3)
    async with bridge_and_simulator(settings, collector, speed=20.0, keepalive_interval_s=30.0) as (live, sim):
        handle = await sim.start_meeting(MeetingSpec(transcript=transcript))
        report = await handle.wait(timeout=60)
        await live.manager.wait_stream(handle.rtms_stream_id, 10)
        reconnects = {s: live.metric("rtms_reconnects_total", scenario=s) for s in ("media", "signaling")}
    print(f"watchdog reconnects={reconnects}")
    check_delivery(collector, report, [u.text for u in transcript.utterances])
    assert report.lines_sent == report.lines_total and sum(reconnects.values()) >= 1


async def test_slow_consumer_gets_every_line_in_order() -> None:
    """A consumer far slower than the meeting, behind a tiny queue: the readers wait, nothing is dropped. The
    consumer holds its first line until the stream's reader has had to wait for room in the queue."""

    class Slow(Collector):
        live: LiveBridge | None = None

        async def handle(self, event: MeetingEvent) -> None:
            if event.kind == "utterance" and self.live is not None:
                live, self.live = self.live, None
                await until(lambda: live.metric("rtms_consumer_queue_full_total") > 0, timeout_s=30,
                            what="the reader to wait for room in the queue")
            await super().handle(event)

    slow = Slow()
    transcript = short()
    async with bridge_and_simulator(make_settings(queue_size=2), slow, speed=400.0) as (live, sim):
        slow.live = live
        handle = await sim.start_meeting(MeetingSpec(transcript=transcript))
        report = await handle.wait(timeout=60)
        await live.manager.wait_stream(handle.rtms_stream_id, 20)
        waits = live.metric("rtms_consumer_queue_full_total")
    print(f"queue full {waits:g} times")
    check_delivery(slow, report, [u.text for u in transcript.utterances])
    assert report.lines_sent == report.lines_total and waits > 0


@pytest.mark.parametrize("product", [Product.MEETING, Product.CONTACT_CENTER])
async def test_opt_in_media_and_language_hint(collector: Collector, product: Product) -> None:
    """Audio, video and chat sockets besides the transcript when configured; media outside the app's scopes
    (Contact Center: voice only) are skipped, not fatal."""
    transcript = short(minutes=1.0)
    settings = make_settings(media=["audio", "video", "chat"], transcript_language=9)
    async with bridge_and_simulator(settings, collector, speed=20.0) as (live, sim):
        handle = await sim.start_meeting(MeetingSpec(transcript=transcript, product=product, audio=True))
        report = await handle.wait(timeout=60)
        await live.manager.wait_stream(handle.rtms_stream_id, 10)
    check_delivery(collector, report, [u.text for u in transcript.utterances])
    expected_sockets = 1 + (4 if product is Product.MEETING else 2)  # signaling + one per granted medium
    print(f"{product.value}: connections={report.connections} audio packets={report.audio_packets_sent}")
    assert report.rejected_handshakes == [] and report.connections == expected_sockets
    assert report.audio_packets_sent > 0


async def test_styled_binary_frames_split_media_and_strict_subscription(collector: Collector) -> None:
    """The official SDK's frame layout (tab-indented JSON in binary frames), one media URL per medium, and a
    server that sends events only to subscribers: the bridge copes with all three at once."""
    transcript = short(minutes=2.0)
    options = {"frame_style": "styled", "frame_opcode": "binary", "media_mode": "split",
               "require_event_subscription": True}
    async with bridge_and_simulator(make_settings(), collector, **options) as (live, sim):
        handle = await sim.start_meeting(MeetingSpec(transcript=transcript))
        report = await handle.wait(timeout=60)
        await live.manager.wait_stream(handle.rtms_stream_id, 10)
        bad = live.metric("rtms_bad_frames_total", socket="media") + live.metric("rtms_bad_frames_total",
                                                                                  socket="signaling")
    check_delivery(collector, report, [u.text for u in transcript.utterances])
    events = collector.of(handle.rtms_stream_id)
    assert bad == 0 and report.lines_sent == report.lines_total
    assert any(isinstance(e, SpeakerChanged) for e in events)
    assert any(isinstance(e, ParticipantJoined) for e in events)


async def test_revoked_after_the_stream_ended(collector: Collector) -> None:
    """Stop reason 8 can come in the stopped webhook after the stream already ended for another reason: the
    consumer still hears `StreamRevoked` (after `MeetingEnded`) and the revoke hooks run."""
    transcript = short(minutes=1.0)
    revoked: list[str] = []
    async with bridge_and_simulator(make_settings(), collector) as (live, sim):

        async def purge(stream_id: str) -> None:
            revoked.append(stream_id)

        live.manager.on_revoke(purge)
        handle = await sim.start_meeting(MeetingSpec(transcript=transcript))
        report = await handle.wait(timeout=60)
        await live.manager.wait_stream(handle.rtms_stream_id, 10)
        payload = stream_payload(Product.MEETING, handle.instance_id, handle.rtms_stream_id, stop_reason=8)
        body, headers = signed("meeting.rtms_stopped", payload)
        async with httpx.AsyncClient(trust_env=False) as client:
            response = await client.post(live.webhook_url, content=body, headers=headers)
        assert response.json() == {"status": "revoked"}
        await live.manager.shutdown()
    events = collector.of(handle.rtms_stream_id)
    print(f"sent={report.lines_sent} received={len(collector.of(handle.rtms_stream_id, 'utterance'))}")
    assert isinstance(events[-1], StreamRevoked) and isinstance(events[-2], MeetingEnded)
    assert revoked == [handle.rtms_stream_id]
