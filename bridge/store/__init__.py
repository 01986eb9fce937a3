"""The store: meetings, transcript lines, windows, insights and tickets in SQL (SQLite file or PostgreSQL).

SQLAlchemy 2 async on one engine; alembic migrations carried inside the package (`bridge/store/migrations`) and
applied by `Store.open(url, migrate=True)`. Every method is one short transaction, committed before it returns;
on SQLite writes are serialized in-process (WAL mode, foreign keys on, busy timeout) so many coroutines can write
at once. Writes are idempotent so a retry or a restart never duplicates anything. Times are epoch ms.

API (`Store`; records in `bridge.store.records`; `None` arguments of updates keep the stored value):

    await Store.open(url, *, migrate=True, schema=None, clock=None) -> Store ; await store.close() ; store.engine
    # meetings (id = the RTMS stream_id; instance_id = meeting uuid / webinar / session ... id)
    upsert_meeting(stream_id, *, instance_id, product, topic=None, started_at_ms=None) -> None   # new: "live"
    set_meeting_status(stream_id, "live"|"reconnecting"|"ended", *, ended_at_ms=None, end_cause=None, fence=None)
    upsert_participant(stream_id, user_id, name, role=None, *, joined_at_ms=None, left_at_ms=None, fence=None)
    save_join_spec(stream_id, *, instance_id, product, server_urls, id_key) -> None   # what rtms_started said
    join_spec(stream_id) -> JoinSpec | None ; unfinished_meetings() -> list[JoinSpec]  # live/reconnecting ones
    delete_stream(stream_id) -> int                       # stop reason 8: every row of the stream, all tables,
                                                          # and a pending purge of its copies (`bridge.store.purge`)
    # transcript
    claim_stream(stream_id, fence, *, instance_id, product) -> bool   # a replica's lease token; False: a newer one
    add_line(stream_id, LineRecord, *, fence=None) -> bool  # False: the same line (line_key); SeqTaken: seq used
    lines(stream_id, *, after_seq=0, limit=None) -> list[LineRecord]
    last_line_seq(stream_id) -> int
    # windows (pending -> in_flight -> done | failed; pending/in_flight/failed are resent after a restart)
    create_window(NewWindow, *, fence=None) -> WindowRecord  # unique (stream_id, flow, seq): a retry returns the row
    mark_window(window_id, status, *, error=None, latency_ms=None, usage=None) -> WindowRecord  # in_flight: attempts+1
    get_window(window_id) -> WindowRecord | None ; windows(stream_id, *, flow=None) -> list[WindowRecord]
    unfinished_windows(stream_id=None, *, max_attempts=None) -> list[WindowRecord]
    window_cursor(stream_id, flow) -> (last window seq, last line seq covered)   # (0, 0) when none
    # insights (unique (stream_id, kind, key)) and tickets (unique (stream_id, key))
    save_insights(stream_id, flow, window_id, kind, Sequence[InsightItem]) -> list[InsightRecord]  # new/changed
    save_summary(stream_id, flow, window_id, Summary | dict) -> InsightRecord  # kind "summary", key = flow
    upsert_ticket(stream_id, Ticket | dict, *, flow=None, window_id=None) -> (TicketRecord, new_or_changed)
    # reads
    list_meetings(*, limit=100, offset=0) -> list[MeetingRecord]   # newest first, no participants/figures
    get_meeting(stream_id) -> MeetingRecord | None        # with participants and figures
    insights(stream_id, *, kind=None) -> list[InsightRecord] ; tickets(stream_id) -> list[TicketRecord]
    meeting_figures(stream_id) -> MeetingFigures          # windows, latency p50/p95, usage, insight delay p50/p95
    # names and Team Chat deliveries (issue 15)
    save_meeting_name(instance_id, *, product, topic=None, host_id=None, numeric_id=None, start_time_ms=None)
    meeting_names(instance_ids) -> {instance_id: MeetingNameRecord} ; host_names(stream_ids) -> {stream_id: name}
    set_stop_reason(stream_id, reason, *, fence=None)     # Zoom's stop reason of an ended stream
    claim_delivery(key, *, stream_id, kind, to_jid) -> bool   # True once per key: the caller sends it
    reclaim_delivery(key, *, updated_at_ms) -> bool       # a stale pending one, if untouched since
    update_delivery(key, status, *, attempts=None, message_id=None, error=None)
    deliveries(*, stream_id=None, status=None) -> list[ChatDeliveryRecord]
    meetings_since(since_ms, *, live_since_ms=None) -> list[MeetingRecord] ; has_unfinished_windows(stream_id) -> bool

Errors: unknown status/role/product -> ValueError naming the value and the allowed ones; a write for a meeting that
was never upserted (or deleted meanwhile) or naming an unknown window id -> LookupError naming it; a write carrying
a `fence` older than the stream's (another replica took it over) -> `Fenced`.
"""

from bridge.store.records import (
    ChatDeliveryRecord,
    FlowFigures,
    InsightItem,
    InsightRecord,
    JoinSpec,
    LineRecord,
    MeetingFigures,
    MeetingNameRecord,
    MeetingRecord,
    NewWindow,
    ParticipantRecord,
    TicketRecord,
    Usage,
    WindowRecord,
)
from bridge.store.store import Fenced, SeqTaken, Store, line_key

__all__ = [
    "ChatDeliveryRecord",
    "Fenced",
    "FlowFigures",
    "InsightItem",
    "InsightRecord",
    "JoinSpec",
    "LineRecord",
    "MeetingFigures",
    "MeetingNameRecord",
    "MeetingRecord",
    "NewWindow",
    "ParticipantRecord",
    "SeqTaken",
    "Store",
    "TicketRecord",
    "Usage",
    "WindowRecord",
    "line_key",
]
