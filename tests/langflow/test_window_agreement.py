"""The Transcript Window's own window check agrees with the bridge's pydantic model, field for field."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from bridge.contracts import parse_window
from tests.langflow.components import load
from tests.langflow.meetings import SALES_CALL, SALES_PARTICIPANTS, MeetingRun, load_sample, sample_names

tw = load("transcript_window")


def meeting_windows() -> list[dict[str, Any]]:
    run = MeetingRun(SALES_CALL, flow="meeting_summary", participants=SALES_PARTICIPANTS, window_size=3)
    docs = []
    for window in run.windows():
        docs.append(json.loads(window.to_json()))
    # One with every optional part filled in: a previous summary, tracked items and raised objections.
    full = copy.deepcopy(docs[-1])
    full["state"] = {
        "summary": {
            "text": "So far.",
            "key_points": [{"text": "Budget", "quote": "too expensive", "at_ms": 5, "speaker": "Pat Kim"}],
            "decisions": [],
            "open_questions": [{"text": "SSO?", "quote": "How do we handle SSO?", "at_ms": 9, "speaker": None}],
        },
        "tracked_items": [{"key": "tkt-1", "kind": "bug", "title": "CSV export crashes", "external_url": None}],
        "raised_objections": [{"key": "obj-1", "category": "price", "quote": "too expensive"}],
    }
    return [*docs, full]


def sample_windows() -> list[dict[str, Any]]:
    docs = []
    for name in sample_names():
        lines, _ = load_sample(name)
        run = MeetingRun(lines, flow="meeting_summary", meeting_id=f"sample-{name}", window_size=6)
        docs += [json.loads(window.to_json()) for window in run.windows()]
    return docs


def bridge_view(doc: Any) -> dict[str, Any] | str:
    try:
        return json.loads(parse_window(doc if isinstance(doc, dict) else json.dumps(doc)).to_json())
    except ValidationError as exc:
        return ".".join(str(part) for part in exc.errors()[0]["loc"])


def component_view(doc: Any) -> dict[str, Any] | str:
    try:
        parsed: dict[str, Any] = tw.parse_window(json.dumps(doc))
        return parsed
    except tw.WindowError as exc:
        return str(exc.path)


def test_good_windows_parse_to_the_same_document() -> None:
    docs = meeting_windows() + sample_windows()
    assert len(docs) >= 4
    for doc in docs:
        assert component_view(doc) == bridge_view(doc) == doc
    minimal = {k: v for k, v in docs[0].items() if k in ("meeting", "window", "utterances")}
    assert component_view(minimal) == bridge_view(minimal)


MUTATIONS: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ("utterance time as text", lambda d: d["utterances"][0].update(start_ms="10")),
    ("numeric user id", lambda d: d["utterances"][0].update(user_id=16778240)),
    ("negative time", lambda d: d["utterances"][1].update(end_ms=-1)),
    ("boolean as time", lambda d: d["window"].update(start_ms=True)),
    ("float seq", lambda d: d["window"].update(seq=1.0)),
    ("unknown trigger", lambda d: d["window"].update(trigger="sometimes")),
    ("is_final as int", lambda d: d["window"].update(is_final=0)),
    ("window ends before it starts", lambda d: d["window"].update(end_ms=d["window"]["start_ms"] - 1)),
    ("utterance ends before it starts", lambda d: d["utterances"][0].update(end_ms=d["utterances"][0]["start_ms"] - 1)),
    ("unknown product", lambda d: d["meeting"].update(product="zoom_phone")),
    ("empty meeting id", lambda d: d["meeting"].update(id="")),
    ("missing stream id", lambda d: d["meeting"].pop("stream_id")),
    ("extra top-level field", lambda d: d.update(language="en")),
    ("extra utterance field", lambda d: d["utterances"][0].update(confidence=0.9)),
    ("utterances not a list", lambda d: d.update(utterances={})),
    ("missing utterances", lambda d: d.pop("utterances")),
    ("participant role", lambda d: d["participants"][0].update(role="cohost")),
    ("tracked kind", lambda d: d["state"]["tracked_items"].append({"key": "k", "kind": "task", "title": "t"})),
    ("objection without key", lambda d: d["state"]["raised_objections"].append({"category": "price", "quote": "q"})),
    (
        "summary point at_ms",
        lambda d: d["state"].update(summary={"text": "", "key_points": [{"text": "x", "quote": "y", "at_ms": "soon"}]}),
    ),
    ("other schema version", lambda d: d.update(schema="rtms-langflow/window@2")),
    ("null meeting", lambda d: d.update(meeting=None)),
]


@pytest.mark.parametrize(("label", "mutate"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_bad_windows_are_rejected_at_the_same_field(label: str, mutate: Callable[[dict[str, Any]], Any]) -> None:
    doc = copy.deepcopy(meeting_windows()[1])
    mutate(doc)
    expected = bridge_view(doc)
    assert isinstance(expected, str), f"the bridge accepted a window with {label}"
    assert component_view(doc) == expected
