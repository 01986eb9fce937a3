"""Meetings for the Langflow tests, and the bridge's side of the contract: cut windows, carry state forward.

`SALES_CALL` is a small hand-written meeting with known objections and action items, used until (and alongside)
the bundled sample meetings of `bridge/simulator/samples/`. `MeetingRun` plays the bridge: it cuts a transcript
into windows (`bridge.contracts.Window`) and folds each window's insights into the state of the next one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.contracts import (
    MeetingRef,
    Participant,
    RaisedObjection,
    Summary,
    TrackedItem,
    Utterance,
    Window,
    WindowInfo,
    WindowState,
    parse_insights,
)

T0 = 1_760_000_000_000  # meeting start, epoch ms
SAMPLES_DIR = Path(__file__).resolve().parents[2] / "bridge" / "simulator" / "samples"


@dataclass(frozen=True)
class Line:
    speaker: str
    user_id: str
    start_ms: int  # relative to the meeting start
    end_ms: int
    text: str


def _lines(rows: Sequence[tuple[str, str, str]]) -> list[Line]:
    out, at = [], 0
    for speaker, user_id, text in rows:
        duration = 400 * len(text.split())
        out.append(Line(speaker, user_id, at, at + duration, text))
        at += duration + 700
    return out


SALES_CALL = _lines(
    [
        ("Sam Rivera", "101", "Thanks for making the time today, Pat. Let me walk you through the dashboard."),
        ("Pat Kim", "202", "Sure. Before we start, we already use Salesforce reports for most of this."),
        ("Sam Rivera", "101", "That makes sense. Most teams we work with started on Salesforce reports too."),
        ("Pat Kim", "202", "Honestly, the per-seat price looks too expensive for a team our size."),
        ("Sam Rivera", "101", "Understood. I'll send you the pricing comparison by Friday."),
        ("Pat Kim", "202", "Also, the CSV export in your trial crashes every time we open large reports."),
        ("Sam Rivera", "101", "Sorry about that. Pat, can you share one of the reports that fails?"),
        ("Pat Kim", "202", "Yes. And I would need to check with my boss before we sign anything."),
        ("Sam Rivera", "101", "We decided on a two week pilot for your team, starting Monday."),
        ("Pat Kim", "202", "Good. How do we handle single sign-on during the pilot?"),
    ]
)
SALES_PARTICIPANTS = [("101", "Sam Rivera", "host"), ("202", "Pat Kim", "participant")]
SALES_EXPECTED = {
    "objections": {
        "competitor": "we already use Salesforce reports",
        "price": "looks too expensive",
        "authority": "check with my boss",
    },
    "tickets": {
        "I'll send you the pricing comparison by Friday": "action_item",
        "the CSV export in your trial crashes": "bug",
        "Pat, can you share one of the reports that fails?": "action_item",
    },
}


def sample_names() -> list[str]:
    """The bundled sample meetings, once they exist (`<name>.jsonl` beside `<name>.expected.json`)."""
    if not SAMPLES_DIR.is_dir():
        return []
    return sorted(p.stem for p in SAMPLES_DIR.glob("*.jsonl") if (SAMPLES_DIR / f"{p.stem}.expected.json").is_file())


def load_sample(name: str) -> tuple[list[Line], dict[str, Any]]:
    from bridge.simulator.transcripts import load_transcript

    transcript = load_transcript(name)
    utterances = getattr(transcript, "utterances", transcript)
    lines = [Line(u.speaker, str(u.user_id), int(u.start_ms), int(u.end_ms), u.text) for u in utterances]
    expected = json.loads((SAMPLES_DIR / f"{name}.expected.json").read_text())
    return lines, expected


def sample_run(name: str, flow: str, **kwargs: Any) -> tuple[MeetingRun, dict[str, Any]]:
    """A sample meeting as the bridge would window it: its real date (due dates depend on it) and its host."""
    from bridge.simulator.transcripts import load_transcript

    lines, expected = load_sample(name)
    meta = load_transcript(name).meta
    day = dt.date.fromisoformat(expected.get("meeting_date") or meta.extra.get("date") or "2025-10-09")
    start = int(dt.datetime(day.year, day.month, day.day, 15, 0, tzinfo=dt.UTC).timestamp() * 1000)
    people: dict[str, str] = {}
    for line in lines:
        people.setdefault(line.user_id, line.speaker)
    participants = [(uid, person, "host" if person == meta.host else "participant") for uid, person in people.items()]
    run = MeetingRun(
        lines,
        flow=flow,
        meeting_id=f"sample-{name}",
        topic=meta.topic,
        start_ms=start,
        participants=participants,
        **kwargs,
    )
    return run, expected


@dataclass
class MeetingRun:
    """Cuts a meeting into windows and carries summary, tracked items and raised objections between them."""

    lines: Sequence[Line]
    flow: str
    meeting_id: str = "meeting-1"
    product: str = "meeting"
    topic: str | None = "Test meeting"
    window_size: int = 4
    context_size: int = 3
    participants: Sequence[tuple[str, str, str]] = ()
    start_ms: int = T0
    """Epoch ms of the meeting start; line times are relative to it."""
    summary: Summary | None = None
    tracked: list[TrackedItem] = field(default_factory=list)
    raised: list[RaisedObjection] = field(default_factory=list)
    insights: list[Any] = field(default_factory=list)

    def _utterance(self, index: int) -> Utterance:
        line = self.lines[index]
        return Utterance(
            id=f"{self.meeting_id}-u{index}",
            speaker=line.speaker,
            user_id=line.user_id,
            start_ms=self.start_ms + line.start_ms,
            end_ms=self.start_ms + line.end_ms,
            text=line.text,
        )

    def _people(self) -> list[Participant]:
        if self.participants:
            return [Participant(user_id=u, name=n, role=r) for u, n, r in self.participants]  # type: ignore[arg-type]
        seen: dict[str, str] = {}
        for line in self.lines:
            seen.setdefault(line.user_id, line.speaker)
        return [
            Participant(user_id=u, name=n, role="host" if i == 0 else "participant")
            for i, (u, n) in enumerate(seen.items())
        ]

    def windows(self) -> Iterator[Window]:
        """Each window is built only when the previous one's insights were folded in (call `fold` in between)."""
        starts = range(0, len(self.lines), self.window_size)
        for seq, start in enumerate(starts):
            indexes = range(start, min(start + self.window_size, len(self.lines)))
            new = [self._utterance(i) for i in indexes]
            context = [self._utterance(i) for i in range(max(0, start - self.context_size), start)]
            final = start + self.window_size >= len(self.lines)
            yield Window(
                meeting=MeetingRef(
                    id=self.meeting_id,
                    stream_id=f"{self.meeting_id}-stream",
                    product=self.product,
                    topic=self.topic,
                    started_at_ms=self.start_ms,
                ),  # type: ignore[arg-type]
                window=WindowInfo(
                    seq=seq,
                    flow=self.flow,
                    trigger="final" if final else "count",
                    start_ms=new[0].start_ms,
                    end_ms=new[-1].end_ms,
                    is_final=final,
                ),
                utterances=new,
                context=context,
                participants=self._people(),
                state=WindowState(
                    summary=self.summary, tracked_items=list(self.tracked), raised_objections=list(self.raised)
                ),
            )

    def fold(self, insights_text: str) -> Any:
        """Parse one flow answer with the bridge's model and carry its items into the next window's state."""
        doc = parse_insights(insights_text)
        self.insights.append(doc)
        if doc.kind == "summary" and doc.summary is not None:
            self.summary = doc.summary
        elif doc.kind == "objections":
            self.raised += [RaisedObjection(key=o.key, category=o.category, quote=o.quote) for o in doc.objections]
        elif doc.kind == "tickets":
            self.tracked += [
                TrackedItem(key=t.key, kind=t.kind, title=t.title, external_url=t.external.url if t.external else None)
                for t in doc.tickets
            ]
        return doc

    def all_objections(self) -> list[Any]:
        return [o for doc in self.insights if doc.kind == "objections" for o in doc.objections]

    def all_tickets(self) -> list[Any]:
        return [t for doc in self.insights if doc.kind == "tickets" for t in doc.tickets]
