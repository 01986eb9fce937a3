"""Transcript Window: the entry of every rtms-langflow flow.

Parses the window document the bridge sends as the run's input (schema `rtms-langflow/window@1`), checks every
field, and hands the rest of the flow a speaker-labelled transcript (Message) and the validated window (Data).
This file is embedded in flows as-is, so it depends on nothing but lfx and the standard library; it checks the
window against the contract's own JSON Schema (docs/schemas/window.schema.json, copied to the end of this file by
`rtms-langflow flows build`), as strictly as the bridge's model does (a test keeps the two in agreement).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from lfx.custom.custom_component.component import Component
from lfx.io import BoolInput, IntInput, MessageTextInput, Output
from lfx.schema.data import Data
from lfx.schema.message import Message

WINDOW_SCHEMA = "rtms-langflow/window@1"


class WindowError(ValueError):
    """A window that does not match the contract; `path` names the field (e.g. `utterances.2.start_ms`)."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"invalid window: {path or '(root)'}: {problem}")


def _type_name(value: Any) -> str:
    return (
        "null"
        if value is None
        else {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(
            type(value), type(value).__name__
        )
    )


_ARTICLES = {"integer": "an integer", "object": "an object", "array": "an array"}


def _check(value: Any, node: dict[str, Any], path: str) -> Any:
    """`value` checked against a node of the window's JSON Schema (the subset pydantic writes: $ref, anyOf with
    null, type, const, enum, properties / required / additionalProperties / default, items, minLength, minimum),
    strictly as the bridge's model does (no coercion: true is not 1, 1.0 is not 1); optional fields filled in."""
    if "$ref" in node:
        node = WINDOW_JSON_SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in node:
        if value is None and any(option.get("type") == "null" for option in node["anyOf"]):
            return None
        return _check(value, next(o for o in node["anyOf"] if o.get("type") != "null"), path)
    allowed = node.get("enum") or ([node["const"]] if "const" in node else None)
    if allowed is not None:
        if not isinstance(value, str) or value not in allowed:
            raise WindowError(path, f"expected one of {', '.join(repr(k) for k in allowed)}, got {value!r}")
        return value
    kind = node.get("type")
    wanted = {"string": str, "integer": int, "boolean": bool, "object": dict, "array": list}[kind]
    if not isinstance(value, wanted) or (kind == "integer" and isinstance(value, bool)):
        raise WindowError(path, f"expected {_ARTICLES.get(kind, 'a ' + kind)}, got {_type_name(value)}")
    if kind == "string" and len(value) < node.get("minLength", 0):
        raise WindowError(path, "must not be empty")
    if kind == "integer" and "minimum" in node and value < node["minimum"]:
        raise WindowError(path, f"must be >= {node['minimum']}")
    if kind == "array":
        return [_check(item, node["items"], f"{path}.{index}") for index, item in enumerate(value)]
    if kind != "object":
        return value
    out: dict[str, Any] = {}
    for name, field in node.get("properties", {}).items():
        where = f"{path}.{name}" if path else name
        if name in value:
            out[name] = _check(value[name], field, where)
        elif name in node.get("required", ()):
            raise WindowError(where, "field required")
        else:
            out[name] = json.loads(json.dumps(field.get("default")))
    for name in value:
        if name not in out:
            raise WindowError(f"{path}.{name}" if path else name, "unknown field")
    if {"start_ms", "end_ms"} <= set(out) and out["end_ms"] < out["start_ms"]:
        raise WindowError(path, "end_ms is before start_ms")
    return out


def parse_window(raw: str | bytes | dict[str, Any]) -> dict[str, Any]:
    """The window as a plain dict with every optional field filled in; raises `WindowError` naming the field."""
    if isinstance(raw, bytes | str):
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        if not text.strip():
            raise WindowError("", "the input is empty; expected a window JSON document")
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise WindowError("", f"not JSON ({exc})") from None
    if isinstance(raw, dict) and "schema" in raw and raw["schema"] != WINDOW_SCHEMA:
        raise WindowError("schema", f"this component reads {WINDOW_SCHEMA!r}, got {raw['schema']!r}")
    return _check(raw, WINDOW_JSON_SCHEMA, "")


def clock(ms: int, started_at_ms: int | None) -> str:
    """`+mm:ss` into the meeting when its start is known, else the UTC wall-clock time."""
    if started_at_ms is not None and ms >= started_at_ms:
        seconds = (ms - started_at_ms) // 1000
        hours, rest = divmod(seconds, 3600)
        return f"+{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"+{rest // 60:02d}:{rest % 60:02d}"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%H:%M:%S")  # noqa: UP017 - Langflow runs on 3.10 too


def render_transcript(window: dict[str, Any], max_context: int = 20, with_times: bool = True) -> str:
    meeting, info = window["meeting"], window["window"]
    start = meeting.get("started_at_ms")

    def line(utterance: dict[str, Any]) -> str:
        stamp = f"[{clock(utterance['start_ms'], start)}] " if with_times else ""
        return f"{stamp}{utterance['speaker'] or 'Unknown speaker'}: {utterance['text']}"

    title = meeting.get("topic") or meeting["id"]
    header = f"{title} ({meeting['product']}), window {info['seq']} ({info['trigger']})"
    parts = [header]
    context = window["context"][-max_context:] if max_context > 0 else []
    if context:
        parts += ["", "Earlier:", *(line(u) for u in context)]
    parts += ["", "New:", *(line(u) for u in window["utterances"])] if window["utterances"] else ["", "New: (none)"]
    return "\n".join(parts)


def _runs_inline(async_name: str) -> Any:
    """Mark a sync output method as having a coroutine twin, `async_name`, that Langflow awaits on its event loop
    instead of sending the method to a worker thread (lfx's `delegates_to`; a no-op where lfx lacks it). For output
    methods that only compute: the thread hop costs more than their work."""
    try:
        from lfx.utils.async_helpers import delegates_to
    except ImportError:
        return lambda method: method
    return delegates_to(async_name)


class TranscriptWindowComponent(Component):
    display_name = "Transcript Window"
    description = "Reads an rtms-langflow window (JSON) and outputs a speaker-labelled transcript and the window."
    icon = "captions"
    name = "RTMSTranscriptWindow"

    inputs = [
        MessageTextInput(
            name="window_json",
            display_name="Window (JSON)",
            info="The window document the bridge sends as the run's input value (schema rtms-langflow/window@1).",
            required=True,
        ),
        IntInput(
            name="max_context",
            display_name="Context lines",
            info="How many earlier utterances to include before the new ones in the transcript.",
            value=20,
            advanced=True,
        ),
        BoolInput(
            name="with_times",
            display_name="Show times",
            info="Prefix each line with its time (+mm:ss into the meeting when the start is known).",
            value=True,
            advanced=True,
        ),
    ]
    outputs = [
        # Both outputs are shown (group_outputs): flows use the Window, a Prompt can use the Transcript.
        Output(display_name="Transcript", name="transcript", method="build_transcript", group_outputs=True),
        Output(display_name="Window", name="window", method="build_window", group_outputs=True),
    ]

    def _window(self) -> dict[str, Any]:
        # Parsed per output (cheap) rather than cached, so a reused component instance never serves a stale window.
        return parse_window(self.window_json or "")

    @_runs_inline("_transcript_inline")
    def build_transcript(self) -> Message:
        window = self._window()
        text = render_transcript(window, int(self.max_context or 0), bool(self.with_times))
        self.status = f"window {window['window']['seq']}: {len(window['utterances'])} new utterance(s)"
        return Message(text=text)

    @_runs_inline("_window_inline")
    def build_window(self) -> Data:
        window = self._window()
        self.status = (
            f"window {window['window']['seq']} of {window['meeting']['id']}: "
            f"{len(window['utterances'])} new, {len(window['context'])} earlier utterance(s)"
        )
        return Data(data=window)

    async def _transcript_inline(self) -> Message:
        return self.build_transcript()

    async def _window_inline(self) -> Data:
        return self.build_window()


# --- window JSON Schema (docs/schemas/window.schema.json, copied in by `rtms-langflow flows build`) ---
WINDOW_JSON_SCHEMA: dict[str, Any] = json.loads(
    '{"$defs":{"MeetingRef":{"additionalProperties":false,"properties":{"id":{"minLength":1,"type":"strin'
    'g"},"product":{"enum":["meeting","webinar","session","contact_center","phone"],"type":"string"},"sta'
    'rted_at_ms":{"anyOf":[{"minimum":0,"type":"integer"},{"type":"null"}],"default":null},"stream_id":{"'
    'minLength":1,"type":"string"},"topic":{"anyOf":[{"type":"string"},{"type":"null"}],"default":null}},'
    '"required":["id","stream_id","product"],"type":"object"},"Participant":{"additionalProperties":false'
    ',"properties":{"internal":{"default":false,"type":"boolean"},"name":{"type":"string"},"role":{"defau'
    'lt":"participant","enum":["host","participant"],"type":"string"},"user_id":{"type":"string"}},"requi'
    'red":["user_id","name"],"type":"object"},"RaisedObjection":{"additionalProperties":false,"properties'
    '":{"category":{"minLength":1,"type":"string"},"key":{"minLength":1,"type":"string"},"quote":{"type":'
    '"string"}},"required":["key","category","quote"],"type":"object"},"Summary":{"additionalProperties":'
    'false,"properties":{"decisions":{"default":[],"items":{"$ref":"#/$defs/SummaryPoint"},"type":"array"'
    '},"key_points":{"default":[],"items":{"$ref":"#/$defs/SummaryPoint"},"type":"array"},"open_questions'
    '":{"default":[],"items":{"$ref":"#/$defs/SummaryPoint"},"type":"array"},"text":{"type":"string"}},"r'
    'equired":["text"],"type":"object"},"SummaryPoint":{"additionalProperties":false,"properties":{"at_ms'
    '":{"minimum":0,"type":"integer"},"quote":{"type":"string"},"speaker":{"anyOf":[{"type":"string"},{"t'
    'ype":"null"}],"default":null},"text":{"minLength":1,"type":"string"}},"required":["text","quote","at'
    '_ms"],"type":"object"},"TrackedItem":{"additionalProperties":false,"properties":{"external_url":{"an'
    'yOf":[{"type":"string"},{"type":"null"}],"default":null},"key":{"minLength":1,"type":"string"},"kind'
    '":{"enum":["ticket","action_item","bug"],"type":"string"},"title":{"type":"string"}},"required":["ke'
    'y","kind","title"],"type":"object"},"Utterance":{"additionalProperties":false,"properties":{"end_ms"'
    ':{"minimum":0,"type":"integer"},"id":{"minLength":1,"type":"string"},"speaker":{"type":"string"},"st'
    'art_ms":{"minimum":0,"type":"integer"},"text":{"type":"string"},"user_id":{"type":"string"}},"requir'
    'ed":["id","speaker","user_id","start_ms","end_ms","text"],"type":"object"},"WindowInfo":{"additional'
    'Properties":false,"properties":{"end_ms":{"minimum":0,"type":"integer"},"flow":{"minLength":1,"type"'
    ':"string"},"is_final":{"default":false,"type":"boolean"},"seq":{"minimum":0,"type":"integer"},"start'
    '_ms":{"minimum":0,"type":"integer"},"trigger":{"enum":["turn","interval","count","final","manual"],"'
    'type":"string"}},"required":["seq","flow","trigger","start_ms","end_ms"],"type":"object"},"WindowSta'
    'te":{"additionalProperties":false,"properties":{"raised_objections":{"default":[],"items":{"$ref":"#'
    '/$defs/RaisedObjection"},"type":"array"},"summary":{"anyOf":[{"$ref":"#/$defs/Summary"},{"type":"nul'
    'l"}],"default":null},"tracked_items":{"default":[],"items":{"$ref":"#/$defs/TrackedItem"},"type":"ar'
    'ray"}},"type":"object"}},"additionalProperties":false,"properties":{"context":{"default":[],"items":'
    '{"$ref":"#/$defs/Utterance"},"type":"array"},"meeting":{"$ref":"#/$defs/MeetingRef"},"participants":'
    '{"default":[],"items":{"$ref":"#/$defs/Participant"},"type":"array"},"schema":{"const":"rtms-langflo'
    'w/window@1","default":"rtms-langflow/window@1","type":"string"},"state":{"$ref":"#/$defs/WindowState'
    '","default":{"raised_objections":[],"summary":null,"tracked_items":[]}},"utterances":{"items":{"$ref'
    '":"#/$defs/Utterance"},"type":"array"},"window":{"$ref":"#/$defs/WindowInfo"}},"required":["meeting"'
    ',"window","utterances"],"type":"object"}'
)
# --- end of window JSON Schema ---
