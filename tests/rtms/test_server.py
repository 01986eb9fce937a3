"""The server state machines, fed frames and time directly: no sockets, no clock."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bridge.rtms.codec import encode, styled_json
from bridge.rtms.enums import EventType, MediaType, SessionState, StatusCode, StreamState
from bridge.rtms.errors import InvalidState
from bridge.rtms.messages import (
    AudioParams,
    ClientReadyAck,
    DataHandshakeRequest,
    DataHandshakeResponse,
    Event,
    EventSubscription,
    EventSubscriptionItem,
    EventUpdate,
    KeepAliveRequest,
    KeepAliveResponse,
    MediaParams,
    RtmsMessage,
    SessionStateRequest,
    SessionStateResponse,
    SessionStateUpdate,
    SignalingHandshakeRequest,
    SignalingHandshakeResponse,
    StreamCloseRequest,
    StreamCloseResponse,
    StreamStateRequest,
    StreamStateResponse,
    StreamStateUpdate,
    TranscriptContent,
    TranscriptData,
    VideoSubscriptionRequest,
    VideoSubscriptionResponse,
)
from bridge.rtms.protocol import ConnectionState, FrameIgnored, HandshakeRejected, KeepAliveAnswered
from bridge.rtms.server import (
    ClientReady,
    KeepAliveTimedOut,
    MediaAccepted,
    MediaServerConnection,
    ServerSettings,
    SignalingAccepted,
    SignalingServerConnection,
    StreamCloseRequested,
    StreamGrant,
    SubscriptionChanged,
    VideoSubscriptionRequested,
)
from bridge.rtms.signatures import handshake_signature

CLIENT_ID, SECRET = "cid", "csecret"
UUID, STREAM = "4444AAAiAAAAAiAiAiiAii==", "609340fb2a7946909659956c8aa9250c"
URLS = {k: f"ws://127.0.0.1:9/{k}" for k in ("audio", "video", "deskshare", "transcript", "chat", "all")}
GRANT = StreamGrant(
    rtms_stream_id=STREAM,
    instance_id=UUID,
    client_id=CLIENT_ID,
    client_secret=SECRET,
    scopes=MediaType.AUDIO | MediaType.TRANSCRIPT | MediaType.VIDEO,
    media_urls=URLS,
    signaling_connected=True,
)
SIG = handshake_signature(CLIENT_ID, SECRET, UUID, STREAM)
T0 = 1_800_000_000.0
SETTINGS = ServerSettings(keepalive_interval_s=10.0, keepalive_misses=3)


def lookup_of(grant: StreamGrant | None):  # type: ignore[no-untyped-def]
    return lambda stream_id: grant if grant is not None and stream_id == grant.rtms_stream_id else None


def signaling(grant: StreamGrant | None = GRANT, **settings: object) -> SignalingServerConnection:
    free = replace(grant, signaling_connected=False) if grant else None
    return SignalingServerConnection(lookup_of(free), replace(SETTINGS, **settings))  # type: ignore[arg-type]


def media(grant: StreamGrant | None = GRANT, **settings: object) -> MediaServerConnection:
    return MediaServerConnection(lookup_of(grant), replace(SETTINGS, **settings))  # type: ignore[arg-type]


def hello(**overrides: object) -> SignalingHandshakeRequest:
    fields: dict[str, object] = {"instance_id": UUID, "rtms_stream_id": STREAM, "signature": SIG, "sequence": 7}
    fields.update(overrides)
    return SignalingHandshakeRequest(**fields)  # type: ignore[arg-type]


def data_hello(media_type: int = 8, params: MediaParams | None = None, **overrides: object) -> DataHandshakeRequest:
    fields: dict[str, object] = {
        "instance_id": UUID,
        "rtms_stream_id": STREAM,
        "signature": SIG,
        "media_type": media_type,
        "media_params": params,
    }
    fields.update(overrides)
    return DataHandshakeRequest(**fields)  # type: ignore[arg-type]


def feed(conn: SignalingServerConnection | MediaServerConnection, message: RtmsMessage, now: float = T0) -> None:
    conn.receive_frame(encode(message), now)


def joined() -> SignalingServerConnection:
    conn = signaling()
    feed(conn, hello())
    conn.data_to_send()
    conn.events_received()
    return conn


def ready() -> SignalingServerConnection:
    conn = joined()
    feed(conn, ClientReadyAck(rtms_stream_id=STREAM))
    conn.events_received()
    return conn


# -- signaling handshake -------------------------------------------------------------------------------------------


def test_good_handshake_lists_media_urls_of_the_scopes_and_all() -> None:
    conn = signaling()
    feed(conn, hello())
    [reply] = conn.data_to_send()
    assert isinstance(reply, SignalingHandshakeResponse) and reply.status_code == StatusCode.OK
    assert reply.media_server is not None
    assert reply.media_server.server_urls == {k: URLS[k] for k in ("audio", "video", "transcript", "all")}
    assert reply.sequence == 7
    assert conn.events_received() == [SignalingAccepted(STREAM, UUID, "meeting_uuid", buffer_data=True)]
    assert conn.state is ConnectionState.OPEN


def test_styled_binary_frame_as_the_sdk_sends_it_is_accepted() -> None:
    conn = signaling()
    body = hello(rtms_client_agent="rtms_sdk_cpp-python").to_wire()
    conn.receive_frame(styled_json(body).encode(), T0)
    assert conn.events_received()[0] == SignalingAccepted(STREAM, UUID, "meeting_uuid", True, "rtms_sdk_cpp-python")


@pytest.mark.parametrize("key", ["webinar_uuid", "session_id", "engagement_id", "call_id"])
def test_any_product_id_key_is_accepted(key: str) -> None:
    conn = signaling()
    feed(conn, hello(id_key=key))
    [event] = conn.events_received()
    assert isinstance(event, SignalingAccepted) and event.id_key == key


@pytest.mark.parametrize(
    ("message", "grant", "status"),
    [
        (hello(signature="0" * 64), GRANT, StatusCode.INVALID_SIGNATURE),
        (hello(rtms_stream_id="f" * 32), GRANT, StatusCode.INVALID_RTMS_STREAM_ID),
        (hello(instance_id="other=="), GRANT, StatusCode.INVALID_RTMS_STREAM_ID),
        (hello(), None, StatusCode.INVALID_RTMS_STREAM_ID),
        (hello(protocol_version=2), GRANT, StatusCode.INVALID_PAYLOAD),
        (ClientReadyAck(rtms_stream_id=STREAM), GRANT, StatusCode.INVALID_MESSAGE_TYPE),
    ],
    ids=["bad-signature", "unknown-stream", "wrong-instance", "no-streams", "protocol-2", "not-a-handshake"],
)
def test_refused_handshakes_answer_a_status_and_close(
    message: RtmsMessage, grant: StreamGrant | None, status: int
) -> None:
    conn = signaling(grant)
    feed(conn, message)
    [reply] = conn.data_to_send()
    assert isinstance(reply, SignalingHandshakeResponse) and reply.status_code == status and reply.reason
    [event] = conn.events_received()
    assert isinstance(event, HandshakeRejected) and event.status_code == status
    assert conn.closed and conn.close_code == 1000
    assert conn.next_deadline() is None


def test_second_signaling_connection_gets_status_8() -> None:
    conn = SignalingServerConnection(lookup_of(GRANT), SETTINGS)  # the grant says the stream is held already
    feed(conn, hello())
    [reply] = conn.data_to_send()
    assert isinstance(reply, SignalingHandshakeResponse)
    assert reply.status_code == StatusCode.DUPLICATE_SIGNAL_REQUEST
    assert "duplicate signal request" in (reply.reason or "")


@pytest.mark.parametrize(
    ("frame", "status"), [("not json", 4), ('{"msg_type":"x"}', 1), ('{"msg_type":1}', 4), ('{"msg_type":99}', 1)]
)
def test_malformed_first_frames_are_refused(frame: str, status: int) -> None:
    conn = signaling()
    conn.receive_frame(frame, T0)
    [reply] = conn.data_to_send()
    assert isinstance(reply, SignalingHandshakeResponse) and reply.status_code == status
    assert conn.closed


def test_malformed_frame_after_handshake_is_ignored() -> None:
    conn = joined()
    conn.receive_frame("{", T0)
    [event] = conn.events_received()
    assert isinstance(event, FrameIgnored)
    assert not conn.closed and conn.data_to_send() == []


# -- signaling after the handshake ---------------------------------------------------------------------------------


def test_client_ready_ack_is_reported_once() -> None:
    conn = joined()
    feed(conn, ClientReadyAck(rtms_stream_id=STREAM))
    feed(conn, ClientReadyAck(rtms_stream_id=STREAM))
    assert conn.events_received() == [ClientReady(STREAM)]
    assert conn.state is ConnectionState.READY


def test_ready_ack_for_another_stream_is_ignored() -> None:
    conn = joined()
    feed(conn, ClientReadyAck(rtms_stream_id="other"))
    assert isinstance(conn.events_received()[0], FrameIgnored)
    assert conn.state is ConnectionState.OPEN


def test_second_handshake_on_the_same_socket_gets_status_8() -> None:
    conn = joined()
    feed(conn, hello())
    [reply] = conn.data_to_send()
    assert isinstance(reply, SignalingHandshakeResponse) and reply.status_code == 8
    assert not conn.closed


def test_events_need_a_subscription_only_when_required() -> None:
    relaxed = ready()
    assert relaxed.send_event(Event(event_type=EventType.PARTICIPANT_JOIN, timestamp=1), T0)
    strict = SignalingServerConnection(
        lookup_of(replace(GRANT, signaling_connected=False)), replace(SETTINGS, require_event_subscription=True)
    )
    feed(strict, hello())
    feed(strict, ClientReadyAck(rtms_stream_id=STREAM))
    strict.data_to_send()
    assert not strict.send_event(Event(event_type=EventType.ACTIVE_SPEAKER_CHANGE, timestamp=1), T0)
    assert strict.send_event(Event(event_type=EventType.FIRST_PACKET_TIMESTAMP, timestamp=1), T0)
    assert strict.send_event(Event(event_type=EventType.MEDIA_CONNECTION_INTERRUPTED, timestamp=1), T0)
    feed(strict, EventSubscription(events=[EventSubscriptionItem(event_type=2), EventSubscriptionItem(event_type=3)]))
    assert strict.events_received()[-1] == SubscriptionChanged(frozenset({2, 3}))
    assert strict.send_event(Event(event_type=EventType.ACTIVE_SPEAKER_CHANGE, timestamp=1), T0)
    feed(strict, EventSubscription(events=[EventSubscriptionItem(event_type=2, subscribe=False)]))
    assert not strict.send_event(Event(event_type=EventType.ACTIVE_SPEAKER_CHANGE, timestamp=1), T0)
    sent = strict.data_to_send()
    assert [type(m) for m in sent] == [EventUpdate, EventUpdate, EventUpdate]


def test_stream_and_session_states_and_their_requests() -> None:
    conn = ready()
    conn.send_stream_state(StreamState.ACTIVE, T0)
    conn.send_session_state("s1", SessionState.STARTED, T0)
    feed(conn, StreamStateRequest(rtms_stream_id=STREAM))
    feed(conn, SessionStateRequest(rtms_session_id="s1"))
    feed(conn, SessionStateRequest(rtms_session_id="nope"))
    conn.send_session_state("s1", SessionState.STOPPED, T0, reason=6)
    conn.send_stream_state(StreamState.TERMINATED, T0, reason=6)
    out = conn.data_to_send()
    assert out[0] == StreamStateUpdate(state=1, timestamp=int(T0 * 1000), rtms_stream_id=STREAM)
    assert out[1] == SessionStateUpdate(state=2, timestamp=int(T0 * 1000), rtms_session_id="s1")
    assert out[2] == StreamStateResponse(state=1, rtms_stream_id=STREAM, timestamp=int(T0 * 1000))
    assert out[3] == SessionStateResponse(rtms_session_id="s1", state=2, timestamp=int(T0 * 1000))
    assert out[4] == SessionStateResponse(rtms_session_id="nope", state=0, timestamp=int(T0 * 1000))
    stopped = out[5].to_wire()
    assert stopped["reason"] == 6 and stopped["stop_reason"] == 6  # both names: clients read one or the other
    assert out[6] == StreamStateUpdate(state=4, reason=6, timestamp=int(T0 * 1000), rtms_stream_id=STREAM)


def test_stream_close_request_is_answered_and_reported() -> None:
    conn = ready()
    feed(conn, StreamCloseRequest(rtms_stream_id=STREAM))
    [reply] = conn.data_to_send()
    assert isinstance(reply, StreamCloseResponse) and reply.status_code == 0
    assert conn.events_received() == [StreamCloseRequested(STREAM)]
    feed(conn, StreamCloseRequest(rtms_stream_id="other"))
    [reply] = conn.data_to_send()
    assert isinstance(reply, StreamCloseResponse) and reply.status_code == StatusCode.INVALID_RTMS_STREAM_ID


def test_video_subscription_is_answered() -> None:
    conn = ready()
    feed(conn, VideoSubscriptionRequest(user_id=16778240, subscribe=True))
    [reply] = conn.data_to_send()
    assert isinstance(reply, VideoSubscriptionResponse) and reply.status_code == 0 and reply.user_id == 16778240
    assert conn.events_received() == [VideoSubscriptionRequested(16778240, True)]


def test_sending_before_the_handshake_is_our_bug() -> None:
    conn = signaling()
    with pytest.raises(InvalidState):
        conn.send_stream_state(StreamState.ACTIVE, T0)


# -- keep-alive ----------------------------------------------------------------------------------------------------


def test_keepalives_go_out_when_idle_with_timestamp_and_sequence() -> None:
    conn = ready()
    assert conn.next_deadline() == T0 + 10
    conn.tick(T0 + 5)
    assert conn.data_to_send() == []
    conn.tick(T0 + 10)
    [first] = conn.data_to_send()
    assert first == KeepAliveRequest(timestamp=int((T0 + 10) * 1000), sequence=1)
    feed(conn, KeepAliveResponse(timestamp=first.timestamp, sequence=1), T0 + 10.1)
    assert conn.events_received() == [KeepAliveAnswered(timestamp=first.timestamp, sequence=1)]
    conn.tick(T0 + 20)
    [second] = conn.data_to_send()
    assert isinstance(second, KeepAliveRequest) and second.sequence == 2
    assert conn.keepalives_sent == 2 and conn.keepalives_answered == 1


def test_sending_anything_postpones_the_keepalive() -> None:
    conn = ready()
    conn.send_stream_state(StreamState.ACTIVE, T0 + 8)
    conn.tick(T0 + 10)
    assert [type(m) for m in conn.data_to_send()] == [StreamStateUpdate]
    assert conn.next_deadline() == T0 + 18


def test_three_unanswered_keepalives_time_out() -> None:
    conn = ready()
    now = T0
    sent = []
    for _ in range(10):
        deadline = conn.next_deadline()
        if deadline is None:
            break
        now = deadline
        conn.tick(now)
        sent += conn.data_to_send()
    assert [m.sequence for m in sent] == [1, 2, 3]  # type: ignore[attr-defined]
    assert conn.events_received() == [KeepAliveTimedOut(3)]
    assert now == T0 + 40 and conn.closed


def test_a_late_answer_resets_the_miss_count() -> None:
    conn = ready()
    conn.tick(T0 + 10)
    [ka1] = conn.data_to_send()
    conn.tick(T0 + 20)  # the first is missed, a second goes out
    conn.data_to_send()
    assert conn.keepalive_misses == 1
    assert isinstance(ka1, KeepAliveRequest)
    feed(conn, KeepAliveResponse(timestamp=ka1.timestamp, sequence=1), T0 + 21)
    assert conn.keepalive_misses == 0


def test_an_answer_to_nothing_is_ignored() -> None:
    conn = ready()
    feed(conn, KeepAliveResponse(timestamp=123, sequence=5))
    assert isinstance(conn.events_received()[0], FrameIgnored)


def test_keepalive_answer_without_sequence_matches_by_timestamp() -> None:
    conn = ready()
    conn.tick(T0 + 10)
    [ka] = conn.data_to_send()
    feed(conn, KeepAliveResponse(timestamp=ka.timestamp), T0 + 11)  # type: ignore[attr-defined]
    assert isinstance(conn.events_received()[0], KeepAliveAnswered)


# -- media -----------------------------------------------------------------------------------------------------------


def test_media_handshake_echoes_effective_params_unencrypted() -> None:
    conn = media()
    feed(conn, data_hello(1, MediaParams(audio=AudioParams(send_rate=1500))))
    [reply] = conn.data_to_send()
    assert isinstance(reply, DataHandshakeResponse) and reply.status_code == 0
    assert reply.payload_encrypted is False and reply.to_wire()["payload_encrypted"] is False
    assert reply.media_params is not None and reply.media_params.audio == AudioParams(
        content_type=2, sample_rate=1, channel=1, codec=1, data_opt=1, send_rate=1000
    )
    [event] = conn.events_received()
    assert isinstance(event, MediaAccepted) and event.media_type == MediaType.AUDIO and not event.all_media


def test_media_all_means_every_scoped_medium() -> None:
    conn = media()
    feed(conn, data_hello(32))
    [event] = conn.events_received()
    assert isinstance(event, MediaAccepted) and event.all_media
    assert event.media_type == MediaType.AUDIO | MediaType.TRANSCRIPT | MediaType.VIDEO


@pytest.mark.parametrize(
    ("grant", "media_type", "status"),
    [
        (GRANT, 0, StatusCode.MEDIA_TYPE_INVALID_VALUE),
        (GRANT, 64, StatusCode.MEDIA_TYPE_INVALID_VALUE),
        (GRANT, 33, StatusCode.MEDIA_TYPE_INVALID_VALUE),
        (GRANT, 4, StatusCode.MEDIA_TYPE_DESKSHARE_NOT_SUPPORT),
        (GRANT, 16, StatusCode.MEDIA_TYPE_CHAT_NOT_SUPPORT),
        (replace(GRANT, media_in_use=MediaType.TRANSCRIPT), 9, StatusCode.DUPLICATE_MEDIA_DATA_CONNECTION),
        (replace(GRANT, media_in_use=MediaType.AUDIO), 32, StatusCode.MEDIA_DATA_ALL_CONNECTION_EXIST),
        (
            replace(GRANT, media_in_use=MediaType.AUDIO | MediaType.TRANSCRIPT, media_all_in_use=True),
            2,
            StatusCode.MEDIA_DATA_ALL_CONNECTION_EXIST,
        ),
        (replace(GRANT, signaling_connected=False), 8, StatusCode.INVALID_RTMS_STREAM_ID),
    ],
    ids=[
        "zero",
        "too-big",
        "all-plus-audio",
        "deskshare-unscoped",
        "chat-unscoped",
        "duplicate",
        "all-after-one",
        "one-after-all",
        "no-signaling",
    ],
)
def test_media_handshake_refusals(grant: StreamGrant, media_type: int, status: int) -> None:
    conn = media(grant)
    feed(conn, data_hello(media_type))
    [reply] = conn.data_to_send()
    assert isinstance(reply, DataHandshakeResponse) and reply.status_code == status
    assert reply.payload_encrypted is False
    assert conn.closed and conn.close_code == 1000


def test_media_handshake_with_bad_signature() -> None:
    conn = media()
    feed(conn, data_hello(8, signature="ab" * 32))
    [reply] = conn.data_to_send()
    assert isinstance(reply, DataHandshakeResponse) and reply.status_code == StatusCode.INVALID_SIGNATURE


def test_media_params_of_the_wrong_type_are_status_17() -> None:
    conn = media()
    body = {**data_hello(1).to_wire(), "media_params": {"audio": {"send_rate": "fast"}}}
    conn.receive_frame(json.dumps(body), T0)
    [reply] = conn.data_to_send()
    assert isinstance(reply, DataHandshakeResponse) and reply.status_code == StatusCode.INVALID_MEDIA_PARAMS


def transcript_frame() -> TranscriptData:
    return TranscriptData(
        content=TranscriptContent(user_id=1, user_name="A", start_time=1, end_time=2, timestamp=1, data="hi")
    )


def test_no_media_before_client_ready_ack() -> None:
    conn = media()
    feed(conn, data_hello(8))
    conn.data_to_send()
    with pytest.raises(InvalidState):
        conn.send_media(transcript_frame(), T0)
    conn.start_streaming()
    conn.send_media(transcript_frame(), T0)
    assert conn.data_to_send() == [transcript_frame()]


def test_media_of_a_medium_the_connection_does_not_carry_is_our_bug() -> None:
    conn = media()
    feed(conn, data_hello(1))
    conn.start_streaming()
    with pytest.raises(InvalidState):
        conn.send_media(transcript_frame(), T0)
    with pytest.raises(InvalidState):
        conn.send_media(KeepAliveRequest(timestamp=1), T0)


def test_media_keepalives_and_timeout() -> None:
    conn = media(keepalive_interval_s=1.0)
    feed(conn, data_hello(8))
    conn.data_to_send()
    conn.tick(T0 + 1)
    [ka] = conn.data_to_send()
    assert ka == KeepAliveRequest(timestamp=int((T0 + 1) * 1000), sequence=1)
    for t in (2, 3, 4):
        conn.tick(T0 + t)
    assert conn.events_received()[-1] == KeepAliveTimedOut(3)


def test_streaming_a_closed_connection_is_our_bug() -> None:
    conn = media()
    with pytest.raises(InvalidState):
        conn.start_streaming()


def test_frames_after_close_are_dropped() -> None:
    conn = ready()
    conn.close()
    feed(conn, KeepAliveResponse(timestamp=1))
    assert conn.events_received() == [] and conn.data_to_send() == []
