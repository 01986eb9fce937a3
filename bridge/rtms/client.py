"""The client side of RTMS as sans-I/O state machines: one signaling connection and one per media socket.

The I/O layer (bridge/intake/stream.py) owns sockets and timers. After every inbound frame it does three things,
in this order: `receive_frame(frame, now)`, write `data_to_send()` (messages it encodes), then act on
`events_received()`. Keep-alive requests are answered here (echoing `timestamp` and `sequence`), so an answer is
queued before the application sees anything. A refused handshake is stored in `handshake_error` and also reported
as `HandshakeRejected`; the I/O layer raises it with `raise_for_handshake()` when it decides what to do next. Bad
frames never raise out of `receive_frame()`: they come back as `FrameIgnored`. The base machine, the shared
states and events are in `bridge.rtms.protocol`; the server side is `bridge.rtms.server`.

States: IDLE -> HANDSHAKING -> OPEN -> CLOSED (terminated, refused, or closed by us). Sending in the wrong state
raises `InvalidState` (a bug in the caller).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from bridge.rtms.enums import EventType, MediaType, MessageType, StopReason, StreamState
from bridge.rtms.errors import HandshakeFailed, InvalidState, MalformedFrame
from bridge.rtms.messages import (
    ClientReadyAck,
    DataHandshakeRequest,
    DataHandshakeResponse,
    EventSubscription,
    EventSubscriptionItem,
    EventUpdate,
    KeepAliveRequest,
    KeepAliveResponse,
    MediaParams,
    RtmsMessage,
    SignalingHandshakeRequest,
    SignalingHandshakeResponse,
    StreamCloseRequest,
    StreamStateUpdate,
)
from bridge.rtms.protocol import (
    Connection,
    ConnectionState,
    FrameIgnored,
    Handler,
    HandshakeRejected,
    KeepAliveAnswered,
    is_duplicate_status,
)
from bridge.rtms.signatures import handshake_signature

# Events the bridge asks for; FIRST_PACKET_TIMESTAMP and MEDIA_CONNECTION_INTERRUPTED come unasked.
DEFAULT_SUBSCRIPTION = (EventType.ACTIVE_SPEAKER_CHANGE, EventType.PARTICIPANT_JOIN, EventType.PARTICIPANT_LEAVE)

# media_server.server_urls key for each medium a media socket can carry.
MEDIA_URL_KEYS: dict[MediaType, str] = {
    MediaType.AUDIO: "audio",
    MediaType.VIDEO: "video",
    MediaType.DESKSHARE: "deskshare",
    MediaType.TRANSCRIPT: "transcript",
    MediaType.CHAT: "chat",
}

@dataclass(frozen=True)
class StreamIdentity:
    """What names a stream in every handshake. `id_key` is the product's key (meeting_uuid, engagement_id...)."""

    instance_id: str
    rtms_stream_id: str
    id_key: str = "meeting_uuid"


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str = field(repr=False)

    def sign(self, stream: StreamIdentity) -> str:
        return handshake_signature(self.client_id, self.client_secret, stream.instance_id, stream.rtms_stream_id)


# ------------------------------------------------------------------------------------------------------------
# Events for the application (with HandshakeRejected, KeepAliveAnswered and FrameIgnored from bridge.rtms.protocol)


@dataclass(frozen=True)
class HandshakeDone:
    """The handshake succeeded. Signaling: `media_urls` lists the media servers; media: `media_params` echoed."""

    media_urls: Mapping[str, str] = field(default_factory=dict)
    media_params: MediaParams | None = None


@dataclass(frozen=True)
class StreamTerminated:
    """STREAM_STATE_UPDATE state 4: Zoom ended the stream; no reconnect."""

    reason: int | None
    reason_text: str | None = None


@dataclass(frozen=True)
class MediaInterrupted:
    """A media socket dropped on Zoom's side (event 7, or stream state 2 with reason 14): reconnect media only.

    Which socket is undocumented; `media_type` is the bitmask when the event names one (an extra field some
    servers add), else None.
    """

    timestamp: int | None
    media_type: int | None = None


@dataclass(frozen=True)
class Received:
    """Any other well-formed message: events, state updates, media data."""

    message: RtmsMessage


ClientEvent = (
    HandshakeDone | HandshakeRejected | KeepAliveAnswered | StreamTerminated | MediaInterrupted | Received
    | FrameIgnored
)


def is_duplicate(error: HandshakeFailed) -> bool:
    """A refusal that is transient after a reconnect (see `is_duplicate_status`)."""
    return is_duplicate_status(error.status_code, error.reason)


# ------------------------------------------------------------------------------------------------------------


class BaseClientConnection(Connection[ClientEvent]):
    role = "rtms"

    def __init__(self, stream: StreamIdentity, credentials: ClientCredentials) -> None:
        super().__init__(ConnectionState.IDLE)
        self.stream = stream
        self.credentials = credentials
        self.handshake_error: HandshakeFailed | None = None
        self.last_received: float | None = None
        self.keepalives_answered = 0

    # -- output ------------------------------------------------------------------------------------------------

    def _send(self, message: RtmsMessage) -> None:
        if self.state is ConnectionState.CLOSED:
            raise InvalidState(f"{self.role} connection is closed; cannot send {type(message).__name__}")
        self._outbox.append(message)

    def _require(self, state: ConnectionState, action: str) -> None:
        if self.state is not state:
            raise InvalidState(f"cannot {action} on a {self.role} connection in state {self.state.value}")

    def close(self) -> None:
        """We are done with this connection (socket closed or abandoned): no more sends."""
        self.state = ConnectionState.CLOSED
        self._outbox.clear()

    def raise_for_handshake(self) -> None:
        if self.handshake_error is not None:
            raise self.handshake_error

    def idle_for(self, now: float) -> float:
        """Seconds since the last inbound frame of any kind (keep-alives stop while media flows)."""
        return 0.0 if self.last_received is None else max(0.0, now - self.last_received)

    def mark_connected(self, now: float) -> None:
        """The socket opened: start the silence clock now, not at the first frame."""
        self.last_received = now

    # -- input -------------------------------------------------------------------------------------------------

    def receive_frame(self, frame: str | bytes, now: float) -> None:
        self.last_received = now
        super().receive_frame(frame, now)

    def receive_malformed(self, error: MalformedFrame, now: float) -> None:
        self._events.append(FrameIgnored(str(error), error.msg_type))

    def _unhandled(self, message: RtmsMessage, now: float) -> None:
        """No transition: data for the application (also everything after CLOSED)."""
        self._events.append(Received(message))

    def _keepalive_request(self, message: RtmsMessage, now: float) -> None:
        assert isinstance(message, KeepAliveRequest)
        self._send(KeepAliveResponse(timestamp=message.timestamp, sequence=message.sequence))
        self.keepalives_answered += 1
        self._events.append(KeepAliveAnswered(message.timestamp, message.sequence))

    def _stream_state(self, message: RtmsMessage, now: float) -> None:
        assert isinstance(message, StreamStateUpdate)
        self._events.append(Received(message))
        if message.state == StreamState.TERMINATED:
            self.state = ConnectionState.CLOSED
            self._outbox.clear()
            self._events.append(StreamTerminated(message.reason, message.reason_text))
        elif message.state == StreamState.INTERRUPTED and message.reason == StopReason.DATA_CONNECTION_INTERRUPTED:
            self._events.append(MediaInterrupted(message.timestamp))

    def _handshake_failed(self, status_code: int | None, reason: str | None) -> None:
        error = HandshakeFailed(self.role, status_code, reason)
        self.handshake_error = error
        self.state = ConnectionState.CLOSED
        self._outbox.clear()
        self._events.append(HandshakeRejected(status_code, reason or ""))

    def _unexpected(self, message: RtmsMessage, now: float) -> None:
        self._events.append(FrameIgnored(self._cannot_handle(message), int(message.msg_type)))


def _client_transitions(
    handshake_response: MessageType, on_response: Handler, extra: Mapping[int, Handler] | None = None,
) -> Mapping[ConnectionState, Mapping[int, Handler]]:
    """One side's table: keep-alives and stream state in every live state, the handshake answer only while
    handshaking; anything else (and everything once CLOSED) is passed through as `Received`."""
    common: dict[int, Handler] = {
        MessageType.KEEP_ALIVE_REQ: BaseClientConnection._keepalive_request,
        MessageType.STREAM_STATE_UPDATE: BaseClientConnection._stream_state,
        **(extra or {}),
    }
    return MappingProxyType({
        ConnectionState.IDLE: {**common, handshake_response: BaseClientConnection._unexpected},
        ConnectionState.HANDSHAKING: {**common, handshake_response: on_response},
        ConnectionState.OPEN: {**common, handshake_response: BaseClientConnection._unexpected},
    })


class SignalingConnection(BaseClientConnection):
    """The signaling socket: handshake, CLIENT_READY_ACK, event subscription, stream state and events."""

    role = "signaling"

    def __init__(self, stream: StreamIdentity, credentials: ClientCredentials) -> None:
        super().__init__(stream, credentials)
        self.media_urls: dict[str, str] = {}

    def start_handshake(self, sequence: int = 1, *, buffer_data: bool | None = None) -> None:
        self._require(ConnectionState.IDLE, "start a handshake")
        self._send(SignalingHandshakeRequest(
            instance_id=self.stream.instance_id, id_key=self.stream.id_key, protocol_version=1, sequence=sequence,
            rtms_stream_id=self.stream.rtms_stream_id, signature=self.credentials.sign(self.stream),
            buffer_data=buffer_data,
        ))
        self.state = ConnectionState.HANDSHAKING

    def ready(self) -> None:
        """CLIENT_READY_ACK: every media handshake succeeded, Zoom may start sending media."""
        self._require(ConnectionState.OPEN, "send CLIENT_READY_ACK")
        self._send(ClientReadyAck(rtms_stream_id=self.stream.rtms_stream_id))

    def subscribe(self, event_types: Iterable[int] = DEFAULT_SUBSCRIPTION) -> None:
        self._require(ConnectionState.OPEN, "subscribe to events")
        self._send(EventSubscription(events=[EventSubscriptionItem(event_type=int(t)) for t in event_types]))

    def request_close(self) -> None:
        """STREAM_CLOSE_REQ: ends the stream on Zoom's side (stop reason 20); only for a deliberate stop."""
        self._require(ConnectionState.OPEN, "request a stream close")
        self._send(StreamCloseRequest(rtms_stream_id=self.stream.rtms_stream_id))

    def _handshake_response(self, message: RtmsMessage, now: float) -> None:
        assert isinstance(message, SignalingHandshakeResponse)
        if not message.ok:
            self._handshake_failed(message.status_code, message.reason)
            return
        self.media_urls = dict(message.media_server.server_urls) if message.media_server else {}
        self.state = ConnectionState.OPEN
        self._events.append(HandshakeDone(media_urls=self.media_urls))

    def _event(self, message: RtmsMessage, now: float) -> None:
        assert isinstance(message, EventUpdate)
        self._events.append(Received(message))
        if message.event.event_type == EventType.MEDIA_CONNECTION_INTERRUPTED:
            media_type = (message.event.model_extra or {}).get("media_type")
            if isinstance(media_type, bool) or not isinstance(media_type, int):
                media_type = None
            self._events.append(MediaInterrupted(message.event.timestamp, media_type))

    _transitions = _client_transitions(
        MessageType.SIGNALING_HAND_SHAKE_RESP, _handshake_response, {MessageType.EVENT_UPDATE: _event},
    )


class MediaConnection(BaseClientConnection):
    """One media (data) socket carrying the media of `media_type` (a bitmask; the bridge opens one per medium)."""

    role = "media"

    def __init__(
        self,
        stream: StreamIdentity,
        credentials: ClientCredentials,
        media_type: MediaType,
        media_params: MediaParams | None = None,
    ) -> None:
        super().__init__(stream, credentials)
        self.media_type = media_type
        self.media_params = media_params
        self.accepted_params: MediaParams | None = None

    def start_handshake(self, sequence: int = 1) -> None:
        self._require(ConnectionState.IDLE, "start a handshake")
        self._send(DataHandshakeRequest(
            instance_id=self.stream.instance_id, id_key=self.stream.id_key, protocol_version=1, sequence=sequence,
            rtms_stream_id=self.stream.rtms_stream_id, signature=self.credentials.sign(self.stream),
            media_type=int(self.media_type), payload_encryption=False, media_params=self.media_params,
        ))
        self.state = ConnectionState.HANDSHAKING

    def _handshake_response(self, message: RtmsMessage, now: float) -> None:
        assert isinstance(message, DataHandshakeResponse)
        if not message.ok:
            self._handshake_failed(message.status_code, message.reason)
            return
        self.accepted_params = message.media_params
        self.state = ConnectionState.OPEN
        self._events.append(HandshakeDone(media_params=message.media_params))

    _transitions = _client_transitions(MessageType.DATA_HAND_SHAKE_RESP, _handshake_response)
