"""The API's response documents, built from the store's records.

They are separate from `bridge.store.records` so the HTTP shape stays stable while the store evolves, and so
internal fields (a window's sent JSON, a ticket's raw payload) never leave the bridge by accident. A meeting's `id`
is its RTMS stream id, the path id of every `/api/meetings/{id}` route.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from bridge.api.states import meeting_state
from bridge.store.records import (
    FlowFigures,
    InsightRecord,
    LineRecord,
    MeetingFigures,
    MeetingNameRecord,
    MeetingRecord,
    ParticipantRecord,
    TicketRecord,
)

__all__ = [
    "ApiInfo",
    "External",
    "FiguresOut",
    "FlowFiguresOut",
    "InsightOut",
    "InsightsOut",
    "LineOut",
    "MeetingDetailOut",
    "MeetingList",
    "MeetingOut",
    "ParticipantOut",
    "Snapshot",
    "TicketOut",
    "TranscriptOut",
]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ApiInfo(BaseModel):
    """`GET /api/info`: which model the flows use (`offline` = the rule-based local one) and the bridge version.

    Extra keys given by the app's `info()` callable are passed through."""

    model_config = ConfigDict(extra="allow")

    model: str = "unknown"
    version: str


class ParticipantOut(_Out):
    user_id: str
    name: str
    role: str
    joined_at_ms: int | None = None
    left_at_ms: int | None = None

    @classmethod
    def of(cls, record: ParticipantRecord) -> ParticipantOut:
        return cls(user_id=record.user_id, name=record.name, role=record.role, joined_at_ms=record.joined_at_ms,
                   left_at_ms=record.left_at_ms)


class FlowFiguresOut(_Out):
    windows: int = 0
    done: int = 0
    failed: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None

    @classmethod
    def of(cls, record: FlowFigures) -> FlowFiguresOut:
        return cls.model_validate(record.model_dump())


class FiguresOut(_Out):
    """Latency and LLM figures of one meeting (see `bridge.store.records.MeetingFigures` for their meaning)."""

    lines: int = 0
    windows: int = 0
    windows_done: int = 0
    windows_failed: int = 0
    windows_pending: int = 0
    windows_coalesced: int = 0
    attempts: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    insights: int = 0
    tickets: int = 0
    insight_delay_p50_ms: float | None = None
    insight_delay_p95_ms: float | None = None
    per_flow: dict[str, FlowFiguresOut] = {}

    @classmethod
    def of(cls, record: MeetingFigures | None) -> FiguresOut:
        if record is None:
            return cls()
        values = record.model_dump(exclude={"per_flow"})
        return cls(**values, per_flow={flow: FlowFiguresOut.of(f) for flow, f in record.per_flow.items()})


class MeetingOut(_Out):
    """A meeting. `topic` and `host_id` come from Zoom's `*.started` webhook (null until one arrived), `host_name`
    from the participants. `status` is the stream's (`live`, `reconnecting`, `ended`); `state` says what the
    meeting is doing in the terms the dashboard shows (`live`, `reconnecting`, `ended` normally, `error`,
    `revoked` by the host or an admin, `interrupted` because the bridge stopped) and `state_detail` why."""

    id: str
    instance_id: str
    product: str
    topic: str | None = None
    host_name: str | None = None
    host_id: str | None = None
    status: str
    state: str = "live"
    state_detail: str = ""
    started_at_ms: int | None = None
    ended_at_ms: int | None = None
    end_cause: str | None = None
    stop_reason: int | None = None
    created_at_ms: int
    updated_at_ms: int

    @classmethod
    def of(cls, record: MeetingRecord, name: MeetingNameRecord | None = None,
           host_name: str | None = None) -> MeetingOut:
        return cls(**_meeting_fields(record, name, host_name))


class MeetingDetailOut(MeetingOut):
    participants: list[ParticipantOut] = []
    figures: FiguresOut = FiguresOut()

    @classmethod
    def of(cls, record: MeetingRecord, name: MeetingNameRecord | None = None,
           host_name: str | None = None) -> MeetingDetailOut:
        if host_name is None:
            host_name = next((p.name for p in record.participants if p.role == "host" and p.name), None)
        return cls(**_meeting_fields(record, name, host_name),
                   participants=[ParticipantOut.of(p) for p in record.participants],
                   figures=FiguresOut.of(record.figures))


def _meeting_fields(record: MeetingRecord, name: MeetingNameRecord | None, host_name: str | None
                    ) -> dict[str, Any]:
    state, detail = meeting_state(record.status, record.end_cause, record.stop_reason)
    return {
        "id": record.stream_id, "instance_id": record.instance_id, "product": record.product,
        "topic": record.topic or (name.topic if name else None), "host_name": host_name,
        "host_id": name.host_id if name else None, "status": record.status, "state": state,
        "state_detail": detail,
        "started_at_ms": record.started_at_ms or (name.start_time_ms if name else None),
        "ended_at_ms": record.ended_at_ms, "end_cause": record.end_cause, "stop_reason": record.stop_reason,
        "created_at_ms": record.created_at_ms, "updated_at_ms": record.updated_at_ms,
    }


class MeetingList(_Out):
    meetings: list[MeetingOut]


class LineOut(_Out):
    """One transcript line (a fragment; the dashboard merges consecutive lines of one speaker)."""

    seq: int
    speaker: str
    user_id: str
    start_ms: int
    end_ms: int
    text: str

    @classmethod
    def of(cls, record: LineRecord) -> LineOut:
        return cls(seq=record.seq, speaker=record.speaker, user_id=record.user_id, start_ms=record.start_ms,
                   end_ms=record.end_ms, text=record.text)


class TranscriptOut(_Out):
    meeting_id: str
    lines: list[LineOut]
    last_seq: int  # highest stored seq: page on with `?after_seq=` while it is above the last line returned


class InsightOut(_Out):
    """An objection, summary or other flow item: `payload` is the item as the flow reported it."""

    id: int
    flow: str
    kind: str
    key: str
    payload: dict[str, Any]
    at_ms: int | None = None
    quote: str | None = None
    created_at_ms: int
    updated_at_ms: int

    @classmethod
    def of(cls, record: InsightRecord) -> InsightOut:
        return cls(id=record.id, flow=record.flow, kind=record.kind, key=record.key, payload=record.payload,
                   at_ms=record.at_ms, quote=record.quote, created_at_ms=record.created_at_ms,
                   updated_at_ms=record.updated_at_ms)


class External(_Out):
    system: str | None = None
    id: str | None = None
    url: str | None = None
    status: str | None = None


class TicketOut(_Out):
    """A tracked ticket / action item; `status` is the external system's (`created`, `existing`, `dry_run`) or
    `tracked` while it only lives in the bridge."""

    id: int
    key: str
    flow: str | None = None
    kind: str
    title: str
    description: str | None = None
    owner: str | None = None
    due: str | None = None
    priority: str | None = None
    quote: str | None = None
    speaker: str | None = None
    at_ms: int | None = None
    status: str
    external: External | None = None
    created_at_ms: int
    updated_at_ms: int

    @classmethod
    def of(cls, record: TicketRecord) -> TicketOut:
        p = record.payload

        def text(name: str) -> str | None:
            value = p.get(name)
            return value if isinstance(value, str) else None

        has_external = any((record.external_system, record.external_id, record.external_url, record.external_status))
        return cls(
            id=record.id, key=record.key, flow=record.flow, kind=record.kind, title=record.title,
            description=text("description"), owner=text("owner"), due=text("due"), priority=text("priority"),
            quote=text("quote"), speaker=text("speaker"), at_ms=record.at_ms,
            status=record.external_status or "tracked",
            external=External(system=record.external_system, id=record.external_id, url=record.external_url,
                              status=record.external_status) if has_external else None,
            created_at_ms=record.created_at_ms, updated_at_ms=record.updated_at_ms,
        )


class InsightsOut(_Out):
    """Everything the flows found so far: the latest rolling summary, the other items (objections...) in the order
    first seen, and the tickets."""

    meeting_id: str
    summary: InsightOut | None
    insights: list[InsightOut]
    tickets: list[TicketOut]


class Snapshot(_Out):
    """The first Server-Sent Event of a meeting's stream (and again after a `resync`): the state to draw."""

    meeting: MeetingDetailOut
    lines: list[LineOut]
    summary: InsightOut | None
    insights: list[InsightOut]
    tickets: list[TicketOut]


def split_insights(records: list[InsightRecord]) -> tuple[InsightOut | None, list[InsightOut]]:
    """(latest summary, the other insights): several summary flows may each keep one; the newest one is shown."""
    summaries = [r for r in records if r.kind == "summary"]
    latest = max(summaries, key=lambda r: (r.updated_at_ms, r.id), default=None)
    return (InsightOut.of(latest) if latest else None), [InsightOut.of(r) for r in records if r.kind != "summary"]
