"""Typed models of every RTMS V1 message (msg_type 1-29), shared by the bridge's client and the simulator.

Decoding is tolerant: unknown fields are kept (`model_extra`), ids may be ints or strings, and the variants that
Zoom's own sources disagree on (rtms-protocol.md section 15) are all accepted. Encoding is strict: `to_wire()`
emits only declared fields, under their documented names, and never a None.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bridge.rtms.enums import (
    ID_KEYS,
    EventType,
    MessageType,
    SessionState,
    StatusCode,
    StopReason,
    StreamState,
    as_enum,
)

UserId = int | str


class RtmsMessage(BaseModel):
    """Base of all messages. Subclasses set `msg_type`; `from_wire` and `to_wire` convert to and from JSON objects."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)
    msg_type: ClassVar[MessageType] = MessageType.UNDEFINED

    def to_wire(self) -> dict[str, Any]:
        return {"msg_type": int(self.msg_type), **_declared(self)}


def _declared(model: BaseModel) -> dict[str, Any]:
    """A model's declared fields as JSON values, at every depth: extras kept from decoding and Nones left out."""
    out: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        if info.exclude:
            continue
        value = _plain(getattr(model, name))
        if value is not None:
            out[info.serialization_alias or name] = value
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return _declared(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: p for k, v in value.items() if (p := _plain(v)) is not None}
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        return str(value)
    return value


class _WithInstanceId(RtmsMessage):
    """Messages that name the meeting/webinar/session/engagement/call under one of several keys.

    The official SDK always says `meeting_uuid` whatever the product, sample code uses the product's own key:
    both decode to (`id_key`, `instance_id`), and encoding writes the id back under the key it came with.
    """

    instance_id: str = Field(min_length=1)
    id_key: str = "meeting_uuid"

    @model_validator(mode="before")
    @classmethod
    def _pick_id_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and "instance_id" not in data:
            for key in ID_KEYS:
                if key in data and data[key] not in (None, ""):
                    data = dict(data)
                    value = data.pop(key)
                    # An int id is stringified; any other type is left for validation to refuse.
                    is_int = isinstance(value, int) and not isinstance(value, bool)
                    data["instance_id"] = str(value) if is_int else value
                    data["id_key"] = key
                    break
        return data

    def to_wire(self) -> dict[str, Any]:
        body = super().to_wire()
        body.pop("instance_id")
        body[body.pop("id_key")] = self.instance_id
        return body


# ----------------------------------------------------------------------------------------------------------
# Signaling handshake


class SignalingHandshakeRequest(_WithInstanceId):
    msg_type: ClassVar[MessageType] = MessageType.SIGNALING_HAND_SHAKE_REQ
    protocol_version: int = 1
    sequence: int | None = None
    rtms_stream_id: str = Field(min_length=1)
    signature: str = Field(min_length=1)
    buffer_data: bool | None = None
    rtms_client_agent: str | None = None


class MediaServer(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    server_urls: dict[str, str] = Field(default_factory=dict)
    datacenter_region: str | None = None
    srtp_keys: dict[str, str] | None = None


class _StatusReply(RtmsMessage):
    """A reply that carries `status_code` (the SDK also reads `status`) and a `reason` text."""

    status_code: int | None = Field(default=None, validation_alias="status_code")
    reason: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _status_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "status_code" not in data and "status" in data:
            data = dict(data)
            data["status_code"] = data.pop("status")
        return data

    @property
    def status(self) -> StatusCode | int | None:
        return None if self.status_code is None else as_enum(StatusCode, self.status_code)


class SignalingHandshakeResponse(_StatusReply):
    msg_type: ClassVar[MessageType] = MessageType.SIGNALING_HAND_SHAKE_RESP
    protocol_version: int | None = None
    sequence: int | None = None
    media_server: MediaServer | None = None

    @property
    def ok(self) -> bool:
        # The old mock server omits status_code on failure; success always lists media servers.
        if self.status_code is None:
            return self.media_server is not None and bool(self.media_server.server_urls)
        return self.status_code == StatusCode.OK


# ----------------------------------------------------------------------------------------------------------
# Media handshake


class _Params(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class AudioParams(_Params):
    content_type: int | None = None
    sample_rate: int | None = None
    channel: int | None = None
    codec: int | None = None
    data_opt: int | None = None
    send_rate: int | None = None


class VideoParams(_Params):
    content_type: int | None = None
    codec: int | None = None
    resolution: int | None = None
    data_opt: int | None = None
    fps: int | None = None


class DeskshareParams(_Params):
    content_type: int | None = None
    codec: int | None = None
    resolution: int | None = None
    fps: int | None = None


class TranscriptParams(_Params):
    content_type: int | None = None
    src_language: int | None = None
    enable_lid: bool | None = None


class ChatParams(_Params):
    content_type: int | None = None


class MediaParams(_Params):
    audio: AudioParams | None = None
    video: VideoParams | None = None
    deskshare: DeskshareParams | None = None
    transcript: TranscriptParams | None = None
    chat: ChatParams | None = None


class DataHandshakeRequest(_WithInstanceId):
    msg_type: ClassVar[MessageType] = MessageType.DATA_HAND_SHAKE_REQ
    protocol_version: int = 1
    sequence: int | None = None
    rtms_stream_id: str = Field(min_length=1)
    signature: str = Field(min_length=1)
    media_type: int = Field(ge=0)
    payload_encryption: bool | None = None
    media_params: MediaParams | None = None


class DataHandshakeResponse(_StatusReply):
    msg_type: ClassVar[MessageType] = MessageType.DATA_HAND_SHAKE_RESP
    protocol_version: int | None = None
    sequence: int | None = None
    payload_encrypted: bool | None = None
    media_params: MediaParams | None = None

    @property
    def ok(self) -> bool:
        return self.status_code == StatusCode.OK


# ----------------------------------------------------------------------------------------------------------
# Events and state


class EventSubscriptionItem(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    event_type: int
    subscribe: bool = True


class EventSubscription(RtmsMessage):
    """Docs send `events: [{event_type, subscribe}]`; the Contact Center sample sends bare ints: both decode."""

    msg_type: ClassVar[MessageType] = MessageType.EVENT_SUBSCRIPTION
    events: list[EventSubscriptionItem]
    rtms_stream_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_ints(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("events"), list):
            events = [{"event_type": e} if isinstance(e, int) and not isinstance(e, bool) else e
                      for e in data["events"]]
            data = {**data, "events": events}
        return data


class Participant(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    user_id: UserId
    user_name: str | None = None


class Event(BaseModel):
    """The body of EVENT_UPDATE. Contact Center voice events use `event_ts` and a participant-info object, under
    the key the docs spell `paticipant_info`."""

    model_config = ConfigDict(extra="allow", frozen=True)
    event_type: int
    timestamp: int | None = None
    user_id: UserId | None = None
    user_name: str | None = None
    participants: list[Participant] | None = None
    event_ts: int | None = None
    paticipant_info: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _event_ts(cls, data: Any) -> Any:
        if isinstance(data, dict) and "timestamp" not in data and "event_ts" in data:
            data = {**data, "timestamp": data["event_ts"]}
        return data

    @property
    def type(self) -> EventType | int:
        return as_enum(EventType, self.event_type)

    @property
    def participant_info(self) -> dict[str, Any] | None:
        """Contact Center's participant object, under its documented (misspelled) key or the correct one."""
        if self.paticipant_info is not None:
            return self.paticipant_info
        info = (self.model_extra or {}).get("participant_info")
        return info if isinstance(info, dict) else None


class EventUpdate(RtmsMessage):
    msg_type: ClassVar[MessageType] = MessageType.EVENT_UPDATE
    event: Event


class ClientReadyAck(RtmsMessage):
    msg_type: ClassVar[MessageType] = MessageType.CLIENT_READY_ACK
    rtms_stream_id: str = Field(min_length=1)


class StreamStateUpdate(RtmsMessage):
    """`reason` is a stop reason; the old mock server sends it as a string, kept in `reason_text` then (and
    written back as a string `reason`, so the simulator can speak that variant too)."""

    msg_type: ClassVar[MessageType] = MessageType.STREAM_STATE_UPDATE
    state: int
    reason: int | None = None
    reason_text: str | None = Field(default=None, exclude=True)
    timestamp: int | None = None
    rtms_stream_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _string_reason(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("reason"), str):
            text = data["reason"].strip()
            data = dict(data)
            if text.lstrip("-").isdigit():
                data["reason"] = int(text)
            else:
                data["reason"] = None
                data["reason_text"] = text
        return data

    def to_wire(self) -> dict[str, Any]:
        body = super().to_wire()
        if self.reason is None and self.reason_text is not None:
            body["reason"] = self.reason_text
        return body

    @property
    def stream_state(self) -> StreamState | int:
        return as_enum(StreamState, self.state)

    @property
    def stop_reason(self) -> StopReason | int | None:
        return None if self.reason is None else as_enum(StopReason, self.reason)


class SessionStateUpdate(RtmsMessage):
    """The docs' table calls the stop field `reason`, their example and the samples `stop_reason`: read either,
    and write both so every client finds it."""

    msg_type: ClassVar[MessageType] = MessageType.SESSION_STATE_UPDATE
    state: int
    reason: int | None = None
    stop_reason: int | None = None
    timestamp: int | None = None
    rtms_session_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _mirror_reason(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if data.get("reason") is None and data.get("stop_reason") is not None:
                data = {**data, "reason": data["stop_reason"]}
            elif data.get("stop_reason") is None and data.get("reason") is not None:
                data = {**data, "stop_reason": data["reason"]}
        return data

    @property
    def session_state(self) -> SessionState | int:
        return as_enum(SessionState, self.state)


class SessionStateRequest(RtmsMessage):
    msg_type: ClassVar[MessageType] = MessageType.SESSION_STATE_REQ
    rtms_session_id: str


class SessionStateResponse(RtmsMessage):
    msg_type: ClassVar[MessageType] = MessageType.SESSION_STATE_RESP
    rtms_session_id: str | None = None
    state: int
    timestamp: int | None = None


class KeepAliveRequest(RtmsMessage):
    """`sequence` is absent in the docs' example but the official SDK answers only requests that carry it."""

    msg_type: ClassVar[MessageType] = MessageType.KEEP_ALIVE_REQ
    timestamp: int
    sequence: int | None = None


class KeepAliveResponse(RtmsMessage):
    msg_type: ClassVar[MessageType] = MessageType.KEEP_ALIVE_RESP
    timestamp: int
    sequence: int | None = None


# ----------------------------------------------------------------------------------------------------------
# Media data


class MediaContent(BaseModel):
    """Audio, video and share frames: `data` is base64; Contact Center audio names a `channel_id` instead of a user."""

    model_config = ConfigDict(extra="allow", frozen=True)
    user_id: UserId | None = None
    user_name: str | None = None
    channel_id: str | None = None
    data: str
    length: int | None = None
    timestamp: int


class TranscriptContent(BaseModel):
    """One utterance: `data` is UTF-8 text (not base64); `timestamp` is the utterance start. A frame without one
    still carries the words: the receiver dates it by its arrival rather than dropping it."""

    model_config = ConfigDict(extra="allow", frozen=True)
    user_id: UserId | None = None
    user_name: str | None = None
    channel_id: str | None = None
    start_time: int | None = None
    end_time: int | None = None
    timestamp: int | None = None
    language: int | None = None
    data: str


class ChatContent(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    user_id: UserId | None = None
    user_name: str | None = None
    timestamp: int
    data: str


class AudioData(RtmsMessage):
    msg_type: ClassVar[MessageType] = MessageType.MEDIA_DATA_AUDIO
    content: MediaContent


class VideoData(RtmsMessage):
    msg_type: ClassVar[MessageType] = MessageType.MEDIA_DATA_VIDEO
    content: MediaContent


class ShareData(RtmsMessage):
    msg_type: ClassVar[MessageType] = MessageType.MEDIA_DATA_SHARE
    content: MediaContent


class TranscriptData(RtmsMessage):
    msg_type: ClassVar[MessageType] = MessageType.MEDIA_DATA_TRANSCRIPT
    content: TranscriptContent


class ChatData(RtmsMessage):
    msg_type: ClassVar[MessageType] = MessageType.MEDIA_DATA_CHAT
    content: ChatContent


# ----------------------------------------------------------------------------------------------------------
# Stream control


class StreamStateRequest(RtmsMessage):
    msg_type: ClassVar[MessageType] = MessageType.STREAM_STATE_REQ
    rtms_stream_id: str


class StreamStateResponse(RtmsMessage):
    """The docs' example gives `timestamp` in seconds where every other message uses milliseconds."""

    msg_type: ClassVar[MessageType] = MessageType.STREAM_STATE_RESP
    state: int
    rtms_stream_id: str | None = None
    timestamp: int | None = None

    @property
    def timestamp_ms(self) -> int | None:
        if self.timestamp is None:
            return None
        return self.timestamp * 1000 if self.timestamp < 100_000_000_000 else self.timestamp


class StreamCloseRequest(RtmsMessage):
    msg_type: ClassVar[MessageType] = MessageType.STREAM_CLOSE_REQ
    rtms_stream_id: str


class StreamCloseResponse(_StatusReply):
    msg_type: ClassVar[MessageType] = MessageType.STREAM_CLOSE_RESP
    rtms_stream_id: str | None = None
    timestamp: int | None = None


class _MetaData(RtmsMessage):
    """Metadata frames: 23 carries AI-interpreter audio metadata, 24-27 are reserved. Bodies stay free-form."""

    content: dict[str, Any] | None = None


class AudioMetaData(_MetaData):
    msg_type: ClassVar[MessageType] = MessageType.META_DATA_AUDIO


class VideoMetaData(_MetaData):
    msg_type: ClassVar[MessageType] = MessageType.META_DATA_VIDEO


class ShareMetaData(_MetaData):
    msg_type: ClassVar[MessageType] = MessageType.META_DATA_SHARE


class TranscriptMetaData(_MetaData):
    msg_type: ClassVar[MessageType] = MessageType.META_DATA_TRANSCRIPT


class ChatMetaData(_MetaData):
    msg_type: ClassVar[MessageType] = MessageType.META_DATA_CHAT


class VideoSubscriptionRequest(RtmsMessage):
    msg_type: ClassVar[MessageType] = MessageType.VIDEO_SUBSCRIPTION_REQ
    user_id: UserId
    subscribe: bool
    timestamp: int | None = None


class VideoSubscriptionResponse(_StatusReply):
    msg_type: ClassVar[MessageType] = MessageType.VIDEO_SUBSCRIPTION_RESP
    user_id: UserId | None = None
    timestamp: int | None = None


MESSAGE_CLASSES: dict[int, type[RtmsMessage]] = {
    cls.msg_type: cls
    for cls in (
        SignalingHandshakeRequest, SignalingHandshakeResponse, DataHandshakeRequest, DataHandshakeResponse,
        EventSubscription, EventUpdate, ClientReadyAck, StreamStateUpdate, SessionStateUpdate,
        SessionStateRequest, SessionStateResponse, KeepAliveRequest, KeepAliveResponse,
        AudioData, VideoData, ShareData, TranscriptData, ChatData,
        StreamStateRequest, StreamStateResponse, StreamCloseRequest, StreamCloseResponse,
        AudioMetaData, VideoMetaData, ShareMetaData, TranscriptMetaData, ChatMetaData,
        VideoSubscriptionRequest, VideoSubscriptionResponse,
    )
}
