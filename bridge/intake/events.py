"""Typed meeting events: what the intake hands to the transcript pipeline, one stream at a time, in order.

Every event names its stream (`stream_id`), the meeting/webinar/session/engagement/call it belongs to
(`instance_id`) and the product. Times are epoch milliseconds as Zoom sends them. Events are frozen values;
`MeetingEnded` (or `StreamRevoked`, which follows it for stop reason 8) is always the last event of a stream.

A consumer implements `MeetingEventConsumer.handle`. It runs in a worker task of its own, fed from a bounded queue
(see `dispatch`), never inside a socket reader: slow work delays later events of that stream, not keep-alives.
It shares the event loop, so it must not block the thread (use `asyncio.to_thread` for blocking calls).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable

from bridge.rtms.enums import Product

__all__ = [
    "EndCause",
    "LinkState",
    "MeetingEnded",
    "MeetingEvent",
    "MeetingEventConsumer",
    "ParticipantJoined",
    "ParticipantLeft",
    "SpeakerChanged",
    "StreamRevoked",
    "StreamStateChanged",
    "Utterance",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class _StreamEvent:
    stream_id: str
    instance_id: str
    product: Product

    @property
    def kind(self) -> str:
        """A short name for logs and metrics (`utterance`, `speaker_changed`, ...)."""
        return _KINDS[type(self).__name__]


@dataclass(frozen=True, kw_only=True, slots=True)
class Utterance(_StreamEvent):
    """One transcript line. `seq` counts delivered lines of the stream from 1, with no gaps or repeats.

    `speaker` is the name Zoom gave (Contact Center: the channel id when no name is sent), else the name last seen
    for `user_id` in join or active-speaker events, else "".
    """

    speaker: str
    user_id: str
    start_ms: int
    end_ms: int
    text: str
    seq: int
    language: int | None = None

    def __repr__(self) -> str:  # transcripts are private: keep text out of accidental logs
        return (f"Utterance(stream_id={self.stream_id!r}, seq={self.seq}, user_id={self.user_id!r}, "
                f"start_ms={self.start_ms}, end_ms={self.end_ms}, chars={len(self.text)})")


@dataclass(frozen=True, kw_only=True, slots=True)
class SpeakerChanged(_StreamEvent):
    user_id: str
    speaker: str
    timestamp_ms: int | None


@dataclass(frozen=True, kw_only=True, slots=True)
class ParticipantJoined(_StreamEvent):
    user_id: str
    name: str
    timestamp_ms: int | None


@dataclass(frozen=True, kw_only=True, slots=True)
class ParticipantLeft(_StreamEvent):
    user_id: str
    name: str  # from the join event when the leave event does not say (it usually does not)
    timestamp_ms: int | None


class LinkState(StrEnum):
    """The bridge's view of a stream's connection."""

    CONNECTING = "connecting"
    ACTIVE = "active"  # handshakes done, CLIENT_READY_ACK sent
    MEDIA_RECONNECTING = "media_reconnecting"  # scenario 3: signaling is fine, one media socket is being redone
    RECONNECTING = "reconnecting"  # scenarios 1 and 2: signaling and media are being redone
    ENDED = "ended"


@dataclass(frozen=True, kw_only=True, slots=True)
class StreamStateChanged(_StreamEvent):
    """A change of the connection state, or a STREAM_STATE_UPDATE from Zoom (`zoom_state`, `zoom_reason`)."""

    state: LinkState
    zoom_state: int | None = None
    zoom_reason: int | None = None
    detail: str = ""


EndCause = Literal["stopped", "terminated", "gave_up", "refused", "shutdown", "handoff", "closed", "unresumable"]
"""`handoff`: this replica gave the stream to another one (drained, or it lost the stream's lease); the meeting
goes on elsewhere. `closed`: an operator ended the stream at Zoom (STREAM_CLOSE_REQ). `unresumable`: a restarted
bridge found the meeting live in its store but could not dial it again (no join spec stored, URL refused)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class MeetingEnded(_StreamEvent):
    """The stream is over: no more events follow (except `StreamRevoked`).

    `cause`: `stopped` (the `*.rtms_stopped` webhook), `terminated` (stream state 4 on a socket), `gave_up` (the
    reconnect windows passed), `refused` (Zoom refused a handshake), `shutdown` (the bridge is stopping; the
    Zoom stream goes on and the next process resumes it), `closed` (an operator ended it at Zoom), `unresumable`
    (found live in the store at start, could not be dialled again). `reason` is Zoom's stop reason when it gave one.
    """

    cause: EndCause
    reason: int | None = None
    detail: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class StreamRevoked(_StreamEvent):
    """Stop reason 8: everything stored for this stream must be deleted now."""


MeetingEvent = (
    Utterance | SpeakerChanged | ParticipantJoined | ParticipantLeft | StreamStateChanged | MeetingEnded
    | StreamRevoked
)

_KINDS = {
    "Utterance": "utterance",
    "SpeakerChanged": "speaker_changed",
    "ParticipantJoined": "participant_joined",
    "ParticipantLeft": "participant_left",
    "StreamStateChanged": "stream_state",
    "MeetingEnded": "meeting_ended",
    "StreamRevoked": "stream_revoked",
}


@runtime_checkable
class MeetingEventConsumer(Protocol):
    async def handle(self, event: MeetingEvent) -> None:
        """Called once per event, in order per stream; an exception is logged and the next event still comes."""
        ...
