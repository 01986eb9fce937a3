"""Pydantic records the store takes and returns: plain data, detached from the ORM session.

Times are epoch milliseconds. `*_at_ms` fields the store sets itself (`created_at_ms`, `updated_at_ms`) come from the
store's clock; the others (`start_ms`, `at_ms`, ...) are Zoom's times as given. `Usage` and `Product` are the
contract's (`bridge.contracts`), re-exported here.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bridge.contracts import Product, Usage

MeetingStatus = Literal["live", "reconnecting", "ended"]
WindowStatus = Literal["pending", "in_flight", "done", "failed"]
ParticipantRole = Literal["host", "participant"]

MEETING_STATUSES: Final[tuple[str, ...]] = get_args(MeetingStatus)
WINDOW_STATUSES: Final[tuple[str, ...]] = get_args(WindowStatus)
PARTICIPANT_ROLES: Final[tuple[str, ...]] = get_args(ParticipantRole)
PRODUCTS: Final[tuple[str, ...]] = get_args(Product)
UNFINISHED: Final[tuple[str, ...]] = ("pending", "in_flight", "failed")

__all__ = [
    "MEETING_STATUSES",
    "PARTICIPANT_ROLES",
    "PRODUCTS",
    "UNFINISHED",
    "WINDOW_STATUSES",
    "ChatDeliveryRecord",
    "DeliveryStatus",
    "FlowFigures",
    "InsightItem",
    "InsightRecord",
    "JoinSpec",
    "LineRecord",
    "MeetingFigures",
    "MeetingNameRecord",
    "MeetingRecord",
    "MeetingStatus",
    "NewWindow",
    "ParticipantRecord",
    "ParticipantRole",
    "Product",
    "TicketRecord",
    "Usage",
    "WindowRecord",
    "WindowStatus",
]

EpochMs = Annotated[int, Field(ge=0)]
Seq = Annotated[int, Field(ge=0)]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------------------


class LineRecord(_Record):
    """One transcript line (an intake `Utterance`); `seq` counts from 1 per stream without gaps."""

    seq: Annotated[int, Field(ge=1)]
    speaker: str
    user_id: str
    start_ms: EpochMs
    end_ms: EpochMs
    text: str
    received_at_ms: EpochMs

    def __repr__(self) -> str:  # transcripts are private: keep text out of accidental logs
        return f"LineRecord(seq={self.seq}, user_id={self.user_id!r}, chars={len(self.text)})"


class JoinSpec(_Record):
    """What a `*.rtms_started` webhook said about a stream, kept so another process can dial it again; with the
    meeting's status and fence (the last lease token it was claimed under) as stored."""

    stream_id: str
    instance_id: str
    product: Product
    server_urls: tuple[str, ...]
    id_key: str = "meeting_uuid"
    status: MeetingStatus = "live"
    fence: int = 0


class NewWindow(_Record):
    """A window as the pipeline builds it, before it is sent. `payload` is the exact JSON sent (resent verbatim).

    `coalesced` counts the triggers that fired while the previous run was in flight and were folded into this window.
    """

    stream_id: Annotated[str, Field(min_length=1)]
    flow: Annotated[str, Field(min_length=1)]
    seq: Seq
    trigger: str
    first_line_seq: Seq
    last_line_seq: Seq
    start_ms: EpochMs
    end_ms: EpochMs
    payload: str
    coalesced: Annotated[int, Field(ge=0)] = 0

    @model_validator(mode="after")
    def _ordered(self) -> NewWindow:
        if self.last_line_seq < self.first_line_seq:
            raise ValueError("last_line_seq is before first_line_seq")
        return self


class InsightItem(_Record):
    """One item a flow reported (an objection, a key point...). `key` is the flow's idempotency key.

    `at_ms` is the time of the utterance the item rests on (used for the utterance→insight delay figure).
    """

    key: Annotated[str, Field(min_length=1)]
    payload: dict[str, Any]
    at_ms: EpochMs | None = None
    quote: str | None = None


# --------------------------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------------------------


class ParticipantRecord(_Record):
    user_id: str
    name: str
    role: ParticipantRole
    joined_at_ms: int | None
    left_at_ms: int | None


class WindowRecord(_Record):
    id: int
    stream_id: str
    flow: str
    seq: int
    trigger: str
    first_line_seq: int
    last_line_seq: int
    start_ms: int
    end_ms: int
    payload: str
    coalesced: int
    status: WindowStatus
    attempts: int
    error: str | None
    latency_ms: float | None
    usage: Usage | None
    created_at_ms: int
    updated_at_ms: int


class InsightRecord(_Record):
    """A deduplicated insight: one row per (stream_id, kind, key); `window_id` is the window that last changed it."""

    id: int
    stream_id: str
    flow: str
    kind: str
    key: str
    payload: dict[str, Any]
    at_ms: int | None
    quote: str | None
    window_id: int | None
    created_at_ms: int
    updated_at_ms: int


class TicketRecord(_Record):
    """A deduplicated ticket: one row per (stream_id, key); `external_*` say where it lives once created."""

    id: int
    stream_id: str
    key: str
    flow: str | None
    kind: str
    title: str
    payload: dict[str, Any]
    at_ms: int | None
    external_system: str | None
    external_id: str | None
    external_url: str | None
    external_status: str | None
    window_id: int | None
    created_at_ms: int
    updated_at_ms: int


class FlowFigures(_Record):
    windows: int = 0
    done: int = 0
    failed: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None


class MeetingFigures(_Record):
    """The dashboard's figures for one meeting.

    Windows: `windows` created, `windows_done`, `windows_failed` (status failed now), `windows_pending` (pending or in
    flight), `windows_coalesced` (triggers folded into a later window), `attempts` (sends, retries included).
    Latency: flow run time of done windows. Insight delay: insight `created_at_ms` - `at_ms` (the utterance's time).
    """

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
    per_flow: dict[str, FlowFigures] = {}


class MeetingRecord(_Record):
    """A meeting = one RTMS stream. `participants` and `figures` are filled by `get_meeting` only."""

    stream_id: str
    instance_id: str
    product: str
    topic: str | None
    status: MeetingStatus
    started_at_ms: int | None
    ended_at_ms: int | None
    end_cause: str | None
    stop_reason: int | None = None
    created_at_ms: int
    updated_at_ms: int
    participants: list[ParticipantRecord] = []
    figures: MeetingFigures | None = None


class MeetingNameRecord(_Record):
    """What a `*.started` webhook said about an instance (see `bridge.store.models.MeetingName`)."""

    instance_id: str
    product: str
    topic: str | None
    host_id: str | None
    numeric_id: str | None
    start_time_ms: int | None
    updated_at_ms: int


DeliveryStatus = Literal["pending", "sent", "failed"]


class ChatDeliveryRecord(_Record):
    """One Team Chat message: `pending` (claimed, not yet confirmed), `sent` (Zoom gave a message id), `failed`
    (refused for good, or out of attempts)."""

    key: str
    stream_id: str
    kind: str
    to_jid: str
    status: DeliveryStatus
    attempts: int
    message_id: str | None
    error: str | None
    created_at_ms: int
    updated_at_ms: int
