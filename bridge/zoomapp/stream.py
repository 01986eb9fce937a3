"""The panel's live stream: one meeting's objections, latest summary and tickets, nothing else.

The Zoom App context names a meeting by its UUID (`mid`); the store keeps it as each RTMS stream's `instance_id`
(the webhooks' `meeting_uuid`). One meeting can have several streams (RTMS stopped and started again): the panel
follows the newest. Before the meeting has a stream the route says `waiting` and closes; the page asks again.

Unlike the dashboard's stream, the transcript never goes to the panel (it is not shown there, and a panel may be
open for hours): the snapshot and the live events carry only what the page draws. Timing follows the dashboard's
(`bridge.api.stream.StreamTiming`): heartbeats, an end after an ended meeting goes quiet, a cap on a connection's
life after which the page reconnects.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from bridge.api import sse
from bridge.api.models import InsightOut, TicketOut, split_insights
from bridge.api.stream import StreamTiming, live_event_json
from bridge.logs import get_logger
from bridge.pipeline.bus import EventBus
from bridge.store import MeetingRecord, Store
from bridge.store.models import Meeting

__all__ = ["PANEL_EVENTS", "PanelMeeting", "PanelSnapshot", "panel_events", "panel_snapshot", "stream_of_meeting"]

log = get_logger(__name__)

PANEL_EVENTS = frozenset({"insight", "summary", "ticket", "meeting"})


class PanelMeeting(BaseModel):
    model_config = ConfigDict(frozen=True)

    topic: str | None
    product: str
    status: str
    started_at_ms: int | None
    ended_at_ms: int | None

    @classmethod
    def of(cls, record: MeetingRecord) -> PanelMeeting:
        return cls(topic=record.topic, product=record.product, status=record.status,
                   started_at_ms=record.started_at_ms, ended_at_ms=record.ended_at_ms)


class PanelSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    meeting: PanelMeeting
    summary: InsightOut | None
    insights: list[InsightOut]
    tickets: list[TicketOut]


async def stream_of_meeting(store: Store, mid: str) -> str | None:
    """The newest RTMS stream of the meeting with UUID `mid`, if the bridge has one."""
    query = (select(Meeting.stream_id).where(Meeting.instance_id == mid)
             .order_by(Meeting.created_at_ms.desc(), Meeting.stream_id.desc()).limit(1))
    async with store.engine.connect() as conn:
        return (await conn.execute(query)).scalar_one_or_none()


async def panel_snapshot(store: Store, stream_id: str) -> PanelSnapshot | None:
    meeting = await store.get_meeting(stream_id)
    if meeting is None:
        return None
    summary, insights = split_insights(await store.insights(stream_id))
    tickets = [TicketOut.of(t) for t in await store.tickets(stream_id)]
    return PanelSnapshot(meeting=PanelMeeting.of(meeting), summary=summary, insights=insights, tickets=tickets)


def _meeting_event(data: dict[str, Any]) -> dict[str, Any]:
    """A `meeting` event with only the fields the panel reads (participants' names stay out)."""
    keep = ("status", "topic", "deleted", "ended_at_ms", "started_at_ms", "end_cause")
    return {k: data[k] for k in keep if k in data}


async def panel_events(store: Store, bus: EventBus, mid: str, timing: StreamTiming, *,
                       session_left_s: float | None = None) -> AsyncIterator[bytes]:
    """The SSE body of `/zoomapp/api/events`: `snapshot`, then `insight`, `summary`, `ticket`, `meeting`; `waiting`
    when the meeting has no stream yet; `end` when it is over. The connection closes when the session it was opened
    with expires (`session_left_s`): the page reconnects with the renewed one, or gets a 401."""
    started = last_sent = last_activity = time.monotonic()
    max_s = timing.max_stream_s if session_left_s is None else max(0.0, min(timing.max_stream_s, session_left_s))
    yield sse.retry(timing.retry_ms)
    stream_id = await stream_of_meeting(store, mid)
    if stream_id is None:
        yield sse.event("waiting", json.dumps({"reason": "the bridge has no transcript of this meeting yet"}))
        return
    reason, sent = "client gone", 0
    log.info("panel stream opened", extra={"stream_id": stream_id})
    try:
        async with bus.subscribe(stream_id) as sub:
            snapshot = await panel_snapshot(store, stream_id)
            if snapshot is None:
                reason = "deleted"
                yield sse.event("end", json.dumps({"reason": reason}))
                return
            ended = snapshot.meeting.status == "ended"
            yield sse.event("snapshot", snapshot.model_dump_json())
            while True:
                now = time.monotonic()
                if now - started >= max_s:
                    reason = "max duration"
                    return
                deadlines = [last_sent + timing.heartbeat_s, started + max_s]
                if ended:
                    deadlines.append(last_activity + timing.ended_idle_s)
                event = await sub.get(max(0.01, min(deadlines) - now))
                now = time.monotonic()
                if event is None:
                    if bus.closed:
                        reason = "bus closed"
                        return
                    if ended and now - last_activity >= timing.ended_idle_s:
                        reason = "ended"
                        yield sse.event("end", json.dumps({"reason": reason}))
                        return
                    if now - last_sent >= timing.heartbeat_s:
                        yield sse.comment("keep-alive")
                        last_sent = now
                    continue
                if event.type == "resync":
                    snapshot = await panel_snapshot(store, stream_id)
                    if snapshot is None:
                        reason = "deleted"
                        yield sse.event("end", json.dumps({"reason": reason}))
                        return
                    ended = snapshot.meeting.status == "ended"
                    last_activity = last_sent = now
                    yield sse.event("snapshot", snapshot.model_dump_json())
                    continue
                data = _meeting_event(event.data) if event.type == "meeting" else {}
                if event.type not in PANEL_EVENTS or (event.type == "meeting" and not data):
                    continue  # lines, windows, participants: not the panel's
                last_activity = last_sent = now
                if event.type == "meeting":
                    yield sse.event("meeting", json.dumps({"type": "meeting", "data": data}))
                    if data.get("deleted"):
                        reason = "deleted"
                        yield sse.event("end", json.dumps({"reason": reason}))
                        return
                    if isinstance(data.get("status"), str):
                        ended = data["status"] == "ended"
                else:
                    yield sse.event(event.type, live_event_json(event))
                sent += 1
    finally:
        log.info("panel stream closed", extra={"stream_id": stream_id, "reason": reason, "events": sent})
