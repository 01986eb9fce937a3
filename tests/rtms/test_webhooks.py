"""Webhook bodies of every RTMS event family, decoded and re-encoded; malformed bodies name what is wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bridge.rtms.enums import Product, StopReason
from bridge.rtms.errors import MalformedWebhook, RtmsError, UnknownWebhookEvent, WebhookError
from bridge.rtms.signatures import verify_webhook_signature, webhook_signature
from bridge.rtms.webhooks import (
    CONCURRENCY_LIMITED,
    CONCURRENCY_NEAR_LIMIT,
    START_FAILED,
    URL_VALIDATION,
    ConcurrencyLimited,
    ConcurrencyNearLimit,
    RtmsInterrupted,
    RtmsStarted,
    RtmsStopped,
    StartFailed,
    StreamEventKind,
    UrlValidation,
    encode_webhook,
    parse_webhook,
    stream_event_name,
    stream_payload,
)
from tests.rtms.golden import MEETING_UUID, STREAM_ID

# Verbatim OpenAPI examples (rtms-protocol.md 3.4) and the url_validation body of 3.2.
OAS_STARTED = (
    b'{"event":"meeting.rtms_started","event_ts":1626230691572,"payload":{"meeting_uuid":"4444AAAiAAAAAiAiAiiAii==",'
    b'"operator_id":"30R7kT7bTIKSNUFEuH_Qlg","rtms_stream_id":"609340fb2a7946909659956c8aa9250c",'
    b'"server_urls":"wss://127.0.0.1:443"}}'
)
OAS_STOPPED = (
    b'{"event":"meeting.rtms_stopped","event_ts":1626230691572,"payload":{"meeting_uuid":"4444AAAiAAAAAiAiAiiAii==",'
    b'"rtms_stream_id":"609340fb2a7946909659956c8aa9250c","stop_reason":1}}'
)
OAS_INTERRUPTED = (
    b'{"event":"meeting.rtms_interrupted","event_ts":1626230691572,"payload":{"meeting_uuid":'
    b'"4444AAAiAAAAAiAiAiiAii==","rtms_stream_id":"609340fb2a7946909659956c8aa9250c"}}'
)
OAS_SESSION_STARTED = (
    b'{"event":"session.rtms_started","event_ts":1626230691572,"payload":{"session_id":"4567UVWxYZABCdEfGhiJkl==",'
    b'"session_key":"ABC36jaBI145","rtms_stream_id":"609340fb2a7946909659956c8aa9250c",'
    b'"server_urls":"wss://127.0.0.1:443"}}'
)
OAS_NEAR_LIMIT = (
    b'{"event":"rtms.concurrency_near_limit","event_ts":1626230691572,"payload":{"concurrency_limit":2000,'
    b'"concurrency_number":1601,"percentage":80}}'
)
URL_VALIDATION_BODY = (
    b'{"event":"endpoint.url_validation","payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680}'
)


# ---------------------------------------------------------------------------------------------------------------
# The OpenAPI examples


def test_oas_meeting_started() -> None:
    event = parse_webhook(OAS_STARTED)
    assert isinstance(event, RtmsStarted)
    assert event.event == "meeting.rtms_started" and event.event_ts == 1626230691572
    assert event.product is Product.MEETING and event.id_key == "meeting_uuid"
    assert event.instance_id == MEETING_UUID and event.rtms_stream_id == STREAM_ID
    assert event.server_urls == "wss://127.0.0.1:443" and event.urls == ["wss://127.0.0.1:443"]
    assert event.operator_id == "30R7kT7bTIKSNUFEuH_Qlg"
    assert event.payload == json.loads(OAS_STARTED)["payload"]


def test_oas_meeting_stopped() -> None:
    event = parse_webhook(OAS_STOPPED)
    assert isinstance(event, RtmsStopped)
    assert (event.product, event.instance_id, event.rtms_stream_id) == (Product.MEETING, MEETING_UUID, STREAM_ID)
    assert event.stop_reason == 1 and event.reason is StopReason.HOST_TRIGGERED


def test_oas_meeting_interrupted() -> None:
    event = parse_webhook(OAS_INTERRUPTED)
    assert isinstance(event, RtmsInterrupted)
    assert (event.product, event.instance_id, event.rtms_stream_id) == (Product.MEETING, MEETING_UUID, STREAM_ID)


def test_oas_session_started() -> None:
    event = parse_webhook(OAS_SESSION_STARTED.decode())
    assert isinstance(event, RtmsStarted)
    assert event.product is Product.SESSION and event.id_key == "session_id"
    assert event.instance_id == "4567UVWxYZABCdEfGhiJkl==" and event.payload["session_key"] == "ABC36jaBI145"
    assert event.operator_id is None


def test_oas_concurrency_near_limit() -> None:
    event = parse_webhook(OAS_NEAR_LIMIT)
    assert event == ConcurrencyNearLimit(
        event=CONCURRENCY_NEAR_LIMIT,
        event_ts=1626230691572,
        concurrency_limit=2000,
        concurrency_number=1601,
        percentage=80,
    )


def test_url_validation() -> None:
    event = parse_webhook(URL_VALIDATION_BODY)
    assert event == UrlValidation(event=URL_VALIDATION, event_ts=1654503849680, plain_token="qgg8vlvZRS6UYooatFL8Aw")


# ---------------------------------------------------------------------------------------------------------------
# Every event family


_KINDS: tuple[StreamEventKind, ...] = ("started", "stopped", "interrupted")
FAMILIES: list[tuple[Product, StreamEventKind, str]] = [
    (product, kind, name)
    for product, names in {
        Product.MEETING: ("meeting.rtms_started", "meeting.rtms_stopped", "meeting.rtms_interrupted"),
        Product.WEBINAR: ("webinar.rtms_started", "webinar.rtms_stopped", "webinar.rtms_interrupted"),
        Product.SESSION: ("session.rtms_started", "session.rtms_stopped", "session.rtms_interrupted"),
        Product.CONTACT_CENTER: (
            "contact_center.voice_rtms_started",
            "contact_center.voice_rtms_stopped",
            "contact_center.voice_rtms_interrupted",
        ),
        Product.PHONE: ("phone.rtms_started", "phone.rtms_stopped", "phone.rtms_interrupted"),
    }.items()
    for kind, name in zip(_KINDS, names, strict=True)
]
_CLASSES = {"started": RtmsStarted, "stopped": RtmsStopped, "interrupted": RtmsInterrupted}


@pytest.mark.parametrize(("product", "kind", "name"), FAMILIES, ids=[f[2] for f in FAMILIES])
def test_every_stream_event_family(product: Product, kind: StreamEventKind, name: str) -> None:
    assert stream_event_name(product, kind) == name
    fields: dict[str, Any] = {}
    if kind == "started":
        fields = {"server_urls": "wss://rtms-sjc1.zoom.us/signaling", "operator_id": "op1", "account_id": "acc"}
    elif kind == "stopped":
        fields = {"stop_reason": 6}
    payload = stream_payload(product, "inst-1==", "stream-1", **fields)
    assert next(iter(payload)) == product.id_key
    body = encode_webhook(name, payload, 1700000000123)
    event = parse_webhook(body)
    assert type(event) is _CLASSES[kind]
    assert isinstance(event, (RtmsStarted, RtmsStopped, RtmsInterrupted))
    assert (event.event, event.event_ts, event.product) == (name, 1700000000123, product)
    assert (event.instance_id, event.id_key, event.rtms_stream_id) == ("inst-1==", product.id_key, "stream-1")
    assert event.payload == payload
    if isinstance(event, RtmsStarted):
        assert event.urls == ["wss://rtms-sjc1.zoom.us/signaling"] and event.operator_id == "op1"
    if isinstance(event, RtmsStopped):
        assert event.reason is StopReason.MEETING_ENDED


def test_newer_started_fields_stay_in_the_payload() -> None:
    payload = {
        "meeting_uuid": "m",
        "operator_id": "o",
        "rtms_stream_id": "s",
        "server_urls": "wss://a",
        "account_id": "acc",
        "is_original_host": True,
        "meeting_id": 123456789,
    }
    event = parse_webhook(encode_webhook("meeting.rtms_started", payload, 1))
    assert isinstance(event, RtmsStarted)
    assert event.payload["account_id"] == "acc" and event.payload["meeting_id"] == 123456789


@pytest.mark.parametrize("key", ["meeting_uuid", "webinar_uuid", "session_id"])
def test_concurrency_limited_with_each_id_field(key: str) -> None:
    body = encode_webhook(CONCURRENCY_LIMITED, {"operator_id": "op", "concurrency_number": 2000, key: "x=="}, 5)
    assert parse_webhook(body) == ConcurrencyLimited(
        event=CONCURRENCY_LIMITED, event_ts=5, operator_id="op", concurrency_number=2000, instance_id="x=="
    )


def test_concurrency_limited_without_an_id() -> None:
    event = parse_webhook(encode_webhook(CONCURRENCY_LIMITED, {"concurrency_number": 2000}, 5))
    assert isinstance(event, ConcurrencyLimited) and event.instance_id is None


def test_concurrency_limited_ignores_a_payload_instance_id_key() -> None:
    body = encode_webhook(CONCURRENCY_LIMITED, {"instance_id": "junk", "meeting_uuid": "m"}, 5)
    event = parse_webhook(body)
    assert isinstance(event, ConcurrencyLimited) and event.instance_id == "m"


def test_start_failed_keeps_its_payload() -> None:
    payload = {"meeting_uuid": "m", "rtms_stream_id": "s", "reason": "no entitlement"}
    event = parse_webhook(encode_webhook(START_FAILED, payload, 7))
    assert event == StartFailed(event=START_FAILED, event_ts=7, payload=payload)


# ---------------------------------------------------------------------------------------------------------------
# Variants


def test_payload_object_wrapper_is_unwrapped() -> None:
    body = json.dumps(
        {
            "event": "meeting.rtms_started",
            "event_ts": 1,
            "payload": {
                "account_id": "acc",
                "object": {"meeting_uuid": "m", "rtms_stream_id": "s", "server_urls": "wss://a"},
            },
        }
    )
    event = parse_webhook(body)
    assert isinstance(event, RtmsStarted)
    assert (event.instance_id, event.rtms_stream_id, event.urls) == ("m", "s", ["wss://a"])
    assert event.payload["account_id"] == "acc"


def test_comma_separated_server_urls_websocket_first() -> None:
    payload = stream_payload(Product.MEETING, "m", "s", server_urls="srt://1.2.3.4:9000, wss://a.zoom.us,ws://b")
    event = parse_webhook(encode_webhook("meeting.rtms_started", payload, 1))
    assert isinstance(event, RtmsStarted)
    assert event.urls == ["wss://a.zoom.us", "ws://b", "srt://1.2.3.4:9000"]


def test_server_urls_as_a_list() -> None:
    payload = stream_payload(Product.WEBINAR, "w", "s", server_urls=["wss://a", "wss://b"])
    event = parse_webhook(encode_webhook("webinar.rtms_started", payload, 1))
    assert isinstance(event, RtmsStarted)
    assert event.server_urls == "wss://a,wss://b" and event.urls == ["wss://a", "wss://b"]


def test_instance_under_another_products_key_is_tolerated() -> None:
    # third-party notes claim webinar payloads say meeting_uuid
    body = encode_webhook("webinar.rtms_stopped", {"meeting_uuid": "w", "rtms_stream_id": "s", "stop_reason": 2}, 1)
    event = parse_webhook(body)
    assert isinstance(event, RtmsStopped)
    assert event.product is Product.WEBINAR and event.instance_id == "w" and event.id_key == "webinar_uuid"


def test_unknown_stop_reason_kept_as_int() -> None:
    event = parse_webhook(
        encode_webhook("meeting.rtms_stopped", stream_payload(Product.MEETING, "m", "s", stop_reason=99), 1)
    )
    assert isinstance(event, RtmsStopped)
    assert event.reason == 99 and not isinstance(event.reason, StopReason)


def test_stopped_without_stop_reason() -> None:
    event = parse_webhook(
        encode_webhook("contact_center.voice_rtms_stopped", {"engagement_id": "e", "rtms_stream_id": "s"}, 1)
    )
    assert isinstance(event, RtmsStopped) and event.reason is None


def test_missing_event_ts_is_allowed() -> None:
    event = parse_webhook(b'{"event":"meeting.rtms_interrupted","payload":{"meeting_uuid":"m","rtms_stream_id":"s"}}')
    assert isinstance(event, RtmsInterrupted) and event.event_ts is None


def test_integer_instance_id_is_stringified() -> None:
    event = parse_webhook(encode_webhook("phone.rtms_interrupted", {"call_id": 987, "rtms_stream_id": "s"}, 1))
    assert isinstance(event, RtmsInterrupted) and event.instance_id == "987"


# ---------------------------------------------------------------------------------------------------------------
# Malformed and unknown

SECRET = "Jane Doe's card number"


MALFORMED: list[tuple[str, bytes | str, str | None, str]] = [
    # (name, body, field named, words in the message)
    ("not JSON", b"event=meeting.rtms_started", None, "not JSON"),
    ("not UTF-8", b'{"event":"meeting.rtms_started","payload":{"x":"\xff"}}', None, "not JSON"),
    ("empty", b"", None, "not JSON"),
    ("nested too deeply", b"[" * 100_000, None, "not JSON"),
    ("array", json.dumps([{"event": "meeting.rtms_started"}]), None, "not a JSON object"),
    ("missing event", json.dumps({"event_ts": 1, "payload": {"operator_id": SECRET}}), "event", "missing"),
    ("event not a string", json.dumps({"event": 5}), "event", "not a string"),
    ("event empty", json.dumps({"event": ""}), "event", "missing"),
    (
        "event_ts text",
        json.dumps({"event": "meeting.rtms_interrupted", "event_ts": "1626230691572"}),
        "event_ts",
        "integer",
    ),
    ("event_ts fractional", json.dumps({"event": "meeting.rtms_interrupted", "event_ts": 1.5}), "event_ts", "integer"),
    ("event_ts bool", json.dumps({"event": "meeting.rtms_interrupted", "event_ts": True}), "event_ts", "integer"),
    ("payload not an object", json.dumps({"event": "meeting.rtms_started", "payload": [SECRET]}), "payload", "object"),
    (
        "missing id",
        json.dumps(
            {
                "event": "meeting.rtms_started",
                "payload": {"rtms_stream_id": "s", "server_urls": "wss://a", "operator_id": SECRET},
            }
        ),
        "payload.meeting_uuid",
        "missing",
    ),
    (
        "missing id, contact center",
        json.dumps({"event": "contact_center.voice_rtms_stopped", "payload": {"rtms_stream_id": "s"}}),
        "payload.engagement_id",
        "missing",
    ),
    ("missing payload", json.dumps({"event": "phone.rtms_started"}), "payload.call_id", "missing"),
    (
        "id of the wrong type",
        json.dumps(
            {
                "event": "meeting.rtms_started",
                "payload": {"meeting_uuid": {"name": SECRET}, "rtms_stream_id": "s", "server_urls": "wss://a"},
            }
        ),
        "payload.meeting_uuid",
        "must be a string",
    ),
    (
        "missing stream id",
        json.dumps(
            {
                "event": "meeting.rtms_started",
                "payload": {"meeting_uuid": "m", "server_urls": "wss://a", "operator_id": SECRET},
            }
        ),
        "payload.rtms_stream_id",
        "missing",
    ),
    (
        "empty stream id",
        json.dumps({"event": "meeting.rtms_stopped", "payload": {"meeting_uuid": "m", "rtms_stream_id": ""}}),
        "payload.rtms_stream_id",
        "at least 1",
    ),
    (
        "stream id of the wrong type",
        json.dumps({"event": "meeting.rtms_interrupted", "payload": {"meeting_uuid": "m", "rtms_stream_id": [SECRET]}}),
        "payload.rtms_stream_id",
        "string",
    ),
    (
        "missing server_urls",
        json.dumps({"event": "webinar.rtms_started", "payload": {"webinar_uuid": "w", "rtms_stream_id": "s"}}),
        "payload.server_urls",
        "missing",
    ),
    (
        "server_urls of the wrong type",
        json.dumps(
            {
                "event": "webinar.rtms_started",
                "payload": {"webinar_uuid": "w", "rtms_stream_id": "s", "server_urls": 443},
            }
        ),
        "payload.server_urls",
        "string",
    ),
    (
        "stop_reason text",
        json.dumps(
            {
                "event": "meeting.rtms_stopped",
                "payload": {"meeting_uuid": "m", "rtms_stream_id": "s", "stop_reason": SECRET},
            }
        ),
        "payload.stop_reason",
        "integer",
    ),
    (
        "url validation without plainToken",
        json.dumps({"event": URL_VALIDATION, "payload": {}}),
        "payload.plainToken",
        "missing",
    ),
    (
        "url validation plainToken not a string",
        json.dumps({"event": URL_VALIDATION, "payload": {"plainToken": 5}}),
        "payload.plainToken",
        "string",
    ),
    (
        "near limit percentage text",
        json.dumps({"event": CONCURRENCY_NEAR_LIMIT, "payload": {"percentage": SECRET}}),
        "payload.percentage",
        "number",
    ),
]


@pytest.mark.parametrize(("body", "field", "words"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_webhook(body: bytes | str, field: str | None, words: str) -> None:
    with pytest.raises(MalformedWebhook) as info:
        parse_webhook(body)
    exc = info.value
    assert exc.field == field
    text = str(exc)
    assert words in text
    if field is not None:
        assert repr(field) in text
    assert "Jane" not in text and "card" not in text
    assert exc.__cause__ is None
    assert exc.__context__ is None or exc.__suppress_context__
    assert isinstance(exc, WebhookError) and isinstance(exc, RtmsError)


def test_malformed_webhook_names_the_event() -> None:
    with pytest.raises(MalformedWebhook) as info:
        parse_webhook(b'{"event":"meeting.rtms_stopped","payload":{"rtms_stream_id":"s"}}')
    assert info.value.event == "meeting.rtms_stopped"
    assert str(info.value) == ("malformed webhook: event 'meeting.rtms_stopped', field 'payload.meeting_uuid': missing")


@pytest.mark.parametrize(
    "event", ["meeting.ended", "meeting.rtms_paused", "rtms.something_new", "Meeting.rtms_started"]
)
def test_unknown_event(event: str) -> None:
    with pytest.raises(UnknownWebhookEvent) as info:
        parse_webhook(json.dumps({"event": event, "event_ts": 1, "payload": {"x": SECRET}}))
    assert info.value.event == event
    assert event in str(info.value) and "Jane" not in str(info.value)
    assert not isinstance(info.value, MalformedWebhook)


# ---------------------------------------------------------------------------------------------------------------
# Encoding


def test_encode_webhook_reproduces_the_oas_bytes() -> None:
    payload = json.loads(OAS_STARTED)["payload"]
    assert encode_webhook("meeting.rtms_started", payload, 1626230691572) == OAS_STARTED


def test_encode_webhook_is_compact_utf8_and_ordered() -> None:
    payload = stream_payload(Product.MEETING, "m", "s", server_urls="wss://a", operator_name="Zoë")
    body = encode_webhook("meeting.rtms_started", payload, 12)
    assert isinstance(body, bytes)
    assert body == json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
    assert "Zoë".encode() in body
    assert list(json.loads(body)) == ["event", "event_ts", "payload"]
    event = parse_webhook(body)
    assert isinstance(event, RtmsStarted) and event.payload["operator_name"] == "Zoë"


def test_encoded_body_verifies_with_its_signature() -> None:
    body = encode_webhook("meeting.rtms_interrupted", stream_payload(Product.MEETING, "m", "s"), 1700000000000)
    signature = webhook_signature("token", "1700000000", body)
    verify_webhook_signature("token", timestamp="1700000000", signature=signature, body=body, now_s=1700000001)


# ---------------------------------------------------------------------------------------------------------------
# Instance started (the meeting's name)
# ---------------------------------------------------------------------------------------------------------------


def test_instance_started_events() -> None:
    from bridge.rtms.webhooks import InstanceStarted, instance_started_payload

    meeting = {"event": "meeting.started", "event_ts": 1635885799302, "payload": {"account_id": "acc", "object": {
        "duration": 0, "start_time": "2021-11-02T20:43:19Z", "timezone": "America/Denver", "topic": " Weekly sync ",
        "id": "81234567890", "type": 4, "uuid": "4444AAAiAAAAAiAiAiiAii==", "host_id": "30R7kT7bTIKSNUFEuH_Qlg"}}}
    event = parse_webhook(json.dumps(meeting))
    assert isinstance(event, InstanceStarted)
    assert (event.product, event.instance_id, event.topic, event.host_id, event.numeric_id, event.account_id) == (
        Product.MEETING, "4444AAAiAAAAAiAiAiiAii==", "Weekly sync", "30R7kT7bTIKSNUFEuH_Qlg", "81234567890", "acc")
    assert event.start_time_ms == 1635885799000
    session = instance_started_payload(Product.SESSION, "sess==", topic="Support", host_id="h", numeric_id=5,
                                       account_id="a", start_time="2026-01-01T00:00:00Z")
    parsed = parse_webhook(encode_webhook("session.started", session, 1))
    assert isinstance(parsed, InstanceStarted)
    assert (parsed.instance_id, parsed.topic, parsed.host_id) == ("sess==", "Support", None)
    odd = {"event": "webinar.started", "payload": {"object": {"uuid": "w==", "start_time": "not a date",
                                                              "topic": 7}}}
    parsed = parse_webhook(json.dumps(odd))
    assert isinstance(parsed, InstanceStarted) and parsed.start_time_ms is None and parsed.topic == "7"
    with pytest.raises(MalformedWebhook, match=r"payload\.object\.uuid"):
        parse_webhook(json.dumps({"event": "meeting.started", "payload": {"object": {"topic": "t"}}}))
    with pytest.raises(MalformedWebhook, match=r"payload\.object"):
        parse_webhook(json.dumps({"event": "meeting.started", "payload": {"object": "x"}}))
