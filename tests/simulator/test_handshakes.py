"""Handshakes over real sockets: status codes of section 9.9, close codes, one signaling connection per stream,
no media before CLIENT_READY_ACK, and the WebSocket-level behaviour a real client relies on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect

from bridge.rtms.codec import encode, styled_json
from bridge.rtms.enums import Product, StatusCode
from bridge.rtms.messages import (
    AudioParams,
    ClientReadyAck,
    DataHandshakeResponse,
    MediaParams,
    SignalingHandshakeRequest,
    SignalingHandshakeResponse,
    TranscriptData,
)
from bridge.simulator import MeetingHandle, MeetingSpec, Simulator
from tests.simulator.conftest import fast_config, make_transcript
from tests.simulator.raw import media_handshake, recv, signaling_handshake, signature_for
from tests.simulator.webhook_receiver import Response, WebhookReceiver
from tests.waiting import until


async def _ok(_: object) -> Response:
    return Response(200)


@pytest.fixture
async def served() -> AsyncIterator[tuple[Simulator, MeetingHandle]]:
    """A simulator with one meeting nobody joins yet (webhooks go to a plain 200 receiver)."""
    async with (
        WebhookReceiver(_ok) as receiver,
        Simulator(fast_config(receiver.url, validate_url_first=False, speed=20.0)) as sim,
    ):
        handle = await sim.start_meeting(MeetingSpec(transcript=make_transcript(4)))
        yield sim, handle


async def test_good_handshake(served: tuple[Simulator, MeetingHandle]) -> None:
    sim, handle = served
    reply, ws = await signaling_handshake(sim.signaling_url, handle)
    assert reply is not None and reply.status_code == 0 and reply.reason == ""
    assert reply.media_server is not None
    assert set(reply.media_server.server_urls) == {"audio", "video", "deskshare", "transcript", "chat", "all"}
    await ws.close()


async def test_bad_signature_gets_3_and_a_normal_close(served: tuple[Simulator, MeetingHandle]) -> None:
    sim, handle = served
    reply, ws = await signaling_handshake(sim.signaling_url, handle, signature="00" * 32)
    assert reply is not None and reply.status_code == StatusCode.INVALID_SIGNATURE
    await ws.wait_closed()
    assert ws.close_code == 1000
    assert handle._stream.rejected[-1][:2] == ("signaling", 3)


async def test_unknown_stream_gets_2(served: tuple[Simulator, MeetingHandle]) -> None:
    sim, handle = served
    reply, ws = await signaling_handshake(sim.signaling_url, handle, stream_id="0" * 32)
    assert reply is not None and reply.status_code == StatusCode.INVALID_RTMS_STREAM_ID
    await ws.wait_closed()
    assert ws.close_code == 1000


async def test_one_signaling_connection_per_stream(served: tuple[Simulator, MeetingHandle]) -> None:
    sim, handle = served
    first, ws1 = await signaling_handshake(sim.signaling_url, handle)
    second, ws2 = await signaling_handshake(sim.signaling_url, handle)
    assert first is not None and first.status_code == 0
    assert second is not None and second.status_code == StatusCode.DUPLICATE_SIGNAL_REQUEST
    assert "duplicate signal request" in (second.reason or "")
    await ws2.wait_closed()
    assert ws2.close_code == 1000
    await ws1.close()
    await until(lambda: _signaling_gone(handle), what="the server to notice the first connection is gone")
    third, ws3 = await signaling_handshake(sim.signaling_url, handle)
    assert third is not None and third.status_code == 0
    await ws3.close()


async def test_media_waits_for_client_ready_ack(served: tuple[Simulator, MeetingHandle]) -> None:
    sim, handle = served
    reply, signaling = await signaling_handshake(sim.signaling_url, handle)
    assert reply is not None and reply.media_server is not None
    media_reply, media = await media_handshake(reply.media_server.server_urls["transcript"], handle, 8)
    assert media_reply is not None and media_reply.status_code == 0 and media_reply.payload_encrypted is False
    # no CLIENT_READY_ACK: nothing arrives, though a 20x replay would have sent every line by now
    with pytest.raises(TimeoutError):
        await recv(media, within_s=0.4)
    await signaling.send(encode(ClientReadyAck(rtms_stream_id=handle.rtms_stream_id)))
    first = await recv(media)
    assert isinstance(first, TranscriptData) and first.content.data == "line 0 from Alice"
    await media.close()
    await signaling.close()


@pytest.mark.parametrize(
    ("media_types", "status"),
    [
        ((8, 8), StatusCode.DUPLICATE_MEDIA_DATA_CONNECTION),
        ((1, 9), StatusCode.DUPLICATE_MEDIA_DATA_CONNECTION),
        ((32, 1), StatusCode.MEDIA_DATA_ALL_CONNECTION_EXIST),
        ((8, 32), StatusCode.MEDIA_DATA_ALL_CONNECTION_EXIST),
        ((64,), StatusCode.MEDIA_TYPE_INVALID_VALUE),
    ],
)
async def test_media_connection_rules(
    served: tuple[Simulator, MeetingHandle], media_types: tuple[int, ...], status: int
) -> None:
    sim, handle = served
    reply, signaling = await signaling_handshake(sim.signaling_url, handle)
    assert reply is not None and reply.media_server is not None
    url = reply.media_server.server_urls["all"]
    sockets = []
    for media_type in media_types[:-1]:
        ok, ws = await media_handshake(url, handle, media_type)
        assert ok is not None and ok.status_code == 0
        sockets.append(ws)
    refused, ws = await media_handshake(url, handle, media_types[-1])
    assert refused is not None and refused.status_code == status
    await ws.wait_closed()
    assert ws.close_code == 1000
    for sock in [*sockets, signaling]:
        await sock.close()


async def test_media_params_are_checked_and_echoed(served: tuple[Simulator, MeetingHandle]) -> None:
    sim, handle = served
    reply, signaling = await signaling_handshake(sim.signaling_url, handle)
    assert reply is not None and reply.media_server is not None
    url = reply.media_server.server_urls["audio"]
    bad, ws = await media_handshake(url, handle, 1, MediaParams(audio=AudioParams(send_rate=30)))
    assert bad is not None and bad.status_code == StatusCode.INVALID_MEDIA_AUDIO_SEND_RATE
    await ws.close()
    good, ws = await media_handshake(url, handle, 1, MediaParams(audio=AudioParams(send_rate=4000)))
    assert isinstance(good, DataHandshakeResponse) and good.media_params is not None
    assert good.media_params.audio is not None and good.media_params.audio.send_rate == 1000
    await ws.close()
    await signaling.close()


async def test_media_before_signaling_is_refused(served: tuple[Simulator, MeetingHandle]) -> None:
    sim, handle = served
    refused, ws = await media_handshake(sim.pair(0).media_base_url, handle, 8)
    assert refused is not None and refused.status_code == StatusCode.INVALID_RTMS_STREAM_ID
    await ws.close()


async def test_unscoped_media_of_a_product(served: tuple[Simulator, MeetingHandle]) -> None:
    sim, _ = served
    zcc = await sim.start_meeting(MeetingSpec(transcript=make_transcript(2), product=Product.CONTACT_CENTER))
    reply, signaling = await signaling_handshake(sim.signaling_url, zcc, id_key="engagement_id")
    assert reply is not None and reply.status_code == 0
    refused, ws = await media_handshake(sim.pair(0).media_base_url, zcc, 2)
    assert refused is not None and refused.status_code == StatusCode.MEDIA_TYPE_VIDEO_NOT_SUPPORT
    await ws.close()
    await signaling.close()


async def test_binary_styled_handshake_and_ws_ping(served: tuple[Simulator, MeetingHandle]) -> None:
    sim, handle = served
    async with connect(sim.signaling_url, ping_interval=None) as ws:
        request = SignalingHandshakeRequest(
            instance_id=handle.instance_id,
            rtms_stream_id=handle.rtms_stream_id,
            signature=signature_for(handle),
            sequence=209466,
            rtms_client_agent="rtms_sdk_cpp-.0.20260319-python-rtms",
        )
        await ws.send(styled_json(request.to_wire()).encode())
        reply = await recv(ws)
        assert isinstance(reply, SignalingHandshakeResponse) and reply.status_code == 0
        pong = await ws.ping()
        async with asyncio.timeout(2):
            await pong  # RFC 6455 ping answered


async def test_garbage_first_frame(served: tuple[Simulator, MeetingHandle]) -> None:
    sim, _ = served
    async with connect(sim.signaling_url, ping_interval=None) as ws:
        await ws.send(b"\xff\xfe not json")
        reply = await recv(ws)
        assert isinstance(reply, SignalingHandshakeResponse) and reply.status_code == StatusCode.INVALID_PAYLOAD
        await ws.wait_closed()
        assert ws.close_code == 1000


async def test_silent_socket_is_closed_after_the_handshake_timeout() -> None:
    async with (
        WebhookReceiver(_ok) as receiver,
        Simulator(fast_config(receiver.url, validate_url_first=False, handshake_timeout_s=0.2)) as sim,
        connect(sim.signaling_url, ping_interval=None) as ws,
    ):
        async with asyncio.timeout(2):
            await ws.wait_closed()
        assert ws.close_code == 1000


def _signaling_gone(handle: MeetingHandle) -> bool:
    """The simulator no longer holds a live signaling link for the stream (its private state: only tests look)."""
    link = handle._stream.signaling
    return link is None or not link.alive
