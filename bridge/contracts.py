"""The two JSON documents exchanged between the bridge and the Langflow flows.

* `Window` (schema `rtms-langflow/window@1`): what the bridge sends a flow as the run API's `input_value`: the new
  utterances of one meeting, a little earlier context, who is present, and the state the flow needs to work
  incrementally (previous summary, items and tickets already tracked, objections already raised).
* `Insights` (schema `rtms-langflow/insights@1`): the flow's final Chat Output: one of three kinds (`summary`,
  `objections`, `tickets`), typed items that each carry the quote and time they came from, the model output
  that did not parse (`errors`), and model usage.

Both are strict (no type coercion, unknown fields rejected) so a mismatch between the bridge and a flow shows up as
an error naming the field, never as silently dropped data. The components in `components/zoom_rtms/` cannot import
this module (their source is embedded in flows), so they re-implement the window check with the same field names;
a test keeps the two in agreement. Times are epoch milliseconds, as Zoom sends them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

WINDOW_SCHEMA: Final = "rtms-langflow/window@1"
INSIGHTS_SCHEMA: Final = "rtms-langflow/insights@1"

Product = Literal["meeting", "webinar", "session", "contact_center", "phone"]
Trigger = Literal["turn", "interval", "count", "final", "manual"]
Role = Literal["host", "participant"]
InsightKind = Literal["summary", "objections", "tickets"]
TicketKind = Literal["ticket", "action_item", "bug"]
Priority = Literal["low", "medium", "high", "urgent"]
TicketSystem = Literal["jira", "zendesk", "github", "webhook"]
ExternalStatus = Literal["created", "existing", "dry_run"]

EpochMs = Annotated[int, Field(ge=0)]
NonEmpty = Annotated[str, Field(min_length=1)]
Confidence = Annotated[float, Field(ge=0.0, le=1.0)]


class _Contract(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------------------------------
# Window: bridge -> flow
# ---------------------------------------------------------------------------------------------------------------


class MeetingRef(_Contract):
    id: NonEmpty
    stream_id: NonEmpty
    product: Product
    topic: str | None = None
    started_at_ms: EpochMs | None = None


class WindowInfo(_Contract):
    seq: Annotated[int, Field(ge=0)]
    flow: NonEmpty
    trigger: Trigger
    start_ms: EpochMs
    end_ms: EpochMs
    is_final: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> WindowInfo:
        if self.end_ms < self.start_ms:
            raise ValueError("end_ms is before start_ms")
        return self


class Utterance(_Contract):
    id: NonEmpty
    speaker: str
    user_id: str
    start_ms: EpochMs
    end_ms: EpochMs
    text: str

    @model_validator(mode="after")
    def _ordered(self) -> Utterance:
        if self.end_ms < self.start_ms:
            raise ValueError("end_ms is before start_ms")
        return self


class Participant(_Contract):
    user_id: str
    name: str
    role: Role = "participant"
    internal: bool = False
    """On the host's side (the host, or marked internal in flows.toml's [meeting]): never the customer."""


class SummaryPoint(_Contract):
    """A key point, decision or open question, with the words it rests on."""

    text: NonEmpty
    quote: str
    at_ms: EpochMs
    speaker: str | None = None


class Summary(_Contract):
    """A rolling summary: `text` covers the meeting so far; the lists accumulate."""

    text: str
    key_points: list[SummaryPoint] = []
    decisions: list[SummaryPoint] = []
    open_questions: list[SummaryPoint] = []


class TrackedItem(_Contract):
    key: NonEmpty
    kind: TicketKind
    title: str
    external_url: str | None = None


class RaisedObjection(_Contract):
    key: NonEmpty
    category: NonEmpty
    quote: str


class WindowState(_Contract):
    summary: Summary | None = None
    tracked_items: list[TrackedItem] = []
    raised_objections: list[RaisedObjection] = []


class Window(_Contract):
    schema_: Literal["rtms-langflow/window@1"] = Field(default=WINDOW_SCHEMA, alias="schema")
    meeting: MeetingRef
    window: WindowInfo
    utterances: list[Utterance]
    context: list[Utterance] = []
    participants: list[Participant] = []
    state: WindowState = WindowState()

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)

    def to_json(self) -> str:
        """The run API's `input_value`: compact JSON with every field present."""
        return self.model_dump_json(by_alias=True)


# ---------------------------------------------------------------------------------------------------------------
# Insights: flow -> bridge
# ---------------------------------------------------------------------------------------------------------------


class Objection(_Contract):
    key: NonEmpty
    category: NonEmpty
    quote: str
    speaker: str
    at_ms: EpochMs
    confidence: Confidence
    suggested_reply: str


class External(_Contract):
    """Where a ticket lives once created (or would live, in dry-run mode)."""

    system: TicketSystem
    id: str
    url: str | None = None
    status: ExternalStatus


class Ticket(_Contract):
    key: NonEmpty = Field(description="Idempotency key: the same commitment gets the same key in every window.")
    kind: TicketKind
    title: NonEmpty
    description: str
    owner: str | None = None
    due: str | None = Field(default=None, description="ISO date when the model resolved one, else the phrase said.")
    priority: Priority = "medium"
    quote: str
    speaker: str
    at_ms: EpochMs
    external: External | None = None


class InsightError(_Contract):
    """Something the flow could not turn into a typed item: reported, never passed on as if it were fine."""

    stage: NonEmpty = Field(description="Component that reported it, e.g. `objection_detector`.")
    message: NonEmpty
    detail: str | None = None


class Usage(_Contract):
    """Model usage of one run. `input_tokens` counts every input token, cached or not; of them, Anthropic's prompt
    cache read `cache_read_tokens` (billed at 0.1x) and wrote `cache_write_tokens` (billed at 1.25x)."""

    model_calls: Annotated[int, Field(ge=0)] = 0
    input_tokens: Annotated[int, Field(ge=0)] = 0
    output_tokens: Annotated[int, Field(ge=0)] = 0
    cache_read_tokens: Annotated[int, Field(ge=0)] = 0
    cache_write_tokens: Annotated[int, Field(ge=0)] = 0


class _InsightsBase(_Contract):
    schema_: Literal["rtms-langflow/insights@1"] = Field(default=INSIGHTS_SCHEMA, alias="schema")
    meeting_id: NonEmpty
    window_seq: Annotated[int, Field(ge=0)]
    errors: list[InsightError] = []
    usage: Usage | None = None

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)


class SummaryInsights(_InsightsBase):
    kind: Literal["summary"] = "summary"
    summary: Summary | None = Field(description="None when the model output did not parse (see errors).")


class ObjectionInsights(_InsightsBase):
    kind: Literal["objections"] = "objections"
    objections: list[Objection]


class TicketInsights(_InsightsBase):
    kind: Literal["tickets"] = "tickets"
    tickets: list[Ticket]


Insights = Annotated[SummaryInsights | ObjectionInsights | TicketInsights, Field(discriminator="kind")]

_INSIGHTS_ADAPTER: TypeAdapter[SummaryInsights | ObjectionInsights | TicketInsights] = TypeAdapter(Insights)


def parse_window(raw: str | bytes | dict[str, Any]) -> Window:
    """Validate a window from JSON text or a decoded object; errors name the field (pydantic `loc`)."""
    if isinstance(raw, dict):
        return Window.model_validate(raw)
    return Window.model_validate_json(raw)


def parse_insights(raw: str | bytes | dict[str, Any]) -> SummaryInsights | ObjectionInsights | TicketInsights:
    """Validate a flow's Chat Output text (or decoded object) as one of the three insight kinds."""
    if isinstance(raw, dict):
        return _INSIGHTS_ADAPTER.validate_python(raw)
    return _INSIGHTS_ADAPTER.validate_json(raw)


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of both documents, keyed by file name (written to docs/schemas/ by `write_json_schemas`)."""
    return {
        "window.schema.json": Window.model_json_schema(by_alias=True),
        "insights.schema.json": _INSIGHTS_ADAPTER.json_schema(by_alias=True),
    }


def render_json_schemas() -> dict[str, str]:
    return {name: json.dumps(schema, indent=2, sort_keys=True) + "\n" for name, schema in json_schemas().items()}


def write_json_schemas(out_dir: Path) -> list[Path]:
    """Write the JSON Schema exports (`python -m bridge.contracts docs/schemas`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_json_schemas().items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    import sys

    for written_path in write_json_schemas(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")):
        print(written_path)
