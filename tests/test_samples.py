"""The bundled sample meetings: long and lifelike enough to replay, and their planted items quoted exactly."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from bridge.simulator.expected import ExpectedItems, load_expected, load_sample
from bridge.simulator.transcripts import Transcript, sample_expected_path, sample_names, sample_path

DISFLUENCY = re.compile(r"\b(um|uh|you know|I mean)\b|\b(\w+), \1\b", re.IGNORECASE)


@pytest.fixture(scope="module", params=sample_names())
def sample(request: pytest.FixtureRequest) -> tuple[str, Transcript, ExpectedItems]:
    name: str = request.param
    transcript, expected = load_sample(name)
    return name, transcript, expected


def test_sample_files_are_package_data() -> None:
    for name in sample_names():
        assert sample_path(name).is_file() and sample_expected_path(name).is_file()
        assert sample_path(name).name.endswith(".jsonl")


def test_sample_is_a_long_realistic_meeting(sample: tuple[str, Transcript, ExpectedItems]) -> None:
    name, t, _ = sample
    assert t.duration_ms >= 10 * 60_000
    assert len(t.speakers) >= (4 if name == "planning" else 3)
    assert t.meta.topic and t.meta.title
    assert t.meta.host in t.speakers
    assert 1500 <= t.word_count <= 2200
    durations = [u.duration_ms for u in t.utterances]
    assert max(durations) <= 15_000
    assert sum(d >= 3_000 for d in durations) >= 0.7 * len(durations)  # sentence-level lines, a few backchannels
    rate = t.word_count / (sum(durations) / 60_000)
    assert 135 <= rate <= 165
    gaps = [b.start_ms - a.end_ms for a, b in zip(t.utterances, t.utterances[1:], strict=False)]
    assert max(gaps) < 5_000
    assert all(a.start_ms <= b.start_ms for a, b in zip(t.utterances, t.utterances[1:], strict=False))
    assert len(DISFLUENCY.findall(" ".join(u.text for u in t.utterances))) >= 25
    assert max(Counter(u.speaker for u in t.utterances).values()) < 0.6 * len(t.utterances)


def test_expected_quotes_are_exact_and_attributed(sample: tuple[str, Transcript, ExpectedItems]) -> None:
    name, t, expected = sample
    assert expected.sample == name
    assert expected.unmatched_quotes(t) == []
    for objection in expected.objections:
        line = t.find(objection.quote)
        assert line is not None and line.speaker == objection.speaker
    for ticket in expected.tickets:
        line = t.find(ticket.quote)
        assert line is not None
        if ticket.speaker is not None:
            assert line.speaker == ticket.speaker
        assert ticket.owner is None or ticket.owner in t.speakers
        if ticket.due is not None:
            assert expected.meeting_date is not None and ticket.due >= expected.meeting_date
            assert ticket.due_said


def test_sales_call_raises_the_core_objections() -> None:
    expected = load_expected("sales")
    categories = {o.category for o in expected.objections}
    assert {"price", "timing", "competitor", "authority"} <= categories
    assert len(categories) >= 5
    transcript = load_sample("sales")[0]
    buyers = {"Marisol Vega", "Greg Tanaka"}
    assert all(o.speaker in buyers for o in expected.objections)
    assert transcript.meta.host == "Dana Reyes"
    assert sum(t.kind == "action_item" for t in expected.tickets) >= 3


def test_support_call_has_three_ticket_worthy_problems() -> None:
    expected = load_expected("support")
    bugs = [t for t in expected.tickets if t.kind == "bug"]
    assert len(bugs) >= 3
    assert any("SYNC-409" in b.title for b in bugs) and any("INV-20931" in b.title for b in bugs)


def test_planning_meeting_has_owned_dated_action_items() -> None:
    expected = load_expected("planning")
    dated = [t for t in expected.tickets if t.kind == "action_item" and t.owner and t.due]
    assert len(dated) >= 4
    assert len({t.owner for t in dated}) >= 3
    assert len(expected.decisions) >= 3 and len(expected.open_questions) >= 2
