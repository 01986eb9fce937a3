"""One meeting's live stream for the dashboard: a snapshot from the store, then what the bus says changed.

The subscription is opened before the snapshot is read so nothing published meanwhile is missed; the few events
that arrive twice (in the snapshot and live) are idempotent for the client (lines by `seq`, items and tickets by
`key`, the summary by `updated_at_ms`). A `resync` from the bus (this client was too slow and lost events) is
answered with a fresh snapshot.

The stream ends when the client goes away (the response is cancelled), when the bus closes (the bridge is
stopping: no `end` event, so the browser reconnects to the next bridge), when the meeting was deleted, when the
meeting has ended and nothing happened for `ended_idle_s` (the final flow runs have had their say), or after
`max_stream_s` (the browser reconnects and gets a fresh snapshot: no connection lives forever).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from bridge.api import sse
from bridge.api.models import InsightOut, LineOut, MeetingDetailOut, Snapshot, TicketOut, split_insights
from bridge.logs import get_logger
from bridge.pipeline.bus import EventBus, LiveEvent
from bridge.store import MeetingRecord, Store, TicketRecord

__all__ = ["StreamTiming", "detail_of", "live_event_json", "meeting_events", "read_snapshot"]

log = get_logger(__name__)


@dataclass(frozen=True)
class StreamTiming:
    heartbeat_s: float = 15.0
    ended_idle_s: float = 30.0
    max_stream_s: float = 3600.0
    retry_ms: int = 3000
    snapshot_lines: int = 5000  # the latest lines; older ones stay available through /transcript


async def detail_of(store: Store, meeting: MeetingRecord) -> MeetingDetailOut:
    """The meeting as the API shows it: with the topic and host its `*.started` webhook gave."""
    names = await store.meeting_names([meeting.instance_id])
    return MeetingDetailOut.of(meeting, names.get(meeting.instance_id))


async def read_snapshot(store: Store, stream_id: str, *, max_lines: int) -> Snapshot | None:
    meeting = await store.get_meeting(stream_id)
    if meeting is None:
        return None
    last = await store.last_line_seq(stream_id)
    lines = await store.lines(stream_id, after_seq=max(0, last - max_lines))
    summary, insights = split_insights(await store.insights(stream_id))
    tickets = await store.tickets(stream_id)
    return Snapshot(meeting=await detail_of(store, meeting), lines=[LineOut.of(line) for line in lines],
                    summary=summary, insights=insights, tickets=[TicketOut.of(t) for t in tickets])


def _normalized(event: LiveEvent) -> BaseModel | dict[str, Any]:
    """The event's data in the REST shapes when it matches them (so the page renders both alike), else as is."""
    data = event.data
    try:
        if event.type == "line":
            return LineOut.model_validate(data)
        if event.type in ("insight", "summary"):
            return InsightOut.model_validate(data)
        if event.type == "ticket":
            fields = {k: v for k, v in data.items() if k in TicketRecord.model_fields}
            return TicketOut.of(TicketRecord.model_validate(fields))
    except ValidationError:
        log.debug("live event passed on as published", extra={"type": event.type, "stream_id": event.stream_id})
    return data


def live_event_json(event: LiveEvent) -> str:
    data = _normalized(event)
    body = {"type": event.type, "stream_id": event.stream_id, "at_ms": event.at_ms,
            "data": data.model_dump(mode="json") if isinstance(data, BaseModel) else data}
    return json.dumps(body, separators=(",", ":"), default=str)


def _end(reason: str) -> bytes:
    return sse.event("end", json.dumps({"reason": reason}))


async def meeting_events(store: Store, bus: EventBus, stream_id: str, timing: StreamTiming) -> AsyncIterator[bytes]:
    """The SSE body of `/api/meetings/{id}/events`."""
    started = last_sent = last_activity = time.monotonic()
    sent = 0
    reason = "client gone"
    log.info("event stream opened", extra={"stream_id": stream_id})
    try:
        async with bus.subscribe(stream_id) as sub:
            yield sse.retry(timing.retry_ms)
            snapshot = await read_snapshot(store, stream_id, max_lines=timing.snapshot_lines)
            if snapshot is None:
                reason = "deleted"
                yield _end(reason)
                return
            ended = snapshot.meeting.status == "ended"
            yield sse.event("snapshot", snapshot.model_dump_json())
            while True:
                now = time.monotonic()
                if now - started >= timing.max_stream_s:
                    reason = "max duration"
                    return
                deadlines = [last_sent + timing.heartbeat_s, started + timing.max_stream_s]
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
                        yield _end(reason)
                        return
                    if now - last_sent >= timing.heartbeat_s:
                        yield sse.comment("keep-alive")
                        last_sent = now
                    continue
                last_activity = last_sent = now
                if event.type == "resync":
                    snapshot = await read_snapshot(store, stream_id, max_lines=timing.snapshot_lines)
                    if snapshot is None:
                        reason = "deleted"
                        yield _end(reason)
                        return
                    ended = snapshot.meeting.status == "ended"
                    yield sse.event("snapshot", snapshot.model_dump_json())
                    sent += 1
                    continue
                if event.type == "meeting":
                    if event.data.get("deleted"):
                        reason = "deleted"
                        yield sse.event("meeting", live_event_json(event))
                        yield _end(reason)
                        return
                    status = event.data.get("status")
                    if isinstance(status, str):
                        ended = status == "ended"
                yield sse.event(event.type, live_event_json(event))
                sent += 1
    finally:
        log.info("event stream closed", extra={"stream_id": stream_id, "reason": reason, "events": sent,
                                               "seconds": round(time.monotonic() - started, 1)})
