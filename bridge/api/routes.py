"""`/api/*`: the meetings, their transcript and insights as JSON, and their live updates as Server-Sent Events.

Every route needs the bearer token from the settings (`BRIDGE_API_TOKEN`); see `bridge.api.auth`. The store and bus
are passed as getters because the app builds them in its lifespan, after the routes exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import SecretStr

from bridge import __version__
from bridge.api.auth import token_guard
from bridge.api.models import (
    ApiInfo,
    InsightsOut,
    LineOut,
    MeetingDetailOut,
    MeetingList,
    MeetingOut,
    TicketOut,
    TranscriptOut,
    split_insights,
)
from bridge.api.redact import install_access_log_redaction
from bridge.api.stream import StreamTiming, detail_of, meeting_events
from bridge.pipeline.bus import EventBus
from bridge.rtms.bounded_json import INT64_MAX
from bridge.store import MeetingRecord, Store

__all__ = ["api_router"]

# Numbers reach SQL as 64-bit integers: a bigger one is a 422 naming the parameter, not an overflow (a 500).
MeetingId = Annotated[str, Path(min_length=1, max_length=256, description="The meeting's RTMS stream id.")]


def api_router(get_store: Callable[[], Store], get_bus: Callable[[], EventBus], token: SecretStr,
               info: Callable[[], dict[str, Any]] | None = None, *, timing: StreamTiming | None = None) -> APIRouter:
    """The API routes. `info()` adds to `GET /api/info` (at least `model`: "offline" makes the dashboard show that
    insights come from the rule-based local model); `timing` tunes the event stream (tests)."""
    stream_timing = timing or StreamTiming()
    install_access_log_redaction(token=token)
    router = APIRouter(prefix="/api", dependencies=[Depends(token_guard(token))], tags=["api"])
    # EventSource cannot send headers: this route also accepts ?token=, so it lives on a router of its own.
    events_router = APIRouter(prefix="/api", dependencies=[Depends(token_guard(token, allow_query=True))])

    async def meeting_or_404(stream_id: str) -> MeetingRecord:
        meeting = await get_store().get_meeting(stream_id)
        if meeting is None:
            raise HTTPException(404, detail=f"meeting {stream_id!r} not found")
        return meeting

    @router.get("/info", response_model=ApiInfo)
    async def api_info() -> ApiInfo:
        values: dict[str, Any] = {"model": "unknown", "version": __version__}
        if info is not None:
            values.update(info())
        return ApiInfo.model_validate(values)

    @router.get("/meetings", response_model=MeetingList)
    async def list_meetings(limit: Annotated[int, Query(ge=1, le=500)] = 100,
                            offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0) -> MeetingList:
        """Newest first."""
        store = get_store()
        records = await store.list_meetings(limit=limit, offset=offset)
        names = await store.meeting_names([m.instance_id for m in records])
        hosts = await store.host_names([m.stream_id for m in records])
        return MeetingList(meetings=[MeetingOut.of(m, names.get(m.instance_id), hosts.get(m.stream_id))
                                     for m in records])

    @router.get("/meetings/{stream_id}", response_model=MeetingDetailOut)
    async def get_meeting(stream_id: MeetingId) -> MeetingDetailOut:
        """The meeting with its participants and latency/LLM figures."""
        return await detail_of(get_store(), await meeting_or_404(stream_id))

    @router.get("/meetings/{stream_id}/transcript", response_model=TranscriptOut)
    async def transcript(stream_id: MeetingId, after_seq: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
                         limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> TranscriptOut:
        """Lines with seq > after_seq, in order; page with `after_seq` = the last seq received."""
        await meeting_or_404(stream_id)
        store = get_store()
        lines = await store.lines(stream_id, after_seq=after_seq, limit=limit)
        return TranscriptOut(meeting_id=stream_id, lines=[LineOut.of(line) for line in lines],
                             last_seq=await store.last_line_seq(stream_id))

    @router.get("/meetings/{stream_id}/insights", response_model=InsightsOut)
    async def insights(stream_id: MeetingId) -> InsightsOut:
        await meeting_or_404(stream_id)
        store = get_store()
        summary, items = split_insights(await store.insights(stream_id))
        tickets = [TicketOut.of(t) for t in await store.tickets(stream_id)]
        return InsightsOut(meeting_id=stream_id, summary=summary, insights=items, tickets=tickets)

    @events_router.get("/meetings/{stream_id}/events", response_class=StreamingResponse,
                       responses={200: {"content": {"text/event-stream": {}}}})
    async def events(stream_id: MeetingId) -> StreamingResponse:
        """`snapshot` first (the state to draw), then `line`, `insight`, `summary`, `ticket`, `meeting`, `window`
        as the bus reports them (`{type, stream_id, at_ms, data}`), `end` when the meeting is over."""
        await meeting_or_404(stream_id)
        body = meeting_events(get_store(), get_bus(), stream_id, stream_timing)
        return StreamingResponse(body, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    both = APIRouter()
    both.include_router(router)
    both.include_router(events_router)
    return both
