"""What the client and the server side of an RTMS connection share: states, common events and the base machine.

Both sides are driven the same way by their I/O layer (python-websockets style): feed a frame with the current
time (`receive_frame(frame, now)`), write `data_to_send()` (messages: the I/O layer encodes them in the frame style
it wants), then hand `events_received()` to the application. Nothing here raises on a bad frame: each side turns it
into an event.

Dispatch is a table per side (h11 style): `_transitions[state][msg_type]` is the method that handles the message.
A message with no entry goes to `_unhandled`, which says "cannot handle msg_type X in state Y" in the side's own
way (the client passes it through as received data, the server ignores it or refuses the handshake).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, Generic, TypeVar

from bridge.rtms.codec import decode
from bridge.rtms.enums import StatusCode
from bridge.rtms.errors import MalformedFrame
from bridge.rtms.messages import RtmsMessage

_DUPLICATE_STATUSES = frozenset({
    StatusCode.DUPLICATE_SIGNAL_REQUEST,
    StatusCode.MEDIA_DATA_ALL_CONNECTION_EXIST,
    StatusCode.DUPLICATE_MEDIA_DATA_CONNECTION,
})


class ConnectionState(Enum):
    """One lifecycle for both sides.

    Client: IDLE -> HANDSHAKING (request sent) -> OPEN -> CLOSED. Server: HANDSHAKING (awaiting the request)
    -> OPEN -> READY (CLIENT_READY_ACK seen, media may flow) -> CLOSED.
    """

    IDLE = "idle"
    HANDSHAKING = "handshaking"
    OPEN = "open"
    READY = "ready"
    CLOSED = "closed"


def is_duplicate_status(status_code: int | None, reason: str | None) -> bool:
    """Status 8 (a signaling connection for this stream already exists) or its media counterparts 15/16.

    These are transient after a reconnect: Zoom has not yet noticed the old connection is gone. Servers on the
    legacy status list use other numbers, so the reason text is checked too.
    """
    if status_code in _DUPLICATE_STATUSES:
        return True
    return "duplicate" in (reason or "").lower()


# ------------------------------------------------------------------------------------------------------------
# Events both sides report


@dataclass(frozen=True)
class HandshakeRejected:
    """A handshake got a non-zero status: the client was refused, or the server refused the peer.

    `status_code` is None only on the client, when a legacy server refuses without one.
    """

    status_code: int | None
    reason: str

    @property
    def duplicate(self) -> bool:
        return is_duplicate_status(self.status_code, self.reason)


@dataclass(frozen=True)
class FrameIgnored:
    """A frame that could not be decoded, or that the peer should not have sent here; nothing was changed.

    `reason` names the field or the state, never payload text.
    """

    reason: str
    msg_type: int | None = None


@dataclass(frozen=True)
class KeepAliveAnswered:
    """A keep-alive round trip completed: the client answered a request, or the peer answered the server's."""

    timestamp: int
    sequence: int | None


# ------------------------------------------------------------------------------------------------------------

EventT = TypeVar("EventT")
Handler = Callable[[Any, RtmsMessage, float], None]
"""A transition: a method of the side's class, called with the message and the time it arrived."""


class Connection(Generic[EventT]):
    """The base machine: a state, an outbox of messages and a queue of events for the application."""

    role: ClassVar[str] = "rtms"
    _transitions: ClassVar[Mapping[ConnectionState, Mapping[int, Handler]]] = {}

    def __init__(self, state: ConnectionState) -> None:
        self.state = state
        self._outbox: list[RtmsMessage] = []
        self._events: list[EventT] = []

    # -- the I/O layer's interface -------------------------------------------------------------------------------
    def receive_frame(self, frame: str | bytes, now: float) -> None:
        """Decode and handle one WebSocket frame; a bad frame becomes an event, never an exception."""
        try:
            message = decode(frame)
        except MalformedFrame as exc:
            self.receive_malformed(exc, now)
            return
        self.receive_message(message, now)

    def receive_message(self, message: RtmsMessage, now: float) -> None:
        """Handle a decoded message (for I/O layers that look at it first) through the transition table."""
        handler = self._transitions.get(self.state, {}).get(int(message.msg_type))
        if handler is None:
            self._unhandled(message, now)
        else:
            handler(self, message, now)

    def receive_malformed(self, error: MalformedFrame, now: float) -> None:
        raise NotImplementedError

    def data_to_send(self) -> list[RtmsMessage]:
        """Messages queued since the last call, oldest first. The I/O layer writes them before handling events."""
        out, self._outbox = self._outbox, []
        return out

    def events_received(self) -> list[EventT]:
        """Events since the last call, oldest first."""
        out, self._events = self._events, []
        return out

    @property
    def closed(self) -> bool:
        return self.state is ConnectionState.CLOSED

    # -- for the sides --------------------------------------------------------------------------------------------
    def _unhandled(self, message: RtmsMessage, now: float) -> None:
        raise NotImplementedError

    def _cannot_handle(self, message: RtmsMessage) -> str:
        return f"{self.role} cannot handle msg_type {int(message.msg_type)} in state {self.state.value}"
