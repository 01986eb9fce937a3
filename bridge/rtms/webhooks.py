"""RTMS webhook envelopes of every event family, decoded from and encoded to Zoom's wire format.

Zoom posts `{"event", "event_ts" (ms), "payload": {...}}` with a flat payload; a `payload.object` wrapper seen in
some third-party notes is unwrapped. The instance id key differs per product (meeting_uuid, webinar_uuid,
session_id, engagement_id, call_id) and is normalised to `instance_id`.

`meeting.started`, `webinar.started` and `session.started` (not RTMS events, but sent to the same endpoint when
the app subscribes to them) are the only ones that name the meeting: the `*.rtms_started` payloads carry no topic.
They nest their fields under `payload.object`: `uuid` (the same value as the RTMS `meeting_uuid`), `id` (the number
people type), `topic`, `host_id`, `start_time` (ISO 8601); Video SDK sessions send `session_id` and `session_name`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bridge.rtms import bounded_json
from bridge.rtms.enums import ID_KEYS, Product, StopReason, as_enum
from bridge.rtms.errors import MalformedWebhook, UnknownWebhookEvent

URL_VALIDATION = "endpoint.url_validation"
CONCURRENCY_NEAR_LIMIT = "rtms.concurrency_near_limit"
CONCURRENCY_LIMITED = "rtms.concurrency_limited"
START_FAILED = "rtms.start_failed"

StreamEventKind = Literal["started", "stopped", "interrupted"]


def stream_event_name(product: Product, kind: StreamEventKind) -> str:
    return f"{product.event_prefix}rtms_{kind}"


_STREAM_EVENTS: dict[str, tuple[Product, StreamEventKind]] = {
    stream_event_name(product, kind): (product, kind)
    for product in Product
    for kind in ("started", "stopped", "interrupted")
}


class _Webhook(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    event: str
    event_ts: int | None = None


class UrlValidation(_Webhook):
    plain_token: str = Field(min_length=1)


class _StreamWebhook(_Webhook):
    product: Product
    instance_id: str = Field(min_length=1)
    rtms_stream_id: str = Field(min_length=1)
    payload: dict[str, Any] = Field(default_factory=dict)

    @property
    def id_key(self) -> str:
        return self.product.id_key


class RtmsStarted(_StreamWebhook):
    server_urls: str = Field(min_length=1)
    operator_id: str | None = None

    @property
    def urls(self) -> list[str]:
        """`server_urls` may list several comma-separated URLs, one per protocol; WebSocket ones first."""
        parts = [u.strip() for u in self.server_urls.split(",") if u.strip()]
        return sorted(parts, key=lambda u: 0 if u.startswith(("wss://", "ws://")) else 1)


class RtmsStopped(_StreamWebhook):
    stop_reason: int | None = None

    @property
    def reason(self) -> StopReason | int | None:
        return None if self.stop_reason is None else as_enum(StopReason, self.stop_reason)


class RtmsInterrupted(_StreamWebhook):
    pass


class ConcurrencyNearLimit(_Webhook):
    concurrency_limit: int | None = None
    concurrency_number: int | None = None
    percentage: float | None = None


class ConcurrencyLimited(_Webhook):
    operator_id: str | None = None
    concurrency_number: int | None = None
    instance_id: str | None = None


class StartFailed(_Webhook):
    payload: dict[str, Any] = Field(default_factory=dict)


INSTANCE_STARTED: dict[str, Product] = {
    "meeting.started": Product.MEETING,
    "webinar.started": Product.WEBINAR,
    "session.started": Product.SESSION,
}


class InstanceStarted(_Webhook):
    """A meeting, webinar or Video SDK session started: what it is called and who hosts it."""

    product: Product
    instance_id: str = Field(min_length=1)
    topic: str | None = None
    host_id: str | None = None
    numeric_id: str | None = None
    account_id: str | None = None
    start_time_ms: int | None = None


WebhookEvent = (
    UrlValidation | RtmsStarted | RtmsStopped | RtmsInterrupted | ConcurrencyNearLimit | ConcurrencyLimited
    | StartFailed | InstanceStarted
)


def parse_webhook(body: bytes | str) -> WebhookEvent:
    """Decode a webhook body. Raises `MalformedWebhook` (HTTP 400) or `UnknownWebhookEvent` (HTTP 200, ignored)."""
    try:
        envelope = bounded_json.loads(body)
    except bounded_json.NumberOutOfRange as exc:
        raise MalformedWebhook("integer out of range (signed 64-bit)", field=exc.path or None) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedWebhook(f"body is not JSON ({exc})") from None
    except RecursionError:
        raise MalformedWebhook("body is not JSON (nested too deeply)") from None
    if not isinstance(envelope, dict):
        raise MalformedWebhook("body is not a JSON object")
    event = envelope.get("event")
    if not isinstance(event, str) or not event:
        raise MalformedWebhook("missing or not a string", field="event")
    event_ts = envelope.get("event_ts")
    if event_ts is not None and (isinstance(event_ts, bool) or not isinstance(event_ts, int)):
        raise MalformedWebhook("must be an integer (ms)", field="event_ts", event=event)
    payload = envelope.get("payload", {})
    if not isinstance(payload, dict):
        raise MalformedWebhook("must be an object", field="payload", event=event)
    if event in INSTANCE_STARTED:
        return _instance_started(event, event_ts, payload)
    if isinstance(payload.get("object"), dict) and "rtms_stream_id" not in payload:
        payload = {**payload["object"], **{k: v for k, v in payload.items() if k != "object"}}

    base: dict[str, Any] = {"event": event, "event_ts": event_ts}
    try:
        if event == URL_VALIDATION:
            if not payload.get("plainToken"):
                raise MalformedWebhook("missing", field="payload.plainToken", event=event)
            return UrlValidation(**base, plain_token=payload["plainToken"])
        if event in _STREAM_EVENTS:
            return _stream_event(event, base, payload)
        if event == CONCURRENCY_NEAR_LIMIT:
            return ConcurrencyNearLimit(**base, **_known(payload, ConcurrencyNearLimit))
        if event == CONCURRENCY_LIMITED:
            ids = [(k, payload[k]) for k in ID_KEYS if payload.get(k)]
            known = {k: v for k, v in _known(payload, ConcurrencyLimited).items() if k != "instance_id"}
            return ConcurrencyLimited(**base, **known,
                                      instance_id=_instance_id(event, *ids[0]) if ids else None)
        if event == START_FAILED:
            return StartFailed(**base, payload=payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        field = "payload." + ".".join(str(p) for p in first["loc"])
        field = field.replace("payload.plain_token", "payload.plainToken")
        raise MalformedWebhook(first["msg"] if first["type"] != "missing" else "missing", field=field,
                               event=event) from None
    raise UnknownWebhookEvent(event)


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _epoch_ms(value: Any) -> int | None:
    """Zoom's `start_time` ("2026-12-04T16:53:00Z"); None when absent or not a date."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(moment.timestamp() * 1000) if moment.tzinfo is not None else None


def _instance_started(event: str, event_ts: int | None, payload: dict[str, Any]) -> InstanceStarted:
    product = INSTANCE_STARTED[event]
    obj = payload.get("object")
    if not isinstance(obj, dict):
        raise MalformedWebhook("missing or not an object", field="payload.object", event=event)
    id_key = "session_id" if product is Product.SESSION else "uuid"
    instance_id = _text(obj.get(id_key))
    if instance_id is None:
        raise MalformedWebhook("missing", field=f"payload.object.{id_key}", event=event)
    topic = _text(obj.get("session_name" if product is Product.SESSION else "topic"))
    return InstanceStarted(
        event=event, event_ts=event_ts, product=product, instance_id=instance_id,
        topic=topic[:500] if topic else None, host_id=_text(obj.get("host_id")), numeric_id=_text(obj.get("id")),
        account_id=_text(payload.get("account_id")), start_time_ms=_epoch_ms(obj.get("start_time")))


def _known(payload: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k in model.model_fields and k not in ("event", "event_ts")}


def _stream_event(event: str, base: dict[str, Any], payload: dict[str, Any]) -> WebhookEvent:
    product, kind = _STREAM_EVENTS[event]
    key = product.id_key
    if payload.get(key) in (None, ""):
        # Tolerate a payload that names the instance under another product's key.
        key = next((k for k in ID_KEYS if payload.get(k) not in (None, "")), key)
    if payload.get(key) in (None, ""):
        raise MalformedWebhook("missing", field=f"payload.{product.id_key}", event=event)
    common: dict[str, Any] = {
        **base, "product": product, "instance_id": _instance_id(event, key, payload[key]), "payload": payload,
    }
    if payload.get("rtms_stream_id") is not None:
        common["rtms_stream_id"] = payload["rtms_stream_id"]  # absent: validation reports it as missing
    if kind == "started":
        urls = payload.get("server_urls")
        if isinstance(urls, list):
            urls = ",".join(str(u) for u in urls)
        if urls is not None:
            common["server_urls"] = urls
        return RtmsStarted(**common, operator_id=payload.get("operator_id"))
    if kind == "stopped":
        return RtmsStopped(**common, stop_reason=payload.get("stop_reason"))
    return RtmsInterrupted(**common)


def _instance_id(event: str, key: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise MalformedWebhook(f"must be a string, got {type(value).__name__}", field=f"payload.{key}", event=event)


def encode_webhook(event: str, payload: dict[str, Any], event_ts: int) -> bytes:
    """Zoom's body layout: compact JSON, `event`, `event_ts`, then `payload`. Sign exactly these bytes."""
    body = {"event": event, "event_ts": event_ts, "payload": payload}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def stream_payload(product: Product, instance_id: str, rtms_stream_id: str, **fields: Any) -> dict[str, Any]:
    """A stream webhook payload with the product's id key first, as Zoom orders it."""
    return {product.id_key: instance_id, "rtms_stream_id": rtms_stream_id, **fields}


def instance_started_payload(product: Product, instance_id: str, *, topic: str, host_id: str, numeric_id: int,
                             account_id: str, start_time: str) -> dict[str, Any]:
    """The payload of `meeting.started` / `webinar.started` / `session.started`, as Zoom nests it."""
    if product is Product.SESSION:
        obj: dict[str, Any] = {"id": str(numeric_id), "session_id": instance_id, "session_name": topic,
                               "start_time": start_time}
    else:
        obj = {"duration": 0, "start_time": start_time, "timezone": "UTC", "topic": topic, "id": str(numeric_id),
               "type": 1, "uuid": instance_id, "host_id": host_id}
    return {"account_id": account_id, "object": obj}
