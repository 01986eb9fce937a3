"""The server side of RTMS (what Zoom runs) as two sans-I/O state machines: a signaling and a media connection.

The I/O layer feeds each connection the frames it receives and the current time, writes out `data_to_send()`
(messages, encoded by the caller in the frame style it wants) and hands `events_received()` to the application.
Automatic replies live here: handshake verdicts with the status codes of rtms-protocol.md section 9.9, keep-alive
requests while idle (with `timestamp` and `sequence`, which the official SDK needs), answers to state and close
requests. Media data can only be queued once the application called `start_streaming()`, which it does after the
stream's signaling connection reported `ClientReady` (msg 7): data before CLIENT_READY_ACK is impossible by design.

Which streams exist, their credentials and which connections they already hold is the application's knowledge:
it is injected as a `StreamLookup` and asked at handshake time (a second signaling connection gets status 8, a data
connection overlapping a live one 15 or 16).

States (one table per role, h11 style; a message with no entry is ignored as `FrameIgnored`):

    HANDSHAKING --handshake ok--> OPEN --CLIENT_READY_ACK (signaling) / start_streaming() (media)--> READY
           |                               |                                                              |
           +--refused--> CLOSED <--keep-alive timeout, close()-------------------------------------------+
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from bridge.rtms.enums import EventType, MediaType, MessageType, SessionState, StatusCode, StreamState
from bridge.rtms.errors import InvalidState, MalformedFrame
from bridge.rtms.messages import (
    ClientReadyAck,
    DataHandshakeRequest,
    DataHandshakeResponse,
    Event,
    EventSubscription,
    EventUpdate,
    KeepAliveRequest,
    KeepAliveResponse,
    MediaParams,
    MediaServer,
    RtmsMessage,
    SessionStateRequest,
    SessionStateResponse,
    SessionStateUpdate,
    SignalingHandshakeRequest,
    SignalingHandshakeResponse,
    StreamCloseRequest,
    StreamCloseResponse,
    StreamStateResponse,
    StreamStateUpdate,
    VideoSubscriptionRequest,
    VideoSubscriptionResponse,
)
from bridge.rtms.negotiation import Refused, kinds_of, negotiate, url_keys
from bridge.rtms.protocol import Connection, ConnectionState, FrameIgnored, HandshakeRejected, KeepAliveAnswered
from bridge.rtms.signatures import verify_handshake_signature

# Events a server sends whether or not the app subscribed to them (the docs say not to subscribe to these).
ALWAYS_SENT_EVENTS = frozenset({EventType.FIRST_PACKET_TIMESTAMP, EventType.MEDIA_CONNECTION_INTERRUPTED})
MEDIA_DATA_TYPES = frozenset(
    {
        MessageType.MEDIA_DATA_AUDIO,
        MessageType.MEDIA_DATA_VIDEO,
        MessageType.MEDIA_DATA_SHARE,
        MessageType.MEDIA_DATA_TRANSCRIPT,
        MessageType.MEDIA_DATA_CHAT,
        MessageType.META_DATA_AUDIO,
    }
)
_RECENT_KEEPALIVES = 8


@dataclass(frozen=True)
class StreamGrant:
    """What the application knows about a stream when a handshake names it."""

    rtms_stream_id: str
    instance_id: str
    client_id: str
    client_secret: str
    scopes: MediaType
    media_urls: Mapping[str, str]
    """`server_urls` keys (audio, video, deskshare, transcript, chat, all) to URLs; filtered by `scopes` here."""
    signaling_connected: bool = False
    """A live signaling connection already holds the stream (a second one is refused with status 8)."""
    media_in_use: MediaType = MediaType.UNDEFINED
    """Media already carried by live data connections."""
    media_all_in_use: bool = False
    """A live data connection asked for ALL."""


StreamLookup = Callable[[str], StreamGrant | None]


@dataclass(frozen=True)
class ServerSettings:
    keepalive_interval_s: float = 10.0
    """A keep-alive request goes out after this long without sending anything."""
    keepalive_misses: int = 3
    """Unanswered keep-alive requests in a row after which the connection is declared dead."""
    require_event_subscription: bool = False
    """Send events 2-6, 8, 9 only when subscribed with msg 5 (the official SDK never subscribes)."""


# ---------------------------------------------------------------------------------------------------------------
# Events for the application


@dataclass(frozen=True)
class SignalingAccepted:
    rtms_stream_id: str
    instance_id: str
    id_key: str
    buffer_data: bool
    client_agent: str | None = None


@dataclass(frozen=True)
class MediaAccepted:
    rtms_stream_id: str
    instance_id: str
    media_type: MediaType
    params: MediaParams
    all_media: bool


@dataclass(frozen=True)
class ClientReady:
    rtms_stream_id: str


@dataclass(frozen=True)
class SubscriptionChanged:
    subscribed: frozenset[int]


@dataclass(frozen=True)
class KeepAliveTimedOut:
    misses: int


@dataclass(frozen=True)
class StreamCloseRequested:
    rtms_stream_id: str


@dataclass(frozen=True)
class VideoSubscriptionRequested:
    user_id: int | str
    subscribe: bool


ServerEvent = (
    SignalingAccepted
    | MediaAccepted
    | HandshakeRejected
    | ClientReady
    | SubscriptionChanged
    | KeepAliveAnswered
    | KeepAliveTimedOut
    | StreamCloseRequested
    | VideoSubscriptionRequested
    | FrameIgnored
)


# ---------------------------------------------------------------------------------------------------------------
# Keep-alive bookkeeping


@dataclass
class _KeepAlive:
    interval_s: float
    max_misses: int
    last_sent_at: float = 0.0
    sequence: int = 0
    awaiting: tuple[int, float] | None = None  # (sequence, sent_at) of the newest unanswered request
    recent: dict[int, int] = field(default_factory=dict)  # sequence -> timestamp of recent requests
    misses: int = 0
    sent: int = 0
    answered: int = 0

    def next_deadline(self) -> float:
        due = self.last_sent_at + self.interval_s
        if self.awaiting is not None:
            due = min(due, self.awaiting[1] + self.interval_s)
        return due

    def answer(self, response: KeepAliveResponse) -> bool:
        """Record a response; True when it echoes a request we sent recently."""
        if response.sequence is not None:
            matched = self.recent.get(response.sequence) == response.timestamp
        else:
            matched = response.timestamp in self.recent.values()
        if matched:
            self.answered += 1
            self.misses = 0
            self.awaiting = None
        return matched


# ---------------------------------------------------------------------------------------------------------------
# The shared machinery


class _ServerConnection(Connection[ServerEvent]):
    role = "connection"

    def __init__(self, lookup: StreamLookup, settings: ServerSettings | None = None) -> None:
        super().__init__(ConnectionState.HANDSHAKING)
        self.settings = settings or ServerSettings()
        self._lookup = lookup
        self.grant: StreamGrant | None = None
        self.close_code: int | None = None
        self._keepalive = _KeepAlive(self.settings.keepalive_interval_s, self.settings.keepalive_misses)

    # -- the I/O layer's interface -------------------------------------------------------------------------------
    def receive_malformed(self, error: MalformedFrame, now: float) -> None:
        if self.state is ConnectionState.HANDSHAKING:
            self._reject(self._malformed_status(error), str(error), now)
        elif self.state is not ConnectionState.CLOSED:
            self._events.append(FrameIgnored(str(error), error.msg_type))

    def _unhandled(self, message: RtmsMessage, now: float) -> None:
        if self.state is ConnectionState.CLOSED:
            return
        if self.state is ConnectionState.HANDSHAKING:
            self._reject(
                StatusCode.INVALID_MESSAGE_TYPE, f"expected a handshake, got msg_type {int(message.msg_type)}", now
            )
        else:
            self._events.append(FrameIgnored(self._cannot_handle(message), int(message.msg_type)))

    def tick(self, now: float) -> None:
        """Advance timers: send a keep-alive when idle, count one missed, declare the peer dead after too many."""
        if self.state not in (ConnectionState.OPEN, ConnectionState.READY):
            return
        ka = self._keepalive
        if ka.awaiting is not None and now >= ka.awaiting[1] + ka.interval_s:
            ka.misses += 1
            ka.awaiting = None
            if ka.misses >= ka.max_misses:
                self.state = ConnectionState.CLOSED
                self._events.append(KeepAliveTimedOut(ka.misses))
                return
        if now >= ka.last_sent_at + ka.interval_s:
            ka.sequence += 1
            timestamp = int(now * 1000)
            ka.recent[ka.sequence] = timestamp
            while len(ka.recent) > _RECENT_KEEPALIVES:
                del ka.recent[next(iter(ka.recent))]
            if ka.awaiting is None:
                ka.awaiting = (ka.sequence, now)
            ka.sent += 1
            self._send(KeepAliveRequest(timestamp=timestamp, sequence=ka.sequence), now)

    def next_deadline(self) -> float | None:
        """When `tick` has something to do next (absolute, in the clock of `now`); None once closed."""
        if self.state not in (ConnectionState.OPEN, ConnectionState.READY):
            return None
        return self._keepalive.next_deadline()

    def close(self) -> None:
        """The application ends the connection (stream terminated, interruption); nothing more is sent."""
        self.state = ConnectionState.CLOSED

    @property
    def keepalives_sent(self) -> int:
        return self._keepalive.sent

    @property
    def keepalives_answered(self) -> int:
        return self._keepalive.answered

    @property
    def keepalive_misses(self) -> int:
        return self._keepalive.misses

    # -- helpers ------------------------------------------------------------------------------------------------
    def _send(self, message: RtmsMessage, now: float) -> None:
        self._outbox.append(message)
        self._keepalive.last_sent_at = now

    def _accepted(self, now: float) -> None:
        self.state = ConnectionState.OPEN
        self._keepalive.last_sent_at = now

    def _reject(self, status: int, reason: str, now: float) -> None:
        self._send(self._rejection(status, reason), now)
        self.state = ConnectionState.CLOSED
        self.close_code = 1000
        self._events.append(HandshakeRejected(int(status), reason))

    def _rejection(self, status: int, reason: str) -> RtmsMessage:
        raise NotImplementedError

    def _malformed_status(self, error: MalformedFrame) -> StatusCode:
        if error.field == "msg_type" or error.msg_type is None:
            return StatusCode.INVALID_MESSAGE_TYPE if error.field == "msg_type" else StatusCode.INVALID_PAYLOAD
        return StatusCode.INVALID_PAYLOAD

    def _verify(self, request: SignalingHandshakeRequest | DataHandshakeRequest) -> StreamGrant:
        """Common handshake checks; raises `Refused` with the status to answer."""
        if request.protocol_version != 1:
            raise Refused(StatusCode.INVALID_PAYLOAD, f"protocol_version {request.protocol_version} not supported")
        grant = self._lookup(request.rtms_stream_id)
        if grant is None:
            raise Refused(StatusCode.INVALID_RTMS_STREAM_ID, "unknown rtms_stream_id")
        if request.instance_id != grant.instance_id:
            raise Refused(StatusCode.INVALID_RTMS_STREAM_ID, f"{request.id_key} does not match the stream")
        if not verify_handshake_signature(
            request.signature, grant.client_id, grant.client_secret, request.instance_id, request.rtms_stream_id
        ):
            raise Refused(StatusCode.INVALID_SIGNATURE, "invalid signature")
        return grant

    def _keepalive_response(self, message: RtmsMessage, now: float) -> None:
        assert isinstance(message, KeepAliveResponse)
        if self._keepalive.answer(message):
            self._events.append(KeepAliveAnswered(timestamp=message.timestamp, sequence=message.sequence))
        else:
            self._events.append(FrameIgnored("keep-alive response matches no request", int(message.msg_type)))


# ---------------------------------------------------------------------------------------------------------------
# Signaling


class SignalingServerConnection(_ServerConnection):
    role = "signaling"
    def __init__(self, lookup: StreamLookup, settings: ServerSettings | None = None) -> None:
        super().__init__(lookup, settings)
        self.subscribed: frozenset[int] = frozenset()
        self.stream_state: int = StreamState.INACTIVE
        self.sessions: dict[str, int] = {}
        self.request: SignalingHandshakeRequest | None = None

    # -- application -> peer --------------------------------------------------------------------------------------
    def send_event(self, event: Event, now: float) -> bool:
        """Queue an EVENT_UPDATE; False (nothing queued) when the app has not subscribed to it and must."""
        self._require_open("send an event")
        if not self.wants_event(event.event_type):
            return False
        self._send(EventUpdate(event=event), now)
        return True

    def wants_event(self, event_type: int) -> bool:
        if event_type in ALWAYS_SENT_EVENTS or not self.settings.require_event_subscription:
            return True
        return event_type in self.subscribed

    def send_stream_state(self, state: int, now: float, reason: int | None = None) -> None:
        self._require_open("send a stream state")
        self.stream_state = state
        assert self.grant is not None
        self._send(
            StreamStateUpdate(
                state=state, reason=reason, timestamp=int(now * 1000), rtms_stream_id=self.grant.rtms_stream_id
            ),
            now,
        )

    def send_session_state(self, session_id: str, state: int, now: float, reason: int | None = None) -> None:
        """SESSION_STATE_UPDATE; a stop reason goes out as both `reason` and `stop_reason` (section 6.7)."""
        self._require_open("send a session state")
        self.sessions[session_id] = state
        self._send(
            SessionStateUpdate(
                state=state, reason=reason, stop_reason=reason, timestamp=int(now * 1000), rtms_session_id=session_id
            ),
            now,
        )

    def _require_open(self, what: str) -> None:
        if self.state not in (ConnectionState.OPEN, ConnectionState.READY):
            raise InvalidState(f"cannot {what} on a signaling connection in state {self.state.value}")

    # -- peer -> server -----------------------------------------------------------------------------------------
    def _rejection(self, status: int, reason: str) -> RtmsMessage:
        return SignalingHandshakeResponse(protocol_version=1, sequence=0, status_code=int(status), reason=reason)

    def _handshake(self, message: RtmsMessage, now: float) -> None:
        assert isinstance(message, SignalingHandshakeRequest)
        try:
            grant = self._verify(message)
            if grant.signaling_connected:
                raise Refused(StatusCode.DUPLICATE_SIGNAL_REQUEST, "duplicate signal request")
        except Refused as refused:
            self._reject(refused.status, refused.reason, now)
            return
        self.grant = grant
        self.request = message
        urls = {key: grant.media_urls[key] for key in url_keys(grant.scopes) if key in grant.media_urls}
        self._accepted(now)
        self._send(
            SignalingHandshakeResponse(
                protocol_version=1,
                sequence=message.sequence or 0,
                status_code=StatusCode.OK,
                reason="",
                media_server=MediaServer(server_urls=urls),
            ),
            now,
        )
        self._events.append(
            SignalingAccepted(
                rtms_stream_id=grant.rtms_stream_id,
                instance_id=grant.instance_id,
                id_key=message.id_key,
                buffer_data=True if message.buffer_data is None else message.buffer_data,
                client_agent=message.rtms_client_agent,
            )
        )

    def _second_handshake(self, message: RtmsMessage, now: float) -> None:
        self._send(
            SignalingHandshakeResponse(
                protocol_version=1,
                sequence=0,
                status_code=StatusCode.DUPLICATE_SIGNAL_REQUEST,
                reason="duplicate signal request",
            ),
            now,
        )
        self._events.append(FrameIgnored("second handshake on one signaling connection", int(message.msg_type)))

    def _ready(self, message: RtmsMessage, now: float) -> None:
        assert isinstance(message, ClientReadyAck) and self.grant is not None
        if message.rtms_stream_id != self.grant.rtms_stream_id:
            self._events.append(FrameIgnored("CLIENT_READY_ACK names another stream", int(message.msg_type)))
            return
        first = self.state is ConnectionState.OPEN
        self.state = ConnectionState.READY
        if first:
            self._events.append(ClientReady(message.rtms_stream_id))

    def _subscription(self, message: RtmsMessage, now: float) -> None:
        assert isinstance(message, EventSubscription)
        subscribed = set(self.subscribed)
        for item in message.events:
            (subscribed.add if item.subscribe else subscribed.discard)(item.event_type)
        self.subscribed = frozenset(subscribed)
        self._events.append(SubscriptionChanged(self.subscribed))

    def _session_state_request(self, message: RtmsMessage, now: float) -> None:
        assert isinstance(message, SessionStateRequest)
        state = self.sessions.get(message.rtms_session_id, SessionState.INACTIVE)
        self._send(
            SessionStateResponse(rtms_session_id=message.rtms_session_id, state=state, timestamp=int(now * 1000)), now
        )

    def _stream_state_request(self, message: RtmsMessage, now: float) -> None:
        assert self.grant is not None
        self._send(
            StreamStateResponse(
                state=self.stream_state, rtms_stream_id=self.grant.rtms_stream_id, timestamp=int(now * 1000)
            ),
            now,
        )

    def _stream_close(self, message: RtmsMessage, now: float) -> None:
        assert isinstance(message, StreamCloseRequest) and self.grant is not None
        if message.rtms_stream_id != self.grant.rtms_stream_id:
            self._send(
                StreamCloseResponse(
                    rtms_stream_id=message.rtms_stream_id,
                    status_code=StatusCode.INVALID_RTMS_STREAM_ID,
                    reason="rtms_stream_id does not match this connection",
                    timestamp=int(now * 1000),
                ),
                now,
            )
            return
        self._send(
            StreamCloseResponse(
                rtms_stream_id=message.rtms_stream_id, status_code=StatusCode.OK, reason="OK", timestamp=int(now * 1000)
            ),
            now,
        )
        self._events.append(StreamCloseRequested(message.rtms_stream_id))

    def _video_subscription(self, message: RtmsMessage, now: float) -> None:
        assert isinstance(message, VideoSubscriptionRequest)
        self._send(
            VideoSubscriptionResponse(
                user_id=message.user_id, status_code=StatusCode.OK, reason="OK", timestamp=int(now * 1000)
            ),
            now,
        )
        self._events.append(VideoSubscriptionRequested(message.user_id, message.subscribe))

    _transitions = {
        ConnectionState.HANDSHAKING: {MessageType.SIGNALING_HAND_SHAKE_REQ: _handshake},
        **dict.fromkeys(
            (ConnectionState.OPEN, ConnectionState.READY),
            MappingProxyType({
                MessageType.SIGNALING_HAND_SHAKE_REQ: _second_handshake,
                MessageType.CLIENT_READY_ACK: _ready,
                MessageType.EVENT_SUBSCRIPTION: _subscription,
                MessageType.KEEP_ALIVE_RESP: _ServerConnection._keepalive_response,
                MessageType.SESSION_STATE_REQ: _session_state_request,
                MessageType.STREAM_STATE_REQ: _stream_state_request,
                MessageType.STREAM_CLOSE_REQ: _stream_close,
                MessageType.VIDEO_SUBSCRIPTION_REQ: _video_subscription,
            }),
        ),
    }


# ---------------------------------------------------------------------------------------------------------------
# Media


class MediaServerConnection(_ServerConnection):
    role = "media"
    def __init__(self, lookup: StreamLookup, settings: ServerSettings | None = None) -> None:
        super().__init__(lookup, settings)
        self.media_type = MediaType.UNDEFINED
        self.params: MediaParams | None = None
        self.all_media = False

    def start_streaming(self) -> None:
        """The stream's signaling connection received CLIENT_READY_ACK: media data may flow from now on."""
        if self.state is ConnectionState.READY:
            return
        if self.state is not ConnectionState.OPEN:
            raise InvalidState(f"cannot start streaming on a media connection in state {self.state.value}")
        self.state = ConnectionState.READY

    @property
    def streaming(self) -> bool:
        return self.state is ConnectionState.READY

    def send_media(self, message: RtmsMessage, now: float) -> None:
        """Queue a media frame (msg 14-18, 23) of a medium this connection carries."""
        if self.state is not ConnectionState.READY:
            raise InvalidState(f"media data before CLIENT_READY_ACK (state {self.state.value})")
        if message.msg_type not in MEDIA_DATA_TYPES:
            raise InvalidState(f"msg_type {int(message.msg_type)} is not media data")
        kind = _MEDIUM_OF[message.msg_type]
        if not self.media_type & kind:
            raise InvalidState(f"this connection does not carry {kinds_of(kind)[0]}")
        self._send(message, now)

    def carries(self, kind: MediaType) -> bool:
        return bool(self.media_type & kind)

    def _rejection(self, status: int, reason: str) -> RtmsMessage:
        return DataHandshakeResponse(
            protocol_version=1, sequence=0, status_code=int(status), reason=reason, payload_encrypted=False
        )

    def _malformed_status(self, error: MalformedFrame) -> StatusCode:
        if error.field and error.field.startswith("media_params"):
            return StatusCode.INVALID_MEDIA_PARAMS
        if error.field == "media_type":
            return StatusCode.INVALID_MEDIA_TYPE
        return super()._malformed_status(error)

    def _handshake(self, message: RtmsMessage, now: float) -> None:
        assert isinstance(message, DataHandshakeRequest)
        try:
            grant = self._verify(message)
            if not grant.signaling_connected:
                raise Refused(StatusCode.INVALID_RTMS_STREAM_ID, "no signaling connection holds this stream")
            verdict = negotiate(message.media_type, message.media_params, grant.scopes)
            if grant.media_all_in_use or (verdict.all_media and grant.media_in_use):
                raise Refused(StatusCode.MEDIA_DATA_ALL_CONNECTION_EXIST, "a data connection for all media exists")
            if verdict.media_type & grant.media_in_use:
                taken = kinds_of(MediaType(verdict.media_type & grant.media_in_use))
                raise Refused(
                    StatusCode.DUPLICATE_MEDIA_DATA_CONNECTION, f"duplicate media data connection ({', '.join(taken)})"
                )
        except Refused as refused:
            self._reject(refused.status, refused.reason, now)
            return
        self.grant = grant
        self.media_type = verdict.media_type
        self.params = verdict.params
        self.all_media = verdict.all_media
        self._accepted(now)
        self._send(
            DataHandshakeResponse(
                protocol_version=1,
                sequence=message.sequence or 0,
                status_code=StatusCode.OK,
                reason="",
                payload_encrypted=False,
                media_params=verdict.params,
            ),
            now,
        )
        self._events.append(
            MediaAccepted(
                rtms_stream_id=grant.rtms_stream_id,
                instance_id=grant.instance_id,
                media_type=verdict.media_type,
                params=verdict.params,
                all_media=verdict.all_media,
            )
        )

    _transitions = {
        ConnectionState.HANDSHAKING: {MessageType.DATA_HAND_SHAKE_REQ: _handshake},
        ConnectionState.OPEN: {MessageType.KEEP_ALIVE_RESP: _ServerConnection._keepalive_response},
        ConnectionState.READY: {MessageType.KEEP_ALIVE_RESP: _ServerConnection._keepalive_response},
    }


_MEDIUM_OF: dict[int, MediaType] = {
    MessageType.MEDIA_DATA_AUDIO: MediaType.AUDIO,
    MessageType.META_DATA_AUDIO: MediaType.AUDIO,
    MessageType.MEDIA_DATA_VIDEO: MediaType.VIDEO,
    MessageType.MEDIA_DATA_SHARE: MediaType.DESKSHARE,
    MessageType.MEDIA_DATA_TRANSCRIPT: MediaType.TRANSCRIPT,
    MessageType.MEDIA_DATA_CHAT: MediaType.CHAT,
}
