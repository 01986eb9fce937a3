"""Insights Output: the last step of every rtms-langflow flow, feeding the Chat Output.

Takes the window and the result of one agent component (Meeting Summarizer, Objection Detector, Ticket Extractor
or Ticket Creator) and builds the insights document the bridge reads (schema `rtms-langflow/insights@1`): kind,
meeting and window, typed items, the errors collected on the way, and model usage. Every item is checked against
the contract here, so an item that would not parse on the bridge's side is moved to `errors` instead of being
passed on. Self-contained (lfx and the standard library only): this file is embedded in flows as-is.
"""

from __future__ import annotations

import json
from typing import Any

from lfx.custom.custom_component.component import Component
from lfx.io import DataInput, Output
from lfx.schema.message import Message

INSIGHTS_SCHEMA = "rtms-langflow/insights@1"
STAGE = "insights_output"

_STR, _TEXT, _MS, _OPT_STR = "str", "nonempty", "ms", ("nullable", "str")
_POINT = {"text": _TEXT, "quote": _STR, "at_ms": _MS, "speaker": _OPT_STR}
_SUMMARY = {
    "text": _STR,
    "key_points": ("list", _POINT),
    "decisions": ("list", _POINT),
    "open_questions": ("list", _POINT),
}
_ITEMS: dict[str, dict[str, Any]] = {
    "objections": {
        "key": _TEXT,
        "category": _TEXT,
        "quote": _STR,
        "speaker": _STR,
        "at_ms": _MS,
        "confidence": "unit",
        "suggested_reply": _STR,
    },
    "tickets": {
        "key": _TEXT,
        "kind": ("ticket", "action_item", "bug"),
        "title": _TEXT,
        "description": _STR,
        "owner": _OPT_STR,
        "due": _OPT_STR,
        "priority": ("low", "medium", "high", "urgent"),
        "quote": _STR,
        "speaker": _STR,
        "at_ms": _MS,
        "external": (
            "nullable",
            {
                "system": ("jira", "zendesk", "github", "webhook"),
                "id": _STR,
                "url": _OPT_STR,
                "status": ("created", "existing", "dry_run"),
            },
        ),
    },
}
_PAYLOAD_KEY = {"summary": "summary", "objections": "objections", "tickets": "tickets"}


def _problem(value: Any, kind: Any) -> str | None:
    """Why `value` does not fit `kind` (None when it does); nested objects must match their spec exactly."""
    if isinstance(kind, tuple) and kind and kind[0] == "nullable":
        return None if value is None else _problem(value, kind[1])
    if isinstance(kind, tuple) and kind and kind[0] == "list":
        if not isinstance(value, list):
            return "expected an array"
        for index, item in enumerate(value):
            issue = _problem(item, kind[1])
            if issue:
                return f"{index}.{issue}"
        return None
    if isinstance(kind, dict):
        if not isinstance(value, dict):
            return "expected an object"
        for name, sub in kind.items():
            if name not in value:
                if isinstance(sub, tuple) and sub and sub[0] == "nullable":
                    continue
                return f"{name}: field required"
            issue = _problem(value[name], sub)
            if issue:
                return f"{name}: {issue}"
        extra = sorted(set(value) - set(kind))
        return f"{extra[0]}: unknown field" if extra else None
    if isinstance(kind, tuple):
        return None if isinstance(value, str) and value in kind else f"expected one of {', '.join(kind)}"
    if kind in (_STR, _TEXT):
        if not isinstance(value, str):
            return "expected a string"
        return "must not be empty" if kind == _TEXT and not value else None
    if kind == _MS:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        return None if ok else "expected an integer >= 0"
    if kind == "unit":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1
        return None if ok else "expected a number from 0 to 1"
    raise AssertionError(f"unknown field kind {kind!r}")


def _clean_errors(raw: Any) -> list[dict[str, Any]]:
    out = []
    for error in raw if isinstance(raw, list) else []:
        if isinstance(error, dict) and isinstance(error.get("message"), str) and error["message"]:
            detail = error.get("detail")
            out.append(
                {
                    "stage": str(error.get("stage") or "unknown"),
                    "message": error["message"],
                    "detail": detail if isinstance(detail, str) or detail is None else json.dumps(detail, default=str),
                }
            )
    return out


def _clean_usage(raw: Any) -> dict[str, int] | None:
    if not isinstance(raw, dict):
        return None
    usage = {}
    for name in ("model_calls", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
        value = raw.get(name, 0)
        usage[name] = value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
    return usage


def build_insights(window: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """The insights document for `result` (one agent component's output) in `window`."""
    kind = result.get("kind")
    if kind not in _PAYLOAD_KEY:
        raise ValueError(
            f"the result has kind {kind!r}; connect a Meeting Summarizer, Objection Detector, Ticket Extractor "
            "or Ticket Creator output"
        )
    errors = _clean_errors(result.get("errors"))
    doc: dict[str, Any] = {
        "schema": INSIGHTS_SCHEMA,
        "kind": kind,
        "meeting_id": window["meeting"]["id"],
        "window_seq": window["window"]["seq"],
    }
    if kind == "summary":
        summary = result.get("summary")
        issue = None if summary is None else _problem(summary, _SUMMARY)
        if issue:
            errors.append({"stage": STAGE, "message": f"summary dropped: {issue}", "detail": None})
            summary = None
        doc["summary"] = summary
    else:
        items = []
        for index, item in enumerate(result.get(kind) or []):
            problem = _problem(item, _ITEMS[kind])
            if problem:
                errors.append(
                    {
                        "stage": STAGE,
                        "message": f"{kind}.{index} dropped: {problem}",
                        "detail": json.dumps(item, default=str)[:2000],
                    }
                )
            else:
                items.append(item)
        doc[kind] = items
    doc["errors"] = errors
    doc["usage"] = _clean_usage(result.get("usage"))
    return doc


def _runs_inline(async_name: str) -> Any:
    """Mark a sync output method as having a coroutine twin, `async_name`, that Langflow awaits on its event loop
    instead of sending the method to a worker thread (lfx's `delegates_to`; a no-op where lfx lacks it). For output
    methods that only compute: the thread hop costs more than their work."""
    try:
        from lfx.utils.async_helpers import delegates_to
    except ImportError:
        return lambda method: method
    return delegates_to(async_name)


class InsightsOutputComponent(Component):
    display_name = "Insights Output"
    description = "Builds the insights document (rtms-langflow/insights@1) for the Chat Output."
    icon = "file-json"
    name = "RTMSInsightsOutput"

    inputs = [
        DataInput(
            name="window",
            display_name="Window",
            info="The Transcript Window component's Window output.",
            input_types=["Data", "JSON"],
            required=True,
        ),
        DataInput(
            name="result",
            display_name="Result",
            info="The output of a Meeting Summarizer, Objection Detector, Ticket Extractor or Ticket Creator.",
            input_types=["Data", "JSON"],
            required=True,
        ),
    ]
    outputs = [Output(display_name="Insights", name="insights", method="build_insights_message")]

    @_runs_inline("_insights_inline")
    def build_insights_message(self) -> Message:
        window = getattr(self.window, "data", self.window)
        result = getattr(self.result, "data", self.result)
        if not isinstance(window, dict) or "meeting" not in window:
            raise ValueError("connect the Transcript Window component's Window output to the Window input")
        if not isinstance(result, dict):
            raise ValueError("connect an agent component's output (e.g. Objection Detector) to the Result input")
        doc = build_insights(window, result)
        kind = doc["kind"]
        count = ("a summary" if doc["summary"] else "no summary") if kind == "summary" else f"{len(doc[kind])} item(s)"
        self.status = f"{kind}: {count}" + (f", {len(doc['errors'])} error(s)" if doc["errors"] else "")
        return Message(text=json.dumps(doc, ensure_ascii=False, separators=(",", ":")))

    async def _insights_inline(self) -> Message:
        return self.build_insights_message()
