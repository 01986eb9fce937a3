"""What a good system must find in each bundled sample meeting: the objections, tickets and decisions planted in it.

Each sample `<stem>.jsonl` has a `<stem>.expected.json` beside it. Every item quotes the line it comes from exactly
(a substring of one utterance's text), so an evaluation can check both that an item was found and that it points at
the right moment of the meeting.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bridge.simulator.transcripts import Transcript, TranscriptError, load_transcript, sample_expected_path

ObjectionCategory = Literal[
    "price", "timing", "competitor", "authority", "need", "trust", "integration", "security", "contract"
]
TicketKind = Literal["bug", "task", "action_item"]


class _Item(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    quote: str = Field(min_length=1)
    note: str | None = None


class ExpectedObjection(_Item):
    category: ObjectionCategory
    speaker: str


class ExpectedTicket(_Item):
    """A ticket-worthy item; `due` is the date meant, `due_said` how it was said aloud."""

    kind: TicketKind
    title: str
    owner: str | None = None
    due: dt.date | None = None
    due_said: str | None = None
    speaker: str | None = None


class ExpectedNote(_Item):
    """A decision or an open question, summarised in a few words."""

    summary: str


class ExpectedItems(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sample: str
    meeting_date: dt.date | None = None
    objections: list[ExpectedObjection] = Field(default_factory=list)
    tickets: list[ExpectedTicket] = Field(default_factory=list)
    decisions: list[ExpectedNote] = Field(default_factory=list)
    open_questions: list[ExpectedNote] = Field(default_factory=list)

    def quotes(self) -> list[str]:
        items: list[_Item] = [*self.objections, *self.tickets, *self.decisions, *self.open_questions]
        return [item.quote for item in items]

    def unmatched_quotes(self, transcript: Transcript) -> list[str]:
        """Quotes that are not an exact substring of any utterance (should be none)."""
        return [q for q in self.quotes() if transcript.find(q) is None]


def load_expected(name: str) -> ExpectedItems:
    """The planted items of a bundled sample (by short name, e.g. "sales", or file stem)."""
    resource = sample_expected_path(name)
    try:
        return ExpectedItems.model_validate_json(resource.read_bytes())
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"])
        raise TranscriptError(resource.name, str(first["msg"]), field=field) from None


def load_sample(name: str) -> tuple[Transcript, ExpectedItems]:
    return load_transcript(name), load_expected(name)
