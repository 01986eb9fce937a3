"""Frames to messages and back.

`decode` accepts what any RTMS peer sends: text or binary frames, UTF-8 JSON with or without whitespace (the
official SDK sends JsonCpp's tab-indented "styled" JSON in binary frames). `encode` writes compact JSON; `styled`
reproduces the SDK's layout so the simulator can exercise a client's tolerance.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import ValidationError

from bridge.rtms import bounded_json
from bridge.rtms.enums import ID_KEYS, MessageType
from bridge.rtms.errors import MalformedFrame, UnknownMessageType
from bridge.rtms.messages import MESSAGE_CLASSES, RtmsMessage

MAX_FRAME_BYTES = 16 * 1024 * 1024

Style = Literal["compact", "styled"]


def decode(frame: str | bytes | bytearray | memoryview) -> RtmsMessage:
    """Decode one WebSocket frame into its typed message, or raise `MalformedFrame` naming what is wrong."""
    raw = parse_json_object(frame)
    return from_dict(raw)


def parse_json_object(frame: str | bytes | bytearray | memoryview) -> dict[str, Any]:
    if isinstance(frame, (bytes, bytearray, memoryview)):
        data = bytes(frame)
        if len(data) > MAX_FRAME_BYTES:
            raise MalformedFrame(f"frame of {len(data)} bytes exceeds {MAX_FRAME_BYTES}")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedFrame(f"binary frame is not UTF-8 (byte {exc.start})") from None
    else:
        text = frame
        if len(text) > MAX_FRAME_BYTES:
            raise MalformedFrame(f"frame of {len(text)} characters exceeds {MAX_FRAME_BYTES}")
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise MalformedFrame("empty frame")
    try:
        value = bounded_json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedFrame(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except bounded_json.NumberOutOfRange as exc:
        raise MalformedFrame("integer out of range (signed 64-bit)", field=exc.path or None) from None
    except RecursionError:
        raise MalformedFrame("JSON nested too deeply") from None
    if not isinstance(value, dict):
        raise MalformedFrame(f"top-level JSON is {type(value).__name__}, expected an object")
    return value


def message_type_of(raw: dict[str, Any]) -> int:
    if "msg_type" not in raw:
        raise MalformedFrame("missing", field="msg_type")
    value = raw["msg_type"]
    if isinstance(value, bool):
        raise MalformedFrame("must be an integer, got a boolean", field="msg_type")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    raise MalformedFrame(f"must be an integer, got {type(value).__name__}", field="msg_type")


def from_dict(raw: dict[str, Any]) -> RtmsMessage:
    msg_type = message_type_of(raw)
    cls = MESSAGE_CLASSES.get(msg_type)
    if cls is None:
        raise UnknownMessageType(msg_type)
    body = {k: v for k, v in raw.items() if k != "msg_type"}
    try:
        return cls.model_validate(body)
    except ValidationError as exc:
        raise _frame_error(exc, msg_type, raw) from None


# pydantic appends the member type to the location of a failed `int | str` union member.
_UNION_TAGS = frozenset({"int", "str", "bool", "float"})


def _frame_error(exc: ValidationError, msg_type: int, raw: dict[str, Any]) -> MalformedFrame:
    """One error naming the wire field (never the input): the first failing field, and how many others fail."""
    by_field: dict[str, list[tuple[str, str, str | None]]] = {}
    for err in exc.errors(include_url=False, include_input=False):
        loc = [str(p) for p in err["loc"]]
        tag = loc.pop() if len(loc) > 1 and loc[-1] in _UNION_TAGS else None
        if loc[:1] == ["instance_id"]:
            # The model stores the product id under one name; report the key the frame used (or should have).
            loc[0] = next((k for k in ID_KEYS if k in raw), ID_KEYS[0])
        by_field.setdefault(".".join(loc), []).append((err["type"], err["msg"], tag))
    field, problems = next(iter(by_field.items()))
    kind, reason, _ = problems[0]
    tags = [tag for _, _, tag in problems if tag]
    if kind == "missing":
        reason = "missing"
    elif len(tags) > 1:
        reason = f"wrong type, expected {' or '.join(tags)}"
    more = len(by_field) - 1
    if more:
        reason += f" (and {more} more field{'s' if more > 1 else ''} with problems)"
    return MalformedFrame(reason, field=field or None, msg_type=msg_type)


def encode(message: RtmsMessage, style: Style = "compact") -> str:
    """Serialize a message for the wire: compact JSON, or the official SDK's styled layout."""
    body = message.to_wire()
    if style == "styled":
        return styled_json(body)
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def styled_json(value: dict[str, Any]) -> str:
    """JsonCpp's StyledWriter layout: sorted keys, tab indents, `" : "` separators, trailing newline."""
    return json.dumps(value, indent="\t", sort_keys=True, separators=(",", " : "), ensure_ascii=False) + "\n"


def message_name(msg_type: int) -> str:
    try:
        return MessageType(msg_type).name
    except ValueError:
        return f"UNKNOWN_{msg_type}"
