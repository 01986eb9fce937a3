"""The window and insights contracts: strict, versioned, errors naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bridge.contracts import (
    INSIGHTS_SCHEMA,
    WINDOW_SCHEMA,
    ObjectionInsights,
    SummaryInsights,
    TicketInsights,
    Window,
    parse_insights,
    parse_window,
    render_json_schemas,
)

T0 = 1_760_000_000_000


def window_dict(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": WINDOW_SCHEMA,
        "meeting": {"id": "m-1", "stream_id": "s-1", "product": "meeting", "topic": "Demo", "started_at_ms": T0},
        "window": {
            "seq": 2,
            "flow": "objection_coach",
            "trigger": "turn",
            "start_ms": T0,
            "end_ms": T0 + 9000,
            "is_final": False,
        },
        "utterances": [
            {
                "id": "u-3",
                "speaker": "Pat",
                "user_id": "16778240",
                "start_ms": T0 + 1000,
                "end_ms": T0 + 4000,
                "text": "That is over our budget.",
            },
        ],
        "context": [],
        "participants": [{"user_id": "16778240", "name": "Pat", "role": "participant", "internal": False}],
        "state": {"summary": None, "tracked_items": [], "raised_objections": []},
    }
    doc.update(changes)
    return doc


def test_window_round_trips_through_json() -> None:
    window = parse_window(json.dumps(window_dict()))
    assert window.meeting.product == "meeting"
    assert json.loads(window.to_json()) == window_dict()
    assert parse_window(window.to_json()) == window


def test_window_fills_optional_fields() -> None:
    doc = window_dict()
    for key in ("schema", "context", "participants", "state"):
        del doc[key]
    window = parse_window(doc)
    assert window.state.summary is None and window.context == [] and window.schema_ == WINDOW_SCHEMA


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d["utterances"][0].update(start_ms="1000"), ("utterances", 0, "start_ms")),
        (lambda d: d["utterances"][0].update(user_id=16778240), ("utterances", 0, "user_id")),
        (lambda d: d["window"].update(trigger="whenever"), ("window", "trigger")),
        (lambda d: d["window"].update(is_final=1), ("window", "is_final")),
        (lambda d: d["meeting"].update(colour="red"), ("meeting", "colour")),
        (lambda d: d["meeting"].pop("id"), ("meeting", "id")),
        (lambda d: d.update(schema="rtms-langflow/window@2"), ("schema",)),
        (lambda d: d["window"].update(end_ms=T0 - 1), ("window",)),
    ],
)
def test_bad_windows_name_the_field(mutate: Any, where: tuple[Any, ...]) -> None:
    doc = window_dict()
    mutate(doc)
    with pytest.raises(ValidationError) as caught:
        parse_window(doc)
    assert caught.value.errors()[0]["loc"] == where


def insights(kind: str, **payload: Any) -> dict[str, Any]:
    return {
        "schema": INSIGHTS_SCHEMA,
        "kind": kind,
        "meeting_id": "m-1",
        "window_seq": 2,
        "errors": [],
        "usage": {"model_calls": 1, "input_tokens": 10, "output_tokens": 5},
        **payload,
    }


def test_insights_kinds_are_discriminated() -> None:
    objection = {
        "key": "obj-1",
        "category": "price",
        "quote": "over our budget",
        "speaker": "Pat",
        "at_ms": T0,
        "confidence": 0.9,
        "suggested_reply": "Ask what they compare against.",
    }
    ticket = {
        "key": "tkt-1",
        "kind": "action_item",
        "title": "Send the deck",
        "description": "Send it",
        "owner": "Sam",
        "due": "2025-10-10",
        "priority": "medium",
        "quote": "I'll send the deck",
        "speaker": "Sam",
        "at_ms": T0,
        "external": {"system": "jira", "id": "OPS-1", "url": None, "status": "created"},
    }
    summary = {
        "text": "So far.",
        "key_points": [{"text": "Budget", "quote": "over budget", "at_ms": T0}],
        "decisions": [],
        "open_questions": [],
    }
    assert isinstance(parse_insights(json.dumps(insights("objections", objections=[objection]))), ObjectionInsights)
    assert isinstance(parse_insights(insights("tickets", tickets=[ticket])), TicketInsights)
    parsed = parse_insights(insights("summary", summary=summary))
    assert isinstance(parsed, SummaryInsights) and parsed.summary is not None
    assert parsed.summary.key_points[0].speaker is None


def test_insights_reject_what_does_not_fit() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_insights(insights("objections", objections=[{"key": "k", "category": "price"}]))
    assert caught.value.errors()[0]["loc"][:3] == ("objections", "objections", 0)
    with pytest.raises(ValidationError):
        parse_insights(insights("minutes", minutes=[]))
    with pytest.raises(ValidationError):
        parse_insights(insights("summary", summary=None, objections=[]))


def test_window_model_is_frozen() -> None:
    window = Window.model_validate(window_dict())
    with pytest.raises(ValidationError):
        window.meeting.id = "other"  # type: ignore[misc]


def test_json_schema_exports_are_current() -> None:
    schemas_dir = Path(__file__).resolve().parents[1] / "docs" / "schemas"
    for name, text in render_json_schemas().items():
        assert (schemas_dir / name).read_text() == text, f"docs/schemas/{name} is stale: python -m bridge.contracts"
