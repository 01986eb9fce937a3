"""The client state machines with no sockets: frames in, frames out, events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bridge.rtms.client import (
    ClientCredentials,
    ClientEvent,
    HandshakeDone,
    MediaConnection,
    MediaInterrupted,
    Received,
    SignalingConnection,
    StreamIdentity,
    StreamTerminated,
    is_duplicate,
)
from bridge.rtms.codec import encode
from bridge.rtms.enums import MediaType, StatusCode
from bridge.rtms.errors import HandshakeFailed, InvalidState
from bridge.rtms.messages import MediaParams, TranscriptData, TranscriptParams
from bridge.rtms.protocol import ConnectionState, FrameIgnored, HandshakeRejected, KeepAliveAnswered
from tests.rtms.golden import CLIENT_ID, CLIENT_SECRET, GOLDEN, MEETING_UUID, SDK_SIGNATURE, STREAM_ID

CREDS = ClientCredentials(CLIENT_ID, CLIENT_SECRET)
STREAM = StreamIdentity(MEETING_UUID, STREAM_ID)


def sent(conn: SignalingConnection | MediaConnection) -> list[dict[str, Any]]:
    return [json.loads(encode(message)) for message in conn.data_to_send()]


def receive(conn: SignalingConnection | MediaConnection, frame: str | bytes, now: float) -> list[ClientEvent]:
    """What the I/O layer does: feed one frame, then take the events."""
    conn.receive_frame(frame, now)
    return conn.events_received()


def golden(name: str) -> str | bytes:
    return next(g.frame for g in GOLDEN if g.name == name)


def open_signaling() -> SignalingConnection:
    conn = SignalingConnection(STREAM, CREDS)
    conn.start_handshake(1)
    conn.data_to_send()
    receive(conn, golden("2 docs example"), 0.0)
    return conn


def test_signaling_handshake_frame_is_signed_like_the_official_sdk() -> None:
    conn = SignalingConnection(STREAM, CREDS)
    conn.start_handshake(7, buffer_data=False)
    assert sent(conn) == [{
        "msg_type": 1, "protocol_version": 1, "sequence": 7, "meeting_uuid": MEETING_UUID,
        "rtms_stream_id": STREAM_ID, "signature": SDK_SIGNATURE, "buffer_data": False,
    }]
    assert conn.state is ConnectionState.HANDSHAKING


def test_handshake_uses_the_products_id_key() -> None:
    conn = SignalingConnection(StreamIdentity("eng_1", "s1", "engagement_id"), CREDS)
    conn.start_handshake()
    (frame,) = sent(conn)
    assert frame["engagement_id"] == "eng_1" and "meeting_uuid" not in frame


def test_signaling_response_opens_and_lists_media_servers() -> None:
    conn = SignalingConnection(STREAM, CREDS)
    conn.start_handshake()
    conn.data_to_send()
    events = receive(conn, golden("2 docs example"), 1.0)
    assert events == [HandshakeDone(media_urls={"audio": "wss://127.0.0.0:443", "video": "wss://127.0.0.0:443",
                                                "transcript": "wss://127.0.0.0:443", "all": "wss://127.0.0.0:443"})]
    assert conn.state is ConnectionState.OPEN
    conn.ready()
    conn.subscribe()
    assert sent(conn) == [
        {"msg_type": 7, "rtms_stream_id": STREAM_ID},
        {"msg_type": 5, "events": [{"event_type": 2, "subscribe": True}, {"event_type": 3, "subscribe": True},
                                   {"event_type": 4, "subscribe": True}]},
    ]


@pytest.mark.parametrize("frame_name", ["2 failure with status code", "2 old mock failure without status_code"])
def test_refused_handshake_is_stored_and_raised_later(frame_name: str) -> None:
    conn = SignalingConnection(STREAM, CREDS)
    conn.start_handshake()
    (event,) = receive(conn, golden(frame_name), 0.0)
    assert isinstance(event, HandshakeRejected) and not event.duplicate
    assert conn.state is ConnectionState.CLOSED
    with pytest.raises(HandshakeFailed, match="signaling handshake failed"):
        conn.raise_for_handshake()
    with pytest.raises(InvalidState):
        conn.ready()


def test_status_8_is_recognised_as_a_duplicate() -> None:
    conn = SignalingConnection(STREAM, CREDS)
    conn.start_handshake()
    (event,) = receive(conn, golden("2 status alias"), 0.0)
    assert isinstance(event, HandshakeRejected) and event.duplicate
    assert event.status_code == StatusCode.DUPLICATE_SIGNAL_REQUEST
    assert is_duplicate(HandshakeFailed("signaling", 17, "Duplicate signal request"))  # legacy list
    assert not is_duplicate(HandshakeFailed("signaling", 3, "invalid signature"))


@pytest.mark.parametrize("request_frame, answer", [
    ('{"msg_type":12,"timestamp":1727384349123,"sequence":42}',
     {"msg_type": 13, "timestamp": 1727384349123, "sequence": 42}),
    ('{"msg_type":12,"timestamp":1727384349123}', {"msg_type": 13, "timestamp": 1727384349123}),
    (b'{\n\t"msg_type" : 12,\n\t"sequence" : 3,\n\t"timestamp" : 5\n}\n', {"msg_type": 13, "timestamp": 5,
                                                                           "sequence": 3}),
])
def test_keepalive_is_answered_inside_the_core(request_frame: str | bytes, answer: dict[str, Any]) -> None:
    for conn in (open_signaling(), MediaConnection(STREAM, CREDS, MediaType.TRANSCRIPT)):
        events = receive(conn, request_frame, 5.0)
        assert events == [KeepAliveAnswered(answer["timestamp"], answer.get("sequence"))]
        assert sent(conn) == [answer]
        assert conn.keepalives_answered == 1


def test_media_handshake_and_transcript_data() -> None:
    params = MediaParams(transcript=TranscriptParams(content_type=5, src_language=9, enable_lid=False))
    conn = MediaConnection(STREAM, CREDS, MediaType.TRANSCRIPT, params)
    conn.start_handshake(3)
    (frame,) = sent(conn)
    assert frame["msg_type"] == 3 and frame["media_type"] == 8 and frame["signature"] == SDK_SIGNATURE
    assert frame["media_params"] == {"transcript": {"content_type": 5, "src_language": 9, "enable_lid": False}}
    (done,) = receive(conn, golden("4 status alias and media_params null"), 0.0)
    assert isinstance(done, HandshakeDone) and conn.state is ConnectionState.OPEN
    (line,) = receive(conn, next(g.frame for g in GOLDEN if g.model.msg_type == 17), 1.0)
    assert isinstance(line, Received) and isinstance(line.message, TranscriptData)


def test_media_duplicate_connection_is_transient() -> None:
    conn = MediaConnection(STREAM, CREDS, MediaType.TRANSCRIPT)
    conn.start_handshake()
    (event,) = receive(conn, golden("4 failure"), 0.0)
    assert isinstance(event, HandshakeRejected) and event.duplicate


def test_stream_state_4_terminates() -> None:
    conn = open_signaling()
    events = receive(conn, '{"msg_type":8,"state":4,"reason":6,"timestamp":1}', 2.0)
    assert events[-1] == StreamTerminated(6)
    assert conn.state is ConnectionState.CLOSED
    # Once closed, keep-alives are no longer answered.
    receive(conn, '{"msg_type":12,"timestamp":1,"sequence":1}', 3.0)
    assert conn.data_to_send() == []


def test_string_reason_of_the_old_mock_terminates_too() -> None:
    conn = MediaConnection(STREAM, CREDS, MediaType.TRANSCRIPT)
    events = receive(conn, golden("8 old mock: string reason, rtms_stream_id"), 0.0)
    assert events[-1] == StreamTerminated(None, "Meeting ended")


def test_media_interruption_signals() -> None:
    conn = open_signaling()
    events = receive(conn, '{"msg_type":6,"event":{"event_type":7,"timestamp":9,"media_type":8}}', 1.0)
    assert events[-1] == MediaInterrupted(9, 8)
    events = receive(conn, '{"msg_type":8,"state":2,"reason":14,"timestamp":10}', 1.0)
    assert events[-1] == MediaInterrupted(10)


@pytest.mark.parametrize("frame", [b"\xff\xfe", "not json", "[1]", '{"msg_type":99}', '{"msg_type":17}', ""])
def test_bad_frames_never_raise(frame: str | bytes) -> None:
    conn = open_signaling()
    (event,) = receive(conn, frame, 1.0)
    assert isinstance(event, FrameIgnored)
    assert conn.state is ConnectionState.OPEN and conn.data_to_send() == []


def test_unexpected_handshake_reply_is_rejected_not_obeyed() -> None:
    conn = open_signaling()
    (event,) = receive(conn, golden("2 failure with status code"), 1.0)
    assert isinstance(event, FrameIgnored)
    assert conn.state is ConnectionState.OPEN


def test_watchdog_clock_measures_any_inbound_frame() -> None:
    conn = SignalingConnection(STREAM, CREDS)
    conn.mark_connected(10.0)
    assert conn.idle_for(25.0) == 15.0
    receive(conn, "garbage", 30.0)
    assert conn.idle_for(31.0) == 1.0


def test_misuse_raises_invalid_state() -> None:
    conn = SignalingConnection(STREAM, CREDS)
    with pytest.raises(InvalidState):
        conn.ready()
    conn.start_handshake()
    with pytest.raises(InvalidState):
        conn.start_handshake()
    assert isinstance(InvalidState("x"), AssertionError)


def test_every_golden_server_frame_is_accepted_by_an_open_client() -> None:
    """The client tolerates every shape a server may send (golden table, both socket kinds)."""
    server_types = {2, 4, 6, 8, 9, 11, 12, 14, 15, 16, 17, 18, 20, 22, 23, 24, 25, 26, 27, 29}
    for row in GOLDEN:
        if row.msg_type not in server_types:
            continue
        conn: SignalingConnection | MediaConnection = open_signaling() if row.msg_type != 4 else \
            MediaConnection(STREAM, CREDS, MediaType.TRANSCRIPT)
        if row.msg_type == 4:
            conn.start_handshake()
            conn.data_to_send()
        events = receive(conn, row.frame, 1.0)
        assert events and not any(isinstance(e, FrameIgnored) for e in events if row.msg_type != 2), row.name


def test_encode_of_client_messages_round_trips() -> None:
    conn = open_signaling()
    conn.ready()
    frames = [encode(message) for message in conn.data_to_send()]
    assert frames == [encode(next(g.model for g in GOLDEN if g.name == "7 docs example"))]
