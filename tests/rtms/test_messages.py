"""Message models: the helpers the client and the simulator read (ok, status, enums), ids, strict encoding."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bridge.rtms.codec import decode, encode
from bridge.rtms.enums import (
    EventType,
    MessageType,
    SessionState,
    StatusCode,
    StopReason,
    StreamState,
)
from bridge.rtms.messages import (
    MESSAGE_CLASSES,
    AudioMetaData,
    ClientReadyAck,
    DataHandshakeRequest,
    DataHandshakeResponse,
    Event,
    EventUpdate,
    KeepAliveRequest,
    MediaServer,
    SessionStateUpdate,
    SignalingHandshakeRequest,
    SignalingHandshakeResponse,
    StreamStateResponse,
    StreamStateUpdate,
)

# ---------------------------------------------------------------------------------------------------------------
# Handshake replies


def test_signaling_reply_ok_and_status() -> None:
    ok = SignalingHandshakeResponse(status_code=0, media_server=MediaServer(server_urls={"all": "wss://x"}))
    assert ok.ok and ok.status is StatusCode.OK
    refused = decode('{"msg_type":2,"status_code":3,"reason":"bad"}')
    assert isinstance(refused, SignalingHandshakeResponse)
    assert not refused.ok and refused.status is StatusCode.INVALID_SIGNATURE


def test_signaling_reply_without_status_code_old_mock() -> None:
    failure = decode('{"msg_type":2,"reason":"Invalid signature"}')
    assert isinstance(failure, SignalingHandshakeResponse)
    assert failure.status is None and not failure.ok
    success = decode('{"msg_type":2,"media_server":{"server_urls":{"all":"ws://127.0.0.1:8081"}}}')
    assert isinstance(success, SignalingHandshakeResponse)
    assert success.ok
    empty = decode('{"msg_type":2,"media_server":{"server_urls":{}}}')
    assert isinstance(empty, SignalingHandshakeResponse)
    assert not empty.ok


def test_status_alias_and_unknown_status_kept_as_int() -> None:
    reply = decode('{"msg_type":4,"status":75,"reason":"legacy"}')
    assert isinstance(reply, DataHandshakeResponse)
    assert reply.status_code == 75 and reply.status == 75
    assert not isinstance(reply.status, StatusCode)
    assert "status" not in (reply.model_extra or {})
    assert not reply.ok


def test_status_code_wins_over_status_alias() -> None:
    reply = decode('{"msg_type":4,"status_code":0,"status":3}')
    assert isinstance(reply, DataHandshakeResponse)
    assert reply.status_code == 0 and reply.ok


def test_data_reply_ok() -> None:
    assert DataHandshakeResponse(status_code=0).ok
    assert not DataHandshakeResponse(status_code=16).ok
    assert not DataHandshakeResponse().ok


# ---------------------------------------------------------------------------------------------------------------
# Stream and session state


def test_stream_state_update_enums() -> None:
    update = StreamStateUpdate(state=4, reason=6)
    assert update.stream_state is StreamState.TERMINATED
    assert update.stop_reason is StopReason.MEETING_ENDED


def test_stream_state_update_unknown_values_stay_ints() -> None:
    update = StreamStateUpdate(state=9, reason=99)
    assert update.stream_state == 9 and not isinstance(update.stream_state, StreamState)
    assert update.stop_reason == 99 and not isinstance(update.stop_reason, StopReason)
    assert StreamStateUpdate(state=1).stop_reason is None


def test_stream_state_update_string_reason() -> None:
    text = decode('{"msg_type":8,"state":4,"reason":"Meeting ended"}')
    assert isinstance(text, StreamStateUpdate)
    assert text.reason is None and text.reason_text == "Meeting ended" and text.stop_reason is None
    # written back as the string variant, so the simulator can speak it
    assert encode(text) == '{"msg_type":8,"state":4,"reason":"Meeting ended"}'
    numeric = decode('{"msg_type":8,"state":4,"reason":" 24 "}')
    assert isinstance(numeric, StreamStateUpdate)
    assert numeric.stop_reason is StopReason.KEEP_ALIVE_TIMEOUT and numeric.reason_text is None
    # a numeric reason wins over text when both are set
    both = StreamStateUpdate(state=4, reason=6, reason_text="ended")
    assert encode(both) == '{"msg_type":8,"state":4,"reason":6}'


@pytest.mark.parametrize(
    "frame",
    [
        '{"msg_type":9,"state":5,"stop_reason":8}',
        '{"msg_type":9,"state":5,"reason":8}',
        '{"msg_type":9,"state":5,"reason":8,"stop_reason":8}',
    ],
)
def test_session_state_update_reads_either_stop_field_and_writes_both(frame: str) -> None:
    update = decode(frame)
    assert isinstance(update, SessionStateUpdate)
    assert update.session_state is SessionState.STOPPED
    assert update.reason == update.stop_reason == StopReason.STREAM_REVOKED
    assert encode(update) == '{"msg_type":9,"state":5,"reason":8,"stop_reason":8}'


def test_session_state_update_constructor_mirrors() -> None:
    assert SessionStateUpdate(state=5, stop_reason=6) == SessionStateUpdate(state=5, reason=6)
    assert SessionStateUpdate(state=7).session_state == 7


def test_stream_state_response_timestamp_units() -> None:
    assert StreamStateResponse(state=1, timestamp=1694204592).timestamp_ms == 1694204592000
    assert StreamStateResponse(state=1, timestamp=1727384349123).timestamp_ms == 1727384349123
    assert StreamStateResponse(state=1).timestamp_ms is None


# ---------------------------------------------------------------------------------------------------------------
# Events


def test_event_type_enum_and_unknown() -> None:
    assert Event(event_type=2).type is EventType.ACTIVE_SPEAKER_CHANGE
    assert Event(event_type=77).type == 77


def test_contact_center_event_ts_fills_timestamp() -> None:
    event = Event(event_type=8, event_ts=5)
    assert event.timestamp == 5
    assert Event(event_type=8, event_ts=5, timestamp=6).timestamp == 6


def test_participant_info_under_either_spelling() -> None:
    info = {"channel_id": "c1", "participant_mode": "caller"}
    assert Event(event_type=8, paticipant_info=info).participant_info == info
    correct = decode('{"msg_type":6,"event":{"event_type":8,"participant_info":{"channel_id":"c1"}}}')
    assert isinstance(correct, EventUpdate)
    assert correct.event.participant_info == {"channel_id": "c1"}
    assert Event(event_type=3).participant_info is None
    assert Event(event_type=3, participant_info="not an object").participant_info is None


# ---------------------------------------------------------------------------------------------------------------
# Instance ids


@pytest.mark.parametrize("key", ["meeting_uuid", "webinar_uuid", "session_id", "engagement_id", "call_id"])
def test_instance_id_from_any_key_written_back_under_it(key: str) -> None:
    message = SignalingHandshakeRequest.model_validate({key: "abc==", "rtms_stream_id": "s", "signature": "x"})
    assert message.instance_id == "abc==" and message.id_key == key
    wire = message.to_wire()
    assert wire[key] == "abc=="
    assert "instance_id" not in wire and "id_key" not in wire


def test_instance_id_priority_follows_the_sdk() -> None:
    message = DataHandshakeRequest.model_validate(
        {"session_id": "sess", "webinar_uuid": "web", "rtms_stream_id": "s", "signature": "x", "media_type": 8}
    )
    assert (message.id_key, message.instance_id) == ("webinar_uuid", "web")
    assert (message.model_extra or {}) == {"session_id": "sess"}
    assert "session_id" not in message.to_wire()


def test_empty_id_falls_through_to_the_next_key() -> None:
    message = SignalingHandshakeRequest.model_validate(
        {"meeting_uuid": "", "engagement_id": "e1", "rtms_stream_id": "s", "signature": "x"}
    )
    assert (message.id_key, message.instance_id) == ("engagement_id", "e1")


def test_integer_id_is_stringified_bool_is_refused() -> None:
    message = SignalingHandshakeRequest.model_validate({"call_id": 12345, "rtms_stream_id": "s", "signature": "x"})
    assert message.instance_id == "12345"
    with pytest.raises(ValidationError):
        SignalingHandshakeRequest.model_validate({"call_id": True, "rtms_stream_id": "s", "signature": "x"})


def test_default_id_key_is_meeting_uuid() -> None:
    message = SignalingHandshakeRequest(instance_id="m", rtms_stream_id="s", signature="x")
    assert message.to_wire() == {
        "msg_type": 1,
        "meeting_uuid": "m",
        "protocol_version": 1,
        "rtms_stream_id": "s",
        "signature": "x",
    }


# ---------------------------------------------------------------------------------------------------------------
# Models and encoding


def test_messages_are_frozen() -> None:
    message = ClientReadyAck(rtms_stream_id="s")
    with pytest.raises(ValidationError):
        message.rtms_stream_id = "other"  # type: ignore[misc]


def test_message_classes_table() -> None:
    assert sorted(MESSAGE_CLASSES) == list(range(1, 30))
    for number, cls in MESSAGE_CLASSES.items():
        assert cls.msg_type is MessageType(number)


def test_enum_members_encode_as_plain_ints() -> None:
    message = StreamStateUpdate(state=StreamState.TERMINATED, reason=StopReason.MEETING_ENDED)
    wire = message.to_wire()
    assert wire == {"msg_type": 8, "state": 4, "reason": 6}
    assert all(type(v) is int for v in wire.values())
    assert encode(message) == '{"msg_type":8,"state":4,"reason":6}'


def test_free_form_content_keeps_its_keys_but_never_a_null() -> None:
    message = AudioMetaData(content={"interpreter": {"lid": None, "target": "fr"}, "tone": None, "engine": "e"})
    assert encode(message) == '{"msg_type":23,"content":{"interpreter":{"target":"fr"},"engine":"e"}}'


def test_unknown_fields_are_kept_on_decode_at_every_level() -> None:
    message = decode('{"msg_type":12,"timestamp":1,"future":{"x":1}}')
    assert isinstance(message, KeepAliveRequest)
    assert message.model_extra == {"future": {"x": 1}}
    assert encode(message) == '{"msg_type":12,"timestamp":1}'
    nested = decode('{"msg_type":6,"event":{"event_type":2,"user_id":1,"avatar":"a.png"}}')
    assert isinstance(nested, EventUpdate)
    assert nested.event.model_extra == {"avatar": "a.png"}
    assert encode(nested) == '{"msg_type":6,"event":{"event_type":2,"user_id":1}}'


def test_required_fields_are_required() -> None:
    with pytest.raises(ValidationError):
        KeepAliveRequest()  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        ClientReadyAck(rtms_stream_id="")
