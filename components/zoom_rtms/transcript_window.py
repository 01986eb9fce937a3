"""Transcript Window: the entry of every rtms-langflow flow.

Parses the window document the bridge sends as the run's input (schema `rtms-langflow/window@1`), checks every
field, and hands the rest of the flow a speaker-labelled transcript (Message) and the validated window (Data).
This file is embedded in flows as-is, so it depends on nothing but lfx and the standard library; its checks
mirror `bridge/contracts.py` field for field (a test keeps the two in agreement).
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

# Field specs: name -> (kind, required, default). Kinds: "str", "nonempty", "ms" (int >= 0), "count" (int >= 0),
# "bool", a tuple of allowed strings (enum), ("nullable", kind), ("object", spec), ("list", spec).
_UTTERANCE = {
    "id": ("nonempty", True, None),
    "speaker": ("str", True, None),
    "user_id": ("str", True, None),
    "start_ms": ("ms", True, None),
    "end_ms": ("ms", True, None),
    "text": ("str", True, None),
}
_POINT = {
    "text": ("nonempty", True, None),
    "quote": ("str", True, None),
    "at_ms": ("ms", True, None),
    "speaker": (("nullable", "str"), False, None),
}
_SUMMARY = {
    "text": ("str", True, None),
    "key_points": (("list", _POINT), False, []),
    "decisions": (("list", _POINT), False, []),
    "open_questions": (("list", _POINT), False, []),
}
_WINDOW = {
    "schema": ((WINDOW_SCHEMA,), False, WINDOW_SCHEMA),
    "meeting": (
        (
            "object",
            {
                "id": ("nonempty", True, None),
                "stream_id": ("nonempty", True, None),
                "product": (("meeting", "webinar", "session", "contact_center", "phone"), True, None),
                "topic": (("nullable", "str"), False, None),
                "started_at_ms": (("nullable", "ms"), False, None),
            },
        ),
        True,
        None,
    ),
    "window": (
        (
            "object",
            {
                "seq": ("count", True, None),
                "flow": ("nonempty", True, None),
                "trigger": (("turn", "interval", "count", "final", "manual"), True, None),
                "start_ms": ("ms", True, None),
                "end_ms": ("ms", True, None),
                "is_final": ("bool", False, False),
            },
        ),
        True,
        None,
    ),
    "utterances": (("list", _UTTERANCE), True, None),
    "context": (("list", _UTTERANCE), False, []),
    "participants": (
        (
            "list",
            {
                "user_id": ("str", True, None),
                "name": ("str", True, None),
                "role": (("host", "participant"), False, "participant"),
                "internal": ("bool", False, False),
            },
        ),
        False,
        [],
    ),
    "state": (
        (
            "object",
            {
                "summary": (("nullable", ("object", _SUMMARY)), False, None),
                "tracked_items": (
                    (
                        "list",
                        {
                            "key": ("nonempty", True, None),
                            "kind": (("ticket", "action_item", "bug"), True, None),
                            "title": ("str", True, None),
                            "external_url": (("nullable", "str"), False, None),
                        },
                    ),
                    False,
                    [],
                ),
                "raised_objections": (
                    (
                        "list",
                        {
                            "key": ("nonempty", True, None),
                            "category": ("nonempty", True, None),
                            "quote": ("str", True, None),
                        },
                    ),
                    False,
                    [],
                ),
            },
        ),
        False,
        {"summary": None, "tracked_items": [], "raised_objections": []},
    ),
}
_ORDERED_SPANS = (_WINDOW["window"][0][1], _UTTERANCE)  # objects whose end_ms may not precede start_ms


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


def _check(value: Any, kind: Any, path: str) -> Any:
    if isinstance(kind, tuple) and kind and kind[0] == "nullable":
        return None if value is None else _check(value, kind[1], path)
    if isinstance(kind, tuple) and kind and kind[0] == "object":
        return _check_object(value, kind[1], path)
    if isinstance(kind, tuple) and kind and kind[0] == "list":
        if not isinstance(value, list):
            raise WindowError(path, f"expected an array, got {_type_name(value)}")
        return [_check_object(item, kind[1], f"{path}.{index}") for index, item in enumerate(value)]
    if isinstance(kind, tuple):
        if not isinstance(value, str) or value not in kind:
            raise WindowError(path, f"expected one of {', '.join(repr(k) for k in kind)}, got {value!r}")
        return value
    if kind in ("str", "nonempty"):
        if not isinstance(value, str):
            raise WindowError(path, f"expected a string, got {_type_name(value)}")
        if kind == "nonempty" and not value:
            raise WindowError(path, "must not be empty")
        return value
    if kind in ("ms", "count"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise WindowError(path, f"expected an integer, got {_type_name(value)}")
        if value < 0:
            raise WindowError(path, "must be >= 0")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise WindowError(path, f"expected a boolean, got {_type_name(value)}")
        return value
    raise AssertionError(f"unknown field kind {kind!r}")


def _check_object(value: Any, spec: dict[str, Any], path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WindowError(path, f"expected an object, got {_type_name(value)}")
    out: dict[str, Any] = {}
    for name, (kind, required, default) in spec.items():
        where = f"{path}.{name}" if path else name
        if name not in value:
            if required:
                raise WindowError(where, "field required")
            out[name] = json.loads(json.dumps(default))
            continue
        out[name] = _check(value[name], kind, where)
    for name in value:
        if name not in spec:
            raise WindowError(f"{path}.{name}" if path else name, "unknown field")
    if any(spec is ordered for ordered in _ORDERED_SPANS) and out["end_ms"] < out["start_ms"]:
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
    return _check_object(raw, _WINDOW, "")


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
