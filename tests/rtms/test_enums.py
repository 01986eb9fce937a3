"""Every enumeration of rtms-protocol.md section 9, typed here from the document and checked value by value."""

from __future__ import annotations

from enum import IntEnum

import pytest

from bridge.rtms.enums import (
    ID_KEYS,
    AudioChannel,
    Codec,
    ContentType,
    DataMessageAttribute,
    DataOption,
    EventType,
    LegacyStatusCode,
    MediaType,
    MessageType,
    Product,
    Resolution,
    SampleRate,
    SessionState,
    StatusCode,
    StopReason,
    StreamState,
    TranscriptLanguage,
    TransmissionProtocol,
    ZccVoiceEventType,
    as_enum,
)


def _table(text: str) -> dict[int, str]:
    """`"0 NAME, 1 OTHER"` as {0: "NAME", 1: "OTHER"}."""
    pairs = (item.split() for item in text.replace("\n", " ").split(",") if item.strip())
    return {int(number): name for number, name in pairs}


# Section 5 and 9, as the document lists them. The code drops the doc's STATUS_ / STOP_BC_ prefixes.
DOC: dict[type[IntEnum], dict[int, str]] = {
    MessageType: _table("""
        0 UNDEFINED, 1 SIGNALING_HAND_SHAKE_REQ, 2 SIGNALING_HAND_SHAKE_RESP, 3 DATA_HAND_SHAKE_REQ,
        4 DATA_HAND_SHAKE_RESP, 5 EVENT_SUBSCRIPTION, 6 EVENT_UPDATE, 7 CLIENT_READY_ACK, 8 STREAM_STATE_UPDATE,
        9 SESSION_STATE_UPDATE, 10 SESSION_STATE_REQ, 11 SESSION_STATE_RESP, 12 KEEP_ALIVE_REQ, 13 KEEP_ALIVE_RESP,
        14 MEDIA_DATA_AUDIO, 15 MEDIA_DATA_VIDEO, 16 MEDIA_DATA_SHARE, 17 MEDIA_DATA_TRANSCRIPT, 18 MEDIA_DATA_CHAT,
        19 STREAM_STATE_REQ, 20 STREAM_STATE_RESP, 21 STREAM_CLOSE_REQ, 22 STREAM_CLOSE_RESP, 23 META_DATA_AUDIO,
        24 META_DATA_VIDEO, 25 META_DATA_SHARE, 26 META_DATA_TRANSCRIPT, 27 META_DATA_CHAT, 28 VIDEO_SUBSCRIPTION_REQ,
        29 VIDEO_SUBSCRIPTION_RESP"""),
    ContentType: _table("0 UNDEFINED, 1 RTP, 2 RAW_AUDIO, 3 RAW_VIDEO, 4 FILE_STREAM, 5 TEXT"),
    Codec: _table("0 UNDEFINED, 1 L16, 2 G711, 3 G722, 4 OPUS, 5 JPG, 6 PNG, 7 H264"),
    SampleRate: _table("0 SR_8K, 1 SR_16K, 2 SR_32K, 3 SR_48K"),
    AudioChannel: _table("1 MONO, 2 STEREO"),
    Resolution: _table("1 SD, 2 HD, 3 FHD, 4 QHD"),
    DataOption: _table("""0 UNDEFINED, 1 AUDIO_MIXED_STREAM, 2 AUDIO_MULTI_STREAMS, 3 VIDEO_SINGLE_ACTIVE_STREAM,
        4 VIDEO_SINGLE_INDIVIDUAL_STREAM, 5 VIDEO_MIXED_GALLERY_VIEW"""),
    EventType: _table("""0 UNDEFINED, 1 FIRST_PACKET_TIMESTAMP, 2 ACTIVE_SPEAKER_CHANGE, 3 PARTICIPANT_JOIN,
        4 PARTICIPANT_LEAVE, 5 SHARING_START, 6 SHARING_STOP, 7 MEDIA_CONNECTION_INTERRUPTED, 8 PARTICIPANT_VIDEO_ON,
        9 PARTICIPANT_VIDEO_OFF, 10 CHAT_GROUP_CREATE, 11 CHAT_GROUP_DELETE, 12 CHAT_GROUP_MEMBERS_ADD,
        13 CHAT_GROUP_MEMBERS_DELETE, 14 CHAT_GROUP_MEMBER_STATUS_UPDATE"""),
    ZccVoiceEventType: _table("""8 CONSUMER_ANSWERED, 9 CONSUMER_END, 10 USER_ANSWERED, 11 USER_END, 12 USER_HOLD,
        13 USER_UNHOLD, 14 MONITOR_STARTED, 15 MONITOR_TRANSITIONED, 16 MONITOR_ENDED, 17 TAKEOVER_STARTED,
        18 TRANSFER_INITIATED, 19 TRANSFER_CANCELED, 20 TRANSFER_ACCEPTED, 21 TRANSFER_COMPLETED, 22 TRANSFER_REJECTED,
        23 TRANSFER_TIMEOUT, 24 CONFERENCE_CANCELED, 25 CONFERENCE_PARTICIPANT_CANCELED,
        26 CONFERENCE_PARTICIPANT_INVITED, 27 CONFERENCE_PARTICIPANT_REJECTED, 28 CONFERENCE_PARTICIPANT_TIMEOUT,
        29 CONFERENCE_PARTICIPANT_LEFT"""),
    SessionState: _table("0 INACTIVE, 1 INITIALIZE, 2 STARTED, 3 PAUSED, 4 RESUMED, 5 STOPPED"),
    StreamState: _table("0 INACTIVE, 1 ACTIVE, 2 INTERRUPTED, 3 TERMINATING, 4 TERMINATED, 5 PAUSED, 6 RESUMED"),
    StopReason: _table("""0 UNDEFINED, 1 HOST_TRIGGERED, 2 USER_TRIGGERED, 3 USER_LEFT, 4 USER_EJECTED,
        5 HOST_DISABLED_APP, 6 MEETING_ENDED, 7 STREAM_CANCELED, 8 STREAM_REVOKED, 9 ALL_APPS_DISABLED,
        10 INTERNAL_EXCEPTION, 11 CONNECTION_TIMEOUT, 12 INSTANCE_CONNECTION_INTERRUPTED,
        13 SIGNAL_CONNECTION_INTERRUPTED, 14 DATA_CONNECTION_INTERRUPTED, 15 SIGNAL_CONNECTION_CLOSED_ABNORMALLY,
        16 DATA_CONNECTION_CLOSED_ABNORMALLY, 17 EXIT_SIGNAL, 18 AUTHENTICATION_FAILURE, 19 AWAIT_RECONNECTION_TIMEOUT,
        20 RECEIVER_REQUEST_CLOSE, 21 CUSTOMER_DISCONNECTED, 22 AGENT_DISCONNECTED, 23 ADMIN_DISABLED_APP,
        24 KEEP_ALIVE_TIMEOUT, 25 MANUAL_API_TRIGGERED, 26 STREAMING_NOT_SUPPORTED"""),
    StatusCode: _table("""0 OK, 1 INVALID_MESSAGE_TYPE, 2 INVALID_RTMS_STREAM_ID, 3 INVALID_SIGNATURE,
        4 INVALID_PAYLOAD, 5 INVALID_EVENTS, 6 INVALID_EVENT_TYPE, 7 INVALID_MEDIA_TYPE, 8 DUPLICATE_SIGNAL_REQUEST,
        9 MEDIA_TYPE_AUDIO_NOT_SUPPORT, 10 MEDIA_TYPE_VIDEO_NOT_SUPPORT, 11 MEDIA_TYPE_DESKSHARE_NOT_SUPPORT,
        12 MEDIA_TYPE_TRANSCRIPT_NOT_SUPPORT, 13 MEDIA_TYPE_CHAT_NOT_SUPPORT, 14 MEDIA_TYPE_INVALID_VALUE,
        15 MEDIA_DATA_ALL_CONNECTION_EXIST, 16 DUPLICATE_MEDIA_DATA_CONNECTION, 17 INVALID_MEDIA_PARAMS,
        18 INVALID_MEDIA_AUDIO_PARAMS, 19 INVALID_MEDIA_AUDIO_CONTENT_TYPE, 20 INVALID_MEDIA_AUDIO_SAMPLE_RATE,
        21 INVALID_MEDIA_AUDIO_CHANNEL, 22 INVALID_MEDIA_AUDIO_CODEC, 23 INVALID_MEDIA_AUDIO_DATA_OPT,
        24 INVALID_MEDIA_AUDIO_SEND_RATE, 25 INVALID_MEDIA_VIDEO_PARAMS, 26 INVALID_MEDIA_VIDEO_CONTENT_TYPE,
        27 INVALID_MEDIA_VIDEO_CODEC, 28 INVALID_MEDIA_VIDEO_RESOLUTION, 29 INVALID_MEDIA_VIDEO_DATA_OPT,
        30 INVALID_MEDIA_VIDEO_FPS, 31 INVALID_MEDIA_DESKSHARE_PARAMS, 32 INVALID_MEDIA_DESKSHARE_CONTENT_TYPE,
        33 INVALID_MEDIA_DESKSHARE_CODEC, 34 INVALID_MEDIA_DESKSHARE_RESOLUTION, 35 INVALID_MEDIA_DESKSHARE_FPS,
        36 INVALID_MEDIA_TRANSCRIPT_PARAMS, 37 INVALID_MEDIA_TRANSCRIPT_CONTENT_TYPE, 38 INVALID_MEDIA_CHAT_PARAMS,
        39 INVALID_MEDIA_CHAT_CONTENT_TYPE, 40 INVALID_RTMS_SESSION_ID, 41 INVALID_CLIENT_READY_ACK,
        42 INVALID_EVENT_SUBSCRIBE, 43 INVALID_MEDIA_TRANSCRIPT_SOURCE_LANGUAGE, 44 DUPLICATE_VIDEO_SUBSCRIPTION,
        45 INTERNAL_EXCEPTION, 46 INVALID_MEDIA_TRANSCRIPT_TARGET_LANGUAGE, 47 CHAT_SESSION_KEY_NOT_AVAILABLE"""),
    TranscriptLanguage: _table("""-1 NONE, 0 ARABIC, 1 BENGALI, 2 CANTONESE, 3 CATALAN, 4 CHINESE_SIMPLIFIED,
        5 CHINESE_TRADITIONAL, 6 CZECH, 7 DANISH, 8 DUTCH, 9 ENGLISH, 10 ESTONIAN, 11 FINNISH, 12 FRENCH_CANADA,
        13 FRENCH_FRANCE, 14 GERMAN, 15 HEBREW, 16 HINDI, 17 HUNGARIAN, 18 INDONESIAN, 19 ITALIAN, 20 JAPANESE,
        21 KOREAN, 22 MALAY, 23 PERSIAN, 24 POLISH, 25 PORTUGUESE, 26 ROMANIAN, 27 RUSSIAN, 28 SPANISH, 29 SWEDISH,
        30 TAGALOG, 31 TAMIL, 32 TELUGU, 33 THAI, 34 TURKISH, 35 UKRAINIAN, 36 VIETNAMESE"""),
    TransmissionProtocol: _table("1 WEBSOCKET, 2 RTMP, 3 UDP, 4 WEBRTC"),
    DataMessageAttribute: _table("0 NONE, 1 NEW, 2 UPDATE, 3 DELETE"),
}

# The legacy status list is only partly spelled out in the document; the code names these, with these numbers.
LEGACY_SPOT_CHECK = _table("""0 OK, 1 CONNECTION_TIMEOUT, 2 INVALID_JSON_MSG_SIZE, 3 INVALID_JSON_MSG,
    4 INVALID_MESSAGE_TYPE, 5 MSG_TYPE_NOT_EXIST, 6 MSG_TYPE_NOT_UINT, 7 MEETING_UUID_NOT_EXIST,
    10 RTMS_STREAM_ID_NOT_EXIST, 13 SESSION_NOT_FOUND, 14 SIGNATURE_NOT_EXIST, 15 INVALID_SIGNATURE,
    16 INVALID_MEETING_OR_STREAM_ID, 17 DUPLICATE_SIGNAL_REQUEST, 18 EVENTS_NOT_EXIST,
    30 MEDIA_DATA_ALL_CONNECTION_EXIST, 31 DUPLICATE_MEDIA_DATA_CONNECTION, 72 INVALID_AUDIO_DATA_BUFFER,
    73 INVALID_VIDEO_DATA_BUFFER, 74 POST_FIRST_PACKET_FAILURE, 75 RTMS_SESSION_NOT_FOUND""")


@pytest.mark.parametrize("enum", list(DOC), ids=lambda e: e.__name__)
def test_enum_matches_the_document(enum: type[IntEnum]) -> None:
    assert {member.value: member.name for member in enum} == DOC[enum]


def test_legacy_status_codes_spot_check() -> None:
    for number, name in LEGACY_SPOT_CHECK.items():
        assert LegacyStatusCode(number).name == name
    # the two lists disagree on purpose: 15 is a signature failure only in the legacy list
    assert LegacyStatusCode(15).name == "INVALID_SIGNATURE" and StatusCode(3).name == "INVALID_SIGNATURE"


def test_media_type_bitmask() -> None:
    assert {name: int(m) for name, m in MediaType.__members__.items()} == {
        "UNDEFINED": 0,
        "AUDIO": 1,
        "VIDEO": 2,
        "DESKSHARE": 4,
        "TRANSCRIPT": 8,
        "CHAT": 16,
        "ALL": 32,
    }
    assert int(MediaType.AUDIO | MediaType.TRANSCRIPT) == 9
    assert MediaType.TRANSCRIPT in MediaType(9)


def test_sample_rate_hertz() -> None:
    assert [rate.hertz for rate in SampleRate] == [8000, 16000, 32000, 48000]


def test_as_enum_keeps_unknown_values() -> None:
    assert as_enum(StopReason, 6) is StopReason.MEETING_ENDED
    assert as_enum(StopReason, 27) == 27 and type(as_enum(StopReason, 27)) is int
    assert as_enum(StatusCode, 75) == 75 and type(as_enum(StatusCode, 75)) is int


def test_products_and_their_id_keys() -> None:
    assert {p.value: (p.id_key, p.event_prefix) for p in Product} == {
        "meeting": ("meeting_uuid", "meeting."),
        "webinar": ("webinar_uuid", "webinar."),
        "session": ("session_id", "session."),
        "contact_center": ("engagement_id", "contact_center.voice_"),
        "phone": ("call_id", "phone."),
    }
    assert ID_KEYS == ("meeting_uuid", "webinar_uuid", "session_id", "engagement_id", "call_id")
