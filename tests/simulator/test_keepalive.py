"""Keep-alives over real sockets: sent while idle with `timestamp` and `sequence`, on both sockets; three unanswered
ones interrupt the stream (`*.rtms_interrupted`), and a stream nobody comes back to ends with stop reason 24."""

from __future__ import annotations

import time

from bridge.rtms.codec import encode
from bridge.rtms.enums import StopReason
from bridge.rtms.messages import ClientReadyAck, KeepAliveRequest
from bridge.simulator import MeetingSpec, Simulator
from tests.simulator.conftest import eventually, fast_config, make_transcript, run_meeting
from tests.simulator.raw import recv, signaling_handshake
from tests.simulator.webhook_receiver import Request, Response, WebhookReceiver


async def test_keepalives_while_idle_on_both_sockets() -> None:
    transcript = make_transcript(3, step_ms=2000)
    report, log, _, _ = await run_meeting(MeetingSpec(transcript=transcript), speed=5.0, keepalive_interval_s=0.1)
    now_ms = time.time() * 1000
    by_socket: dict[str, list[KeepAliveRequest]] = {}
    for socket, ka in log.keepalives:
        by_socket.setdefault(socket, []).append(ka)
    assert set(by_socket) == {"signaling", "media"}
    for requests in by_socket.values():
        assert [ka.sequence for ka in requests] == list(range(1, len(requests) + 1))
        assert all(isinstance(ka.timestamp, int) and now_ms - 10_000 < ka.timestamp <= now_ms for ka in requests)
        assert "sequence" in requests[0].to_wire()  # the official SDK answers only keep-alives that carry it
    assert report.keepalives_sent == len(log.keepalives)
    # every one is answered; only the last on each socket may still be in flight when the stream ends
    assert report.keepalives_sent - 2 <= report.keepalives_answered <= report.keepalives_sent
    assert report.complete


async def test_three_unanswered_keepalives_interrupt_then_end_the_stream() -> None:
    received: list[Request] = []

    async def ok(request: Request) -> Response:
        received.append(request)
        return Response(200)

    async with (
        WebhookReceiver(ok) as receiver,
        Simulator(
            fast_config(
                receiver.url, validate_url_first=False, keepalive_interval_s=0.05, signaling_reconnect_window_s=0.3
            )
        ) as sim,
    ):
        handle = await sim.start_meeting(MeetingSpec(transcript=make_transcript(2, step_ms=60_000)))
        reply, ws = await signaling_handshake(sim.signaling_url, handle)
        assert reply is not None and reply.status_code == 0
        await ws.send(encode(ClientReadyAck(rtms_stream_id=handle.rtms_stream_id)))
        keepalives = []
        while (message := await recv(ws)) is not None:  # never answered
            if isinstance(message, KeepAliveRequest):
                keepalives.append(message)
        assert ws.close_code == 1006  # cut, not closed: the client is meant to come back
        assert [ka.sequence for ka in keepalives] == [1, 2, 3]
        await eventually(lambda: any(r.event == "meeting.rtms_interrupted" for r in received))
        report = await handle.wait(timeout=5)
    assert report.stop_reason == StopReason.KEEP_ALIVE_TIMEOUT
    stopped = next(r for r in received if r.event == "meeting.rtms_stopped")
    assert stopped.json["payload"]["stop_reason"] == 24
    assert report.keepalives_sent == 3 and report.keepalives_answered == 0


async def test_answered_keepalives_never_interrupt() -> None:
    report, log, app, _ = await run_meeting(
        MeetingSpec(transcript=make_transcript(4, step_ms=3000)), speed=20.0, keepalive_interval_s=0.05
    )
    assert report.keepalives_answered >= 10 and report.keepalives_answered >= report.keepalives_sent - 2
    assert not app.receiver.of("meeting.rtms_interrupted") and log.joins == 1 and report.complete
