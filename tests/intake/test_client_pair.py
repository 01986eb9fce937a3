"""The client core joined in memory to the server core (what the simulator runs): a whole stream, no sockets."""

from __future__ import annotations

from bridge.rtms.client import (
    BaseClientConnection,
    ClientCredentials,
    HandshakeDone,
    MediaConnection,
    Received,
    SignalingConnection,
    StreamIdentity,
    StreamTerminated,
)
from bridge.rtms.codec import encode
from bridge.rtms.enums import MediaType, StatusCode, StreamState
from bridge.rtms.messages import TranscriptContent, TranscriptData
from bridge.rtms.protocol import HandshakeRejected, KeepAliveAnswered
from bridge.rtms.server import (
    ClientReady,
    MediaAccepted,
    MediaServerConnection,
    ServerSettings,
    SignalingServerConnection,
    StreamGrant,
    _ServerConnection,
)

CREDS = ClientCredentials("cid", "csecret")
STREAM = StreamIdentity("uuid==", "stream-1")
URLS = {"transcript": "ws://127.0.0.1:1/t", "all": "ws://127.0.0.1:1/a"}


def grant(signaling_connected: bool = False, secret: str = "csecret") -> StreamGrant:
    return StreamGrant(rtms_stream_id="stream-1", instance_id="uuid==", client_id="cid", client_secret=secret,
                       scopes=MediaType.TRANSCRIPT | MediaType.AUDIO, media_urls=URLS,
                       signaling_connected=signaling_connected)


def pump(client: BaseClientConnection, server: _ServerConnection, now: float) -> list[object]:
    """Move frames both ways until quiet; return the client's events."""
    events: list[object] = []
    for _ in range(20):
        moved = False
        for message in client.data_to_send():
            server.receive_frame(encode(message), now)
            moved = True
        for message in server.data_to_send():
            client.receive_frame(encode(message), now)
            events.extend(client.events_received())
            moved = True
        if not moved:
            return events
    raise AssertionError("the pair never went quiet")


def test_a_whole_stream_in_memory() -> None:
    sig_server = SignalingServerConnection(lambda _id: grant(), ServerSettings(keepalive_interval_s=10))
    sig = SignalingConnection(STREAM, CREDS)
    sig.start_handshake(1)
    events = pump(sig, sig_server, 0.0)
    assert events == [HandshakeDone(media_urls=URLS)]

    media_server = MediaServerConnection(lambda _id: grant(signaling_connected=True))
    media = MediaConnection(STREAM, CREDS, MediaType.TRANSCRIPT)
    media.start_handshake(1)
    events = pump(media, media_server, 0.1)
    assert isinstance(events[0], HandshakeDone)
    assert any(isinstance(e, MediaAccepted) for e in media_server.events_received())

    sig.ready()
    sig.subscribe()
    pump(sig, sig_server, 0.2)
    assert any(isinstance(e, ClientReady) for e in sig_server.events_received())
    media_server.start_streaming()

    line = TranscriptData(content=TranscriptContent(user_id=1, user_name="A", start_time=1, end_time=2,
                                                    timestamp=1, data="hello"))
    media_server.send_media(line, 0.3)
    (received,) = pump(media, media_server, 0.3)
    assert isinstance(received, Received) and received.message == line

    # Idle: the server asks, the client core answers with no help from the I/O layer.
    sig_server.tick(20.0)
    events = pump(sig, sig_server, 20.0)
    assert [type(e) for e in events] == [KeepAliveAnswered]
    assert sig_server.keepalives_answered == 1 and sig_server.keepalive_misses == 0

    sig_server.send_stream_state(StreamState.TERMINATED, 21.0, reason=6)
    events = pump(sig, sig_server, 21.0)
    assert events[-1] == StreamTerminated(6)


def test_wrong_secret_is_refused_and_a_second_signaling_gets_status_8() -> None:
    server = SignalingServerConnection(lambda _id: grant(secret="other"))
    client = SignalingConnection(STREAM, CREDS)
    client.start_handshake()
    (event,) = pump(client, server, 0.0)
    assert isinstance(event, HandshakeRejected) and event.status_code == StatusCode.INVALID_SIGNATURE
    assert not event.duplicate

    server = SignalingServerConnection(lambda _id: grant(signaling_connected=True))
    client = SignalingConnection(STREAM, CREDS)
    client.start_handshake()
    (event,) = pump(client, server, 0.0)
    assert isinstance(event, HandshakeRejected) and event.duplicate
