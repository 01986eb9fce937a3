"""Frames to messages and back: the golden table read in both directions, and every way a frame can be wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from bridge.rtms import codec
from bridge.rtms.codec import MAX_FRAME_BYTES, decode, encode, message_name, styled_json
from bridge.rtms.enums import MessageType
from bridge.rtms.errors import MalformedFrame, ProtocolError, RtmsError, UnknownMessageType
from bridge.rtms.messages import (
    MESSAGE_CLASSES,
    ClientReadyAck,
    KeepAliveResponse,
    RtmsMessage,
    TranscriptContent,
    TranscriptData,
)
from tests.rtms.golden import GOLDEN, STREAM_ID, Golden

_IDS = [case.name for case in GOLDEN]


# ---------------------------------------------------------------------------------------------------------------
# The golden table


def test_golden_table_covers_every_message_type() -> None:
    assert {case.msg_type for case in GOLDEN} == set(range(1, 30))
    assert set(MESSAGE_CLASSES) == set(range(1, 30))
    for case in GOLDEN:
        assert type(case.model) is MESSAGE_CLASSES[case.msg_type], case.name


def test_golden_names_are_unique() -> None:
    assert len(set(_IDS)) == len(_IDS)


@pytest.mark.parametrize("case", GOLDEN, ids=_IDS)
def test_decode_golden(case: Golden) -> None:
    decoded = decode(case.frame)
    assert type(decoded) is type(case.model)
    assert decoded == case.model


@pytest.mark.parametrize("case", GOLDEN, ids=_IDS)
def test_decode_golden_as_text_and_binary(case: Golden) -> None:
    raw = case.frame if isinstance(case.frame, bytes) else case.frame.encode()
    assert decode(raw.decode()) == case.model
    assert decode(raw) == case.model
    assert decode(bytearray(raw)) == case.model
    assert decode(memoryview(raw)) == case.model


@pytest.mark.parametrize("case", GOLDEN, ids=_IDS)
def test_encode_golden_is_compact_declared_and_null_free(case: Golden) -> None:
    text = encode(case.model)
    value = json.loads(text)
    assert value == case.expected_wire
    assert text == json.dumps(value, separators=(",", ":"), ensure_ascii=False), "not compact"
    assert next(iter(value)) == "msg_type"
    assert value["msg_type"] == case.msg_type and type(value["msg_type"]) is int
    _assert_no_null(value)
    _assert_declared_only(case.model, value)


@pytest.mark.parametrize("case", GOLDEN, ids=_IDS)
def test_encode_golden_decodes_back_equal(case: Golden) -> None:
    assert decode(encode(case.model)) == case.expected_again
    assert decode(encode(case.model).encode()) == case.expected_again
    assert decode(encode(case.model, "styled")) == case.expected_again


@pytest.mark.parametrize("case", GOLDEN, ids=_IDS)
def test_encode_is_stable_after_one_round_trip(case: Golden) -> None:
    once = encode(case.model)
    assert encode(decode(once)) == once


def _assert_no_null(value: Any, path: str = "$") -> None:
    assert value is not None, f"null at {path}"
    if isinstance(value, dict):
        for key, item in value.items():
            _assert_no_null(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _assert_no_null(item, f"{path}[{i}]")


def _assert_declared_only(model: BaseModel, wire: dict[str, Any], path: str = "$") -> None:
    """Every key of an encoded object is a declared field of the model it came from (the id under its key)."""
    fields = set(type(model).model_fields)
    if "instance_id" in fields:
        fields -= {"instance_id", "id_key"}
        fields.add(getattr(model, "id_key"))  # noqa: B009 - only messages with an instance id have it
    allowed = fields | ({"msg_type"} if isinstance(model, RtmsMessage) else set())
    assert set(wire) <= allowed, f"undeclared keys at {path}: {set(wire) - allowed}"
    for key, item in wire.items():
        if key not in type(model).model_fields:
            continue
        attr = getattr(model, key)
        if isinstance(attr, BaseModel):
            _assert_declared_only(attr, item, f"{path}.{key}")
        elif isinstance(attr, list):
            for i, (sub, sub_wire) in enumerate(zip(attr, item, strict=True)):
                if isinstance(sub, BaseModel):
                    _assert_declared_only(sub, sub_wire, f"{path}.{key}[{i}]")


# ---------------------------------------------------------------------------------------------------------------
# Styled output (the official SDK's layout) and text encoding


def test_styled_matches_the_sdk_ready_ack_byte_for_byte() -> None:
    # rtms-protocol.md 4: the SDK's CLIENT_READY_ACK as seen on the wire.
    expected = f'{{\n\t"msg_type" : 7,\n\t"rtms_stream_id" : "{STREAM_ID}"\n}}\n'
    assert encode(ClientReadyAck(rtms_stream_id=STREAM_ID), "styled") == expected


def test_styled_sorts_keys_and_uses_tabs() -> None:
    text = encode(KeepAliveResponse(timestamp=5, sequence=9), "styled")
    assert text == '{\n\t"msg_type" : 13,\n\t"sequence" : 9,\n\t"timestamp" : 5\n}\n'
    assert styled_json({"b": 1, "a": {"d": 2, "c": 3}}).splitlines()[1] == '\t"a" : {'


def test_non_ascii_stays_utf8_not_escaped() -> None:
    message = TranscriptData(content=TranscriptContent(user_name="Jürgen Ørsted", timestamp=1, data="Grüße, 世界"))
    text = encode(message)
    assert "Jürgen Ørsted" in text and "Grüße, 世界" in text
    assert decode(text.encode("utf-8")) == message


def test_byte_order_mark_is_tolerated() -> None:
    assert decode('\ufeff{"msg_type":7,"rtms_stream_id":"s"}') == ClientReadyAck(rtms_stream_id="s")


@pytest.mark.parametrize("msg_type", ['"7"', '" 7 "'])
def test_numeric_string_msg_type_is_accepted(msg_type: str) -> None:
    assert decode(f'{{"msg_type":{msg_type},"rtms_stream_id":"s"}}') == ClientReadyAck(rtms_stream_id="s")


def test_message_name() -> None:
    assert message_name(17) == "MEDIA_DATA_TRANSCRIPT"
    assert message_name(1) == "SIGNALING_HAND_SHAKE_REQ"
    assert message_name(99) == "UNKNOWN_99"


# ---------------------------------------------------------------------------------------------------------------
# Malformed frames: the error class, the field it names, and no payload text in the message

SECRET = "The acquisition of Northwind closes on Friday"


def _transcript(**content: Any) -> str:
    base: dict[str, Any] = {"user_id": 1, "user_name": "Ann", "timestamp": 1, "data": SECRET}
    base.update(content)
    return json.dumps({"msg_type": 17, "content": {k: v for k, v in base.items() if v is not ...}})


MALFORMED: list[tuple[str, str | bytes, type[MalformedFrame], str | None, str]] = [
    # (name, frame, error class, field named, words the message must contain)
    (
        "invalid utf-8",
        b'{"msg_type":17,"content":{"data":"' + SECRET.encode() + b'\xff\xfe"}}',
        MalformedFrame,
        None,
        "not UTF-8",
    ),
    ("empty text", "", MalformedFrame, None, "empty"),
    ("empty binary", b"", MalformedFrame, None, "empty"),
    ("whitespace only", " \n\t\r ", MalformedFrame, None, "empty"),
    ("not JSON", f"transcript: {SECRET}", MalformedFrame, None, "not JSON"),
    ("truncated JSON", '{"msg_type":17,"content":{"data":"' + SECRET, MalformedFrame, None, "not JSON"),
    ("JSON array", json.dumps([17, SECRET]), MalformedFrame, None, "list, expected an object"),
    ("JSON string", json.dumps(SECRET), MalformedFrame, None, "str, expected an object"),
    ("JSON number", "17", MalformedFrame, None, "int, expected an object"),
    ("nested too deeply", '{"msg_type":17,"content":' + "[" * 100_000, MalformedFrame, None, "nested too deeply"),
    ("missing msg_type", json.dumps({"content": {"data": SECRET}}), MalformedFrame, "msg_type", "missing"),
    ("msg_type bool", json.dumps({"msg_type": True, "data": SECRET}), MalformedFrame, "msg_type", "boolean"),
    ("msg_type float", json.dumps({"msg_type": 17.0, "data": SECRET}), MalformedFrame, "msg_type", "float"),
    ("msg_type name", json.dumps({"msg_type": "MEDIA_DATA_TRANSCRIPT"}), MalformedFrame, "msg_type", "got str"),
    ("msg_type secret", json.dumps({"msg_type": SECRET}), MalformedFrame, "msg_type", "got str"),
    ("msg_type superscript digit", json.dumps({"msg_type": "\u00b2"}), MalformedFrame, "msg_type", "got str"),
    ("msg_type non-ASCII digits", json.dumps({"msg_type": "\u0661\u0667"}), MalformedFrame, "msg_type", "got str"),
    ("msg_type negative string", json.dumps({"msg_type": "-1"}), MalformedFrame, "msg_type", "got str"),
    ("msg_type null", json.dumps({"msg_type": None}), MalformedFrame, "msg_type", "NoneType"),
    ("msg_type object", json.dumps({"msg_type": {"v": 17}}), MalformedFrame, "msg_type", "dict"),
    ("unknown msg_type", json.dumps({"msg_type": 99, "data": SECRET}), UnknownMessageType, "msg_type", "unknown"),
    ("msg_type 0", json.dumps({"msg_type": 0}), UnknownMessageType, "msg_type", "unknown"),
    ("negative msg_type", json.dumps({"msg_type": -3}), UnknownMessageType, "msg_type", "unknown"),
    ("numeric-string unknown", json.dumps({"msg_type": "30"}), UnknownMessageType, "msg_type", "unknown"),
    ("timestamp too large", _transcript(timestamp=10**30), MalformedFrame, "content.timestamp", "out of range"),
    ("5,000-digit number", _transcript(timestamp=int("9" * 4000)), MalformedFrame, "content.timestamp", "out of range"),
    ("missing content.data", _transcript(data=...), MalformedFrame, "content.data", "missing"),
    ("missing content", json.dumps({"msg_type": 17}), MalformedFrame, "content", "missing"),
    ("content is text", json.dumps({"msg_type": 17, "content": SECRET}), MalformedFrame, "content", "dictionary"),
    ("timestamp is text", _transcript(timestamp=SECRET), MalformedFrame, "content.timestamp", "integer"),
    ("timestamp is fractional", _transcript(timestamp=1.5), MalformedFrame, "content.timestamp", "integer"),
    ("data is a number", _transcript(data=12), MalformedFrame, "content.data", "string"),
    ("user_id is a list", _transcript(user_id=[1]), MalformedFrame, "content.user_id", "expected int or str"),
    ("user_name is an object", _transcript(user_name={"first": SECRET}), MalformedFrame, "content.user_name", "string"),
    ("two bad fields", _transcript(timestamp=SECRET, data=7), MalformedFrame, "content.timestamp", "1 more field"),
    (
        "handshake without any id",
        json.dumps({"msg_type": 1, "rtms_stream_id": "s", "signature": "x"}),
        MalformedFrame,
        "meeting_uuid",
        "missing",
    ),
    (
        "handshake with an empty id",
        json.dumps({"msg_type": 1, "meeting_uuid": "", "rtms_stream_id": "s", "signature": "x"}),
        MalformedFrame,
        "meeting_uuid",
        "missing",
    ),
    (
        "handshake id of the wrong type",
        json.dumps(
            {"msg_type": 3, "webinar_uuid": {"x": SECRET}, "rtms_stream_id": "s", "signature": "x", "media_type": 8}
        ),
        MalformedFrame,
        "webinar_uuid",
        "string",
    ),
    (
        "handshake without signature",
        json.dumps({"msg_type": 1, "meeting_uuid": "m", "rtms_stream_id": "s"}),
        MalformedFrame,
        "signature",
        "missing",
    ),
    (
        "handshake with an empty stream id",
        json.dumps({"msg_type": 1, "meeting_uuid": "m", "rtms_stream_id": "", "signature": "x"}),
        MalformedFrame,
        "rtms_stream_id",
        "1",
    ),
    (
        "media_type negative",
        json.dumps({"msg_type": 3, "meeting_uuid": "m", "rtms_stream_id": "s", "signature": "x", "media_type": -1}),
        MalformedFrame,
        "media_type",
        "0",
    ),
    (
        "keep-alive without timestamp",
        json.dumps({"msg_type": 12, "sequence": 3}),
        MalformedFrame,
        "timestamp",
        "missing",
    ),
    (
        "media_server wrong type",
        json.dumps({"msg_type": 2, "status_code": 0, "media_server": SECRET}),
        MalformedFrame,
        "media_server",
        "dictionary",
    ),
    (
        "server url wrong type",
        json.dumps({"msg_type": 2, "media_server": {"server_urls": {"all": 1}}}),
        MalformedFrame,
        "media_server.server_urls.all",
        "string",
    ),
    ("events not a list", json.dumps({"msg_type": 5, "events": SECRET}), MalformedFrame, "events", "list"),
    ("events with a bool", json.dumps({"msg_type": 5, "events": [True]}), MalformedFrame, "events.0", "dictionary"),
    (
        "participant without user_id",
        json.dumps({"msg_type": 6, "event": {"event_type": 3, "participants": [{"user_name": SECRET}]}}),
        MalformedFrame,
        "event.participants.0.user_id",
        "missing",
    ),
    ("state missing", json.dumps({"msg_type": 8, "reason": 6}), MalformedFrame, "state", "missing"),
    (
        "status code is text",
        json.dumps({"msg_type": 4, "status_code": SECRET}),
        MalformedFrame,
        "status_code",
        "integer",
    ),
    (
        "subscribe is text",
        json.dumps({"msg_type": 28, "user_id": 1, "subscribe": SECRET}),
        MalformedFrame,
        "subscribe",
        "boolean",
    ),
]


@pytest.mark.parametrize(
    ("frame", "error", "field", "words"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_frame(frame: str | bytes, error: type[MalformedFrame], field: str | None, words: str) -> None:
    with pytest.raises(error) as info:
        decode(frame)
    exc = info.value
    assert type(exc) is error
    assert exc.field == field
    text = str(exc)
    assert words in text
    if field is not None:
        assert repr(field) in text
    _assert_leaks_nothing(exc)


def _assert_leaks_nothing(exc: BaseException) -> None:
    for text in (str(exc), repr(exc), *map(str, exc.args)):
        for fragment in ("Northwind", "acquisition", "Friday"):
            assert fragment not in text
    # A pydantic ValidationError would print the input; it must not ride along in the traceback chain.
    assert exc.__cause__ is None
    assert exc.__context__ is None or exc.__suppress_context__


def test_unknown_message_type_carries_the_number() -> None:
    with pytest.raises(UnknownMessageType) as info:
        decode('{"msg_type":42}')
    assert info.value.msg_type == 42
    assert isinstance(info.value, MalformedFrame)
    assert isinstance(info.value, ProtocolError)
    assert isinstance(info.value, RtmsError)


def test_validation_error_names_the_message_type() -> None:
    with pytest.raises(MalformedFrame) as info:
        decode(_transcript(data=...))
    assert info.value.msg_type == 17
    assert info.value.reason == "missing"
    assert str(info.value) == "malformed RTMS frame: msg_type 17, field 'content.data': missing"


def test_a_transcript_frame_without_a_timestamp_still_decodes() -> None:
    message = decode(_transcript(timestamp=...))
    assert isinstance(message, TranscriptData)
    assert message.content.timestamp is None and message.content.data


def test_oversized_frame_is_refused_before_parsing() -> None:
    head = b'{"msg_type":17,"content":{"user_id":1,"timestamp":1,"data":"'
    tail = b'"}}'
    fits = head + b"a" * (MAX_FRAME_BYTES - len(head) - len(tail)) + tail
    assert len(fits) == MAX_FRAME_BYTES
    assert isinstance(decode(fits), TranscriptData)
    too_big = fits + b" "
    for frame in (too_big, too_big.decode()):
        with pytest.raises(MalformedFrame) as info:
            decode(frame)
        assert "exceeds" in str(info.value) and str(MAX_FRAME_BYTES) in str(info.value)
        _assert_leaks_nothing(info.value)


def test_frame_limit_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec, "MAX_FRAME_BYTES", 16)
    with pytest.raises(MalformedFrame, match="exceeds 16"):
        decode(b'{"msg_type":7,"rtms_stream_id":"s"}')


def test_every_message_class_is_named_by_its_type() -> None:
    for number, cls in MESSAGE_CLASSES.items():
        assert cls.msg_type == number
        assert MessageType(number).name == message_name(number)
